"""Tests for koocr.fonts and the shipped fonts/ folder."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from koocr import fonts as kf

FONTS = kf.load_manifest()
BY_NAME = {f.name: f for f in FONTS}
N_PRINTED, N_HANDWRITING = 49, 14  # what tools/build_fonts.py verified


def test_manifest_counts_and_splits():
    styles = [f.style for f in FONTS]
    assert styles.count("printed") == N_PRINTED
    assert styles.count("handwriting") == N_HANDWRITING
    test = [f for f in FONTS if f.split == "test"]
    assert sum(f.style == "printed" for f in test) == 4
    assert sum(f.style == "handwriting" for f in test) == 3
    assert sum(f.coverage["all"] == 11172 for f in test if f.style == "printed") >= 3
    assert all(f.coverage["ks2350"] >= 2300 for f in test if f.style == "handwriting")
    assert all(f.coverage["ks2350"] >= 2000 for f in FONTS)
    assert len(kf.load_manifest(style="handwriting", split="train")) == N_HANDWRITING - 3
    assert len({f.name for f in FONTS}) == len(FONTS)


def test_files_and_licences_exist():
    entries = json.load(open(os.path.join(kf.default_font_dir(), kf.MANIFEST), encoding="utf-8"))
    for entry in entries:
        assert os.path.isfile(os.path.join(kf.default_font_dir(), entry["file"]))
        assert os.path.getsize(os.path.join(kf.default_font_dir(), entry["license_file"])) > 500


@pytest.mark.parametrize("font", FONTS, ids=lambda f: f.name)
def test_renders_ga_with_ink(font):
    img = kf.render_glyph(font, "가", size=48)
    assert img.dtype == np.uint8 and img.shape == (72, 72)
    assert img[0, 0] == 255 and (img < 128).sum() > 20


def test_coverage_matches_uncovered():
    for font in FONTS:
        assert font.coverage["all"] == 11172 - len(font.uncovered)
        assert font.covers("가")


def test_uncovered_char_raises():
    font = next(f for f in FONTS if f.uncovered)
    char = sorted(font.uncovered)[0]
    assert not font.covers(char)
    with pytest.raises(ValueError, match=font.name):
        kf.render_glyph(font, char)
    with pytest.raises(ValueError, match="does not cover"):
        kf.render_glyph(FONTS[0], "漢")  # not in the subset cmap


def test_covered_keeps_order():
    font = BY_NAME["NanumGothic"]
    assert font.covered(["한", "漢", "A", "ㄱ"]) == ["한", "A", "ㄱ"]


def test_missing_dir_raises(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="nope"):
        kf.load_manifest(missing)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        kf.load_manifest(str(tmp_path))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"style": "cursive"}, "style"),
        ({"split": "dev"}, "split"),
        ({"coverage": "lots"}, "coverage"),
        ({"file": "missing.woff2"}, "missing.woff2"),
    ],
)
def test_bad_manifest_raises(tmp_path, change, match):
    src = BY_NAME["NanumGothic"]
    shutil.copy(src.path, tmp_path / "NanumGothic.woff2")
    entry = {
        "name": src.name,
        "file": "NanumGothic.woff2",
        "family": src.family,
        "style": src.style,
        "source": src.source,
        "license": src.license,
        "coverage": src.coverage,
        "uncovered": "",
        "split": "train",
    }
    (tmp_path / "manifest.json").write_text(json.dumps([entry]), encoding="utf-8")
    assert kf.load_manifest(str(tmp_path))[0].name == "NanumGothic"
    (tmp_path / "manifest.json").write_text(json.dumps([{**entry, **change}]), encoding="utf-8")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        kf.load_manifest(str(tmp_path))


def test_bad_filter_raises():
    with pytest.raises(ValueError, match="style='bold'"):
        kf.load_manifest(style="bold")


def test_identical_groups():
    a, b = np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)
    assert kf.identical_groups([a, b, a.copy(), b, np.eye(4, dtype=np.uint8)]) == [[0, 2], [1, 3]]
    assert kf.identical_groups([a, b]) == []


def test_verify_finds_identical_glyphs():
    # UnPen draws 걘 exactly like 갠: both must count as uncovered, distinct ones stay covered.
    path = BY_NAME["UnPen"].path
    covered, uncovered = kf.verify_chars(path, ["가", "갠", "걘", "A", "漢"])
    assert covered == ["가", "A"]
    assert uncovered == ["갠", "걘", "漢"]


def test_korean_font_path_is_plain_truetype():
    path = kf.korean_font_path()
    with open(path, "rb") as fh:
        assert fh.read(4) in (b"\x00\x01\x00\x00", b"OTTO", b"true")
