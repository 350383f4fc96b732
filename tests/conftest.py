"""Shared fixtures: tiny rendered glyphs from a shipped (or system) Korean font."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _font_path() -> str:
    try:
        from koocr.fonts import load_manifest

        return load_manifest(style="printed", split="train")[0].path
    except (FileNotFoundError, ValueError, IndexError):
        system = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
        if os.path.isfile(system):
            return system
    pytest.skip("no Korean font available")


@pytest.fixture(scope="session")
def font_path() -> str:
    return _font_path()


@pytest.fixture(scope="session")
def render(font_path):
    """render(char, size=40, fg=0, bg=255, canvas=64, offset=(8, 6)) -> uint8 (canvas, canvas)."""
    font_cache = {}

    def _render(char, size=40, fg=0, bg=255, canvas=64, offset=(8, 6)):
        if size not in font_cache:
            font_cache[size] = ImageFont.truetype(font_path, size)
        im = Image.new("L", (canvas, canvas), bg)
        ImageDraw.Draw(im).text(offset, char, fill=fg, font=font_cache[size])
        return np.asarray(im)

    return _render
