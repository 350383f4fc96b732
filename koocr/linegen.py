"""Rendering text lines character by character, with each character's ink box.

Used by ``tools/make_line_set.py`` (the line test set) and :mod:`koocr.segments` (the
examples the segment classifier is fitted on). Every character is drawn on its own, so
handwriting-style distortion can bend each one separately, as a hand would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from koocr import augment
from koocr.fonts import _image_font


def render_line(
    text: str, font, size: int, tracking: float, rng, distortion: str | None, boxes: list | None = None
) -> np.ndarray:
    """Draws ``text`` character by character (so each can be distorted on its own).

    If ``boxes`` is a list, the ink box (x0, y0, x1, y1) of each non-space char is appended
    (an empty box for a char that left no ink).
    """
    pil_font = _image_font(font.path, size)
    ascent, descent = pil_font.getmetrics()
    height = int(1.6 * (ascent + descent))
    baseline = line_baseline(font, size)
    pad = size // 2
    advances = [pil_font.getlength(c) + tracking * size for c in text]
    width = int(sum(advances) + 2 * pad + size)
    line = np.full((height, width), 255, np.uint8)
    x = float(pad)
    for char, adv in zip(text, advances, strict=True):
        if char != " ":
            glyph = Image.new("L", (int(adv) + 2 * pad, height), 255)
            ImageDraw.Draw(glyph).text((pad, baseline), char, font=pil_font, fill=0, anchor="ls")
            arr = np.asarray(glyph)
            if distortion:
                bent = augment.augment(arr, rng, distortion)
                arr = bent if (bent < 128).any() else arr  # a hairline faded away: keep it plain
            x0 = int(round(x)) - pad
            region = line[:, x0 : x0 + arr.shape[1]]
            if boxes is not None:
                ink = np.argwhere(arr[:, : region.shape[1]] < 128)
                if ink.size:
                    (r0, c0), (r1, c1) = ink.min(0), ink.max(0) + 1
                    boxes.append((x0 + int(c0), int(r0), x0 + int(c1), int(r1)))
                else:  # nothing drawn (a mark too faint): an empty box keeps the indices aligned
                    boxes.append((x0, 0, x0, 0))
            np.minimum(region, arr[:, : region.shape[1]], out=region)
        x += adv
    return line


def line_baseline(font, size: int) -> int:
    """The row of :func:`render_line`'s canvas that its baseline runs along."""
    ascent, descent = _image_font(font.path, size).getmetrics()
    return int(0.3 * (ascent + descent) + ascent)


def stack(rows: list[np.ndarray], pitch, baselines: Sequence[int] | None = None) -> np.ndarray:
    """Lines rendered by :func:`render_line` set one under another, ``pitch`` pixels apart
    (baseline to baseline); where their canvases overlap the darker pixel wins.

    ``pitch`` is one distance for every pair of rows, or one per pair (``len(rows) - 1``),
    for rows of different sizes; then ``baselines`` gives each row's baseline in its canvas
    (:func:`line_baseline`; None: rows of one size, whose canvases share it).
    """
    scalar = np.isscalar(pitch)
    pitches = [float(pitch)] * (len(rows) - 1) if scalar else [float(p) for p in pitch]
    if not rows or len(pitches) != len(rows) - 1 or not all(p > 0 for p in pitches) or (scalar and not pitch > 0):
        raise ValueError(
            f"stack needs lines and a positive pitch for each pair. Received: {len(rows)} lines, pitch={pitch}"
        )
    base = [0] * len(rows) if baselines is None else [int(b) for b in baselines]
    if len(base) != len(rows):
        raise ValueError(f"stack needs one baseline per line. Received: {len(base)} for {len(rows)} lines")
    # baseline of each row, from the first's
    lines_at = np.arange(len(rows)) * float(pitch) if scalar else np.concatenate([[0.0], np.cumsum(pitches)])
    tops = [int(round(y)) - b for y, b in zip(lines_at, base, strict=True)]
    tops = [t - min(tops) for t in tops]
    height = max(t + r.shape[0] for t, r in zip(tops, rows, strict=True))
    block = np.full((height, max(r.shape[1] for r in rows)), 255, np.uint8)
    for y, row in zip(tops, rows, strict=True):
        region = block[y : y + row.shape[0], : row.shape[1]]
        np.minimum(region, row, out=region)
    return block


def finish(line: np.ndarray, rng, invert: bool) -> np.ndarray:
    """Slight rotation, a margin crop, noise and optionally inverted polarity."""
    image = Image.fromarray(line).rotate(
        float(rng.uniform(-1.5, 1.5)), resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255
    )
    arr = np.asarray(image).astype(np.float32)
    ink = np.argwhere(arr < 128)
    if ink.size:
        (r0, c0), (r1, c1) = ink.min(0), ink.max(0) + 1
        m = int(rng.integers(4, 16))
        arr = arr[max(r0 - m, 0) : r1 + m, max(c0 - m, 0) : c1 + m]
    arr = arr + rng.normal(0.0, rng.uniform(2.0, 8.0), arr.shape)
    arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return 255 - arr if invert else arr


# A phone photo of a printed or written page: grey paper lit from one side (the shadowed
# side can fall below the ink of the lit one), soft focus, sensor noise, JPEG.
PHOTO = augment.AugmentConfig(
    p_background=1.0, background_level=(150.0, 235.0), ink_level=(0.0, 80.0),
    p_gradient=1.0, gradient=(0.2, 0.6),
    p_contrast=0.3, contrast=(0.6, 0.9),
    p_blur=0.7, blur_sigma=(0.4, 1.0),
    p_noise=0.8, noise_std=(3.0, 10.0),
    p_jpeg=0.8, jpeg_quality=(30.0, 70.0),
)  # fmt: skip


def ruled(line: np.ndarray, rng) -> np.ndarray:
    """``line`` written on ruled paper: a full-width rule just under (or touching) its ink."""
    ink = np.flatnonzero((line < 128).any(axis=1))
    if ink.size == 0:
        return line
    out = line.copy()
    y = int(ink[-1]) + int(rng.integers(-1, 6))
    thick = int(rng.integers(1, 3))
    level = int(rng.integers(0, 90))
    rows = slice(max(y, 0), min(y + thick, out.shape[0]))
    out[rows] = np.minimum(out[rows], level)
    return out


def photographed(line: np.ndarray, rng) -> np.ndarray:
    """A finished line (see :func:`finish`) as a phone photo: :data:`PHOTO`."""
    return augment.augment(line, rng, PHOTO)
