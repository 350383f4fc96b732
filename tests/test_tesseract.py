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
def test_block_mode_reads_lines_that_the_comparison_counts_as_lines(font_path, tmp_path):
    """``--psm 6`` (compare_tesseract.py --psm 6) reads a block line by line; a blank line it
    puts between paragraphs is no text line for the line-break count."""
    from koocr import lines

    font = ImageFont.truetype(font_path, 40)
    image = Image.new("L", (360, 200), 255)
    for k, text in enumerate(["한국어 문장", "둘째 줄"]):
        ImageDraw.Draw(image).text((10, 60 + 90 * k), text, font=font, fill=0, anchor="ls")
    image.save(tmp_path / "0000.png")
    (tmp_path / "0000.txt").write_text("한국어 문장\n둘째 줄\n", encoding="utf-8")
    read = tesseract.recognise(str(tmp_path / "0000.png"), psm=6)
    assert [row.replace(" ", "") for row in read.splitlines() if row.strip()] == ["한국어문장", "둘째줄"]
    pairs = lines.load_line_set(str(tmp_path))
    metrics = lines.evaluate_line_set(lambda p: tesseract.recognise(p, psm=6), pairs)
    assert metrics["line_breaks"] == 1.0


@needs_tesseract
def test_unknown_language_names_the_fix():
    with pytest.raises(tesseract.TesseractNotFound, match="xyz"):
        tesseract.recognise(np.full((20, 20), 255, np.uint8), lang="xyz")
