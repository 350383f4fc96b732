"""KoOCR: Korean (Hangul) character OCR on TensorFlow/Keras 3.

``from koocr import KoOCR`` is the class of ``koocr/ocr.py`` (imported on first use, so that
``import koocr`` does not load TensorFlow).
"""

import os

__version__ = "0.1.0"


def shipped_dir(repo_name: str, package_name: str) -> str:
    """A folder of files shipped with the code: ``koocr/<package_name>/`` in an installed
    package (``pyproject.toml`` puts the repository's folder there), else the repository's
    ``<repo_name>/`` beside ``koocr/``."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, package_name)
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), repo_name)


def __getattr__(name: str):
    if name == "KoOCR":
        from koocr.ocr import KoOCR

        return KoOCR
    raise AttributeError(f"module 'koocr' has no attribute {name!r}")
