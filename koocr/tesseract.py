"""A small wrapper around the ``tesseract`` command line, for comparisons with KoOCR.

Tesseract 5 with Korean data (Debian: ``apt-get install tesseract-ocr tesseract-ocr-kor``)
reads one character with ``--psm 10`` and one text line with ``--psm 7``.

Example:
    >>> from koocr import tesseract
    >>> tesseract.read_line("line.png")          # doctest: +SKIP
    '오늘은 날씨가 좋다'
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
from PIL import Image

PSM_LINE = 7  # treat the image as a single text line
PSM_CHAR = 10  # treat the image as a single character
INSTALL_HINT = "install it with: apt-get install -y tesseract-ocr tesseract-ocr-kor"


class TesseractNotFound(RuntimeError):
    """The ``tesseract`` binary, or its language data, is missing."""


def binary() -> str:
    """Path of the ``tesseract`` executable, or raises :class:`TesseractNotFound`."""
    path = shutil.which("tesseract")
    if path is None:
        raise TesseractNotFound(f"The tesseract command is not on PATH; {INSTALL_HINT}")
    return path


def languages() -> list[str]:
    """Installed language codes (``tesseract --list-langs``)."""
    out = subprocess.run([binary(), "--list-langs"], capture_output=True, text=True, check=True)
    lines = (out.stdout + out.stderr).splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("List of")]


def version() -> str:
    """First line of ``tesseract --version``, e.g. ``tesseract 5.3.0``."""
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=True)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def available(lang: str = "kor") -> bool:
    """True if tesseract and the ``lang`` data are installed."""
    try:
        return lang in languages()
    except (TesseractNotFound, OSError, subprocess.CalledProcessError):
        return False


def recognise(image, psm: int = PSM_LINE, lang: str = "kor", timeout: float = 60.0) -> str:
    """Runs tesseract on one image and returns its text, stripped.

    Args:
        image: a file path, PIL image or uint8 array.
        psm: page segmentation mode: 7 = one line, 10 = one character.
        lang: language data, e.g. ``kor`` or ``kor+eng``.
        timeout: seconds before the run is abandoned.

    Raises:
        TesseractNotFound: tesseract or the language data is missing.
        RuntimeError: tesseract failed on the image (its message is included).
    """
    exe = binary()
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one thread: fair timing, no oversubscription
    with tempfile.TemporaryDirectory(prefix="koocr_tess_") as tmp:
        if isinstance(image, (str, os.PathLike)):
            path = os.fspath(image)
        else:
            path = os.path.join(tmp, "image.png")
            pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
            pil.save(path)
        cmd = [exe, path, "stdout", "--psm", str(int(psm)), "-l", lang]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if run.returncode != 0:
        if "Failed loading language" in run.stderr or "Error opening data file" in run.stderr:
            raise TesseractNotFound(f"Tesseract has no {lang!r} language data; {INSTALL_HINT}")
        raise RuntimeError(f"tesseract failed on {path!r}: {run.stderr.strip()}")
    return run.stdout.strip()


def read_line(image, lang: str = "kor") -> str:
    """Text of an image holding one line (``--psm 7``)."""
    return recognise(image, PSM_LINE, lang)


def read_char(image, lang: str = "kor") -> str:
    """Text of an image holding one character (``--psm 10``)."""
    return recognise(image, PSM_CHAR, lang)
