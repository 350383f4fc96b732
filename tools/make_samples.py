"""Writes the sample images of ``samples/`` (what ``python predict.py samples/*.png`` reads).

    python tools/make_samples.py                       # the repository's samples/
    python tools/make_samples.py --output /tmp/samples  # anywhere else

Glyphs come only from fonts held out of training (manifest split ``test``): clean
renders at several sizes, white-on-black, a grey scan with JPEG artefacts, a phone-photo
look (uneven light, blur, noise, slight rotation, colour), and handwriting-style glyphs.
``samples/labels.tsv`` lists the true syllable of each file. ``samples/lines/`` holds a
few text lines for ``python predict.py --line`` (a clean print, a phone-photo look and a
handwriting-style line, each char distorted on its own), each with its text in ``.txt``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from koocr import linegen  # noqa: E402
from koocr.fonts import load_manifest, render_glyph  # noqa: E402

# Sentences written for these samples (not from the line test set).
LINES = (
    ("01_printed", "오늘은 날씨가 맑고 바람이 시원합니다."),
    ("02_photo", "우리 집 앞에 작은 공원이 있다"),
    ("03_handwriting", "내일 친구와 영화를 보기로 했다"),
)


def scan_like(glyph: np.ndarray, rng) -> Image.Image:
    g = glyph.astype(np.float32) / 255.0
    img = 170 + 60 * g + rng.normal(0, 6, g.shape)  # grey paper, dark-grey toner
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=20)
    return Image.open(io.BytesIO(buf.getvalue()))


def photo_like(glyph: np.ndarray, rng) -> Image.Image:
    h, w = glyph.shape
    big = Image.fromarray(glyph).resize((w * 2, h * 2), Image.BICUBIC).rotate(-4, fillcolor=255)
    g = np.asarray(big, np.float32) / 255.0
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    light = 0.65 + 0.35 * (xx / g.shape[1]) * (1 - 0.3 * yy / g.shape[0])  # lamp on the right
    paper = np.stack([235 * light, 228 * light, 210 * light], -1)
    ink = np.array([40.0, 45.0, 70.0])  # blue-black pen
    rgb = paper * g[..., None] + ink * (1 - g[..., None]) + rng.normal(0, 5, paper.shape)
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=60)
    return Image.open(io.BytesIO(buf.getvalue()))


def in_box(glyph: np.ndarray) -> Image.Image:
    """A handwritten syllable in a cell of manuscript paper: a dark box drawn around it."""
    cell = np.pad(glyph, 6, constant_values=255)
    h, w = cell.shape
    for sl in (np.s_[2:4, 2 : w - 2], np.s_[h - 4 : h - 2, 2 : w - 2], np.s_[2 : h - 2, 2:4], np.s_[2 : h - 2, w - 4 : w - 2]):
        cell[sl] = 40
    return Image.fromarray(cell)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.path.join(ROOT, "samples")  # beside this script, not under the cwd
    p.add_argument("--output", default=default, help=f"folder for the samples and lines/ (default: {default})")
    out = p.parse_args(argv).output
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    fonts = {f.name: f for f in load_manifest(split="test")}
    printed = [f for f in fonts.values() if f.style == "printed"]
    hand = [f for f in fonts.values() if f.style == "handwriting"]
    rows = []

    def save(name: str, im: Image.Image, char: str) -> None:
        path = os.path.join(out, name)
        im.save(path)
        rows.append((name, char))

    for i, (font, char, size) in enumerate(zip(printed, "한국어글", (24, 48, 64, 96), strict=False)):
        save(f"{i + 1:02d}_printed_{font.name}.png", Image.fromarray(render_glyph(font, char, size)), char)
    font = printed[0]
    save("05_inverted.png", Image.fromarray(255 - render_glyph(font, "자", 48)), "자")
    save("06_scan.jpg", scan_like(render_glyph(printed[1], "인", 40), rng), "인")
    save("07_photo.jpg", photo_like(render_glyph(printed[2], "식", 56), rng), "식")
    save("08_small_20px.png", Image.fromarray(render_glyph(printed[0], "똠", 64)).resize((30, 30), Image.BILINEAR), "똠")
    for j, (font, char) in enumerate(zip(hand, "사랑해", strict=False)):
        save(f"{9 + j:02d}_handwriting_{font.name}.png", Image.fromarray(render_glyph(font, char, 64)), char)
    photo_hand = photo_like(render_glyph(hand[0], "꿈", 56), rng)
    save("12_handwriting_photo.jpg", photo_hand, "꿈")
    save("13_grid_cell.png", in_box(render_glyph(hand[2], "글", 64)), "글")
    with open(os.path.join(out, "labels.tsv"), "w", encoding="utf-8") as fh:
        fh.write("".join(f"{n}\t{c}\n" for n, c in rows))
    print(f"wrote {len(rows)} samples to {out}/")
    write_lines(os.path.join(out, "lines"), printed, hand, np.random.default_rng(11))
    return 0


def write_lines(folder: str, printed, hand, rng) -> None:
    """The ``samples/lines/`` images (held-out fonts) with their ``.txt`` truth."""
    os.makedirs(folder, exist_ok=True)
    by_name = {f.name: f for f in printed + hand}
    specs = {"01_printed": ("UnBatang", None), "02_photo": ("UnDotum", None), "03_handwriting": ("GamjaFlower", "handwriting")}
    for stem, text in LINES:
        font_name, distortion = specs[stem]
        line = linegen.render_line(text, by_name[font_name], 36, 0.02, rng, distortion)
        if stem == "02_photo":
            image, path = photo_like(line, rng), os.path.join(folder, f"{stem}.jpg")
        else:
            image, path = Image.fromarray(linegen.finish(line, rng, invert=False)), os.path.join(folder, f"{stem}.png")
        image.save(path)
        with open(os.path.splitext(path)[0] + ".txt", "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(f"wrote {len(LINES)} line samples to {folder}/")


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
