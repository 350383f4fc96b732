"""The Tesseract wrapper (skipped when tesseract with Korean data is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from koocr import tesseract

needs_tesseract = pytest.mark.skipif(
    not tesseract.available("kor"), reason=f"tesseract with 'kor' data not installed; {tesseract.INSTALL_HINT}"
)


def test_missing_binary_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(tesseract.shutil, "which", lambda name: None)
    assert not tesseract.available()
    with pytest.raises(tesseract.TesseractNotFound, match="apt-get install"):
        tesseract.read_line(np.full((20, 20), 255, np.uint8))


@needs_tesseract
def test_reads_a_printed_line_and_a_character(font_path, tmp_path):
    font = ImageFont.truetype(font_path, 40)
    image = Image.new("L", (360, 70), 255)
    ImageDraw.Draw(image).text((10, 52), "한국어 문장", font=font, fill=0, anchor="ls")
    assert tesseract.read_line(np.asarray(image)).replace(" ", "") == "한국어문장"
    char = Image.new("L", (80, 80), 255)
    ImageDraw.Draw(char).text((40, 40), "한", font=font, fill=0, anchor="mm")
    char.save(tmp_path / "han.png")
    assert tesseract.read_char(str(tmp_path / "han.png")) == "한"
    assert tesseract.version().startswith("tesseract")


@needs_tesseract
def test_unknown_language_names_the_fix():
    with pytest.raises(tesseract.TesseractNotFound, match="xyz"):
        tesseract.recognise(np.full((20, 20), 255, np.uint8), lang="xyz")
