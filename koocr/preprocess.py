"""The one normalisation used by dataset building, training data ingest and ``predict``.

Anything in (path, PIL image, array of any size / dtype / colour mode / polarity),
a ``uint8 (S, S)`` glyph out: white background, dark ink, cropped to the ink,
aspect ratio kept, centred on a square with a margin.

Example:
    >>> import numpy as np
    >>> img = np.full((40, 30), 90, np.uint8); img[10:30, 12:16] = 20  # grey scan
    >>> normalize(img, image_size=48).shape
    (48, 48)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

_EXIF_ORIENTATION = 0x0112  # the EXIF tag of how a photo is turned

# The seed's fixed placement table: image_size -> (x_offset, y_offset, char_size).
SEED_PLACEMENT = {64: (5, 5, 50), 96: (8, 8, 80), 128: (14, 10, 100), 256: (50, 10, 200)}


@dataclass(frozen=True)
class Placement:
    """Fixed placement of the seed: the glyph is fit into a ``char_size`` box at an offset."""

    x_offset: int
    y_offset: int
    char_size: int

    @classmethod
    def seed_default(cls, image_size: int) -> Placement:
        if image_size not in SEED_PLACEMENT:
            raise ValueError(
                f"No seed placement for image_size={image_size}; "
                f"known sizes: {sorted(SEED_PLACEMENT)}. Pass x_offset/y_offset/char_size."
            )
        return cls(*SEED_PLACEMENT[image_size])


# The brightest value up to which a float image is still taken as 0..1 (see to_gray).
FLOAT_OVERSHOOT = 1.5


def to_gray(image) -> np.ndarray:
    """Reads a path / PIL image / array into a float32 (H, W) grey image in 0..255.

    A photo's EXIF orientation is applied (phones store it turned and say so).

    RGBA and grey + alpha are composited over white so transparent backgrounds become
    light. Input with max <= 1 is taken as 0..1, and so is a float image with max <=
    :data:`FLOAT_OVERSHOOT` (a 0..1 image after bicubic resizing overshoots 1; a 0..255
    image that dark would hold no visible ink), clipped to 0..1; input above 255 (16-bit scans, 12-bit
    data in 16-bit containers) is scaled so its brightest value is 255.

    Raises:
        ValueError: unreadable file, wrong rank, empty, too small or non-finite input.
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                im.load()
                image = im.copy()
        except Image.DecompressionBombError as err:
            raise ValueError(f"Image file {os.fspath(image)!r} is too large to read: {err}") from err
        except (OSError, ValueError) as err:
            raise ValueError(f"Cannot read image file {os.fspath(image)!r}: {err}") from err
    if isinstance(image, Image.Image):
        try:  # a lazily opened image reads its file only now
            image.load()
        except Image.DecompressionBombError as err:
            raise ValueError(f"This PIL image is too large to read: {err}") from err
        except (OSError, ValueError, AssertionError) as err:  # PIL asserts on a closed file
            raise ValueError(
                f"Cannot read this PIL image ({type(err).__name__}: {err}); a truncated file, or one "
                "closed before use (call .load() inside its 'with Image.open(...)' block)"
            ) from err
    if isinstance(image, Image.Image) and image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)  # a phone photo stored turned, upright
    if isinstance(image, Image.Image) and (image.mode in ("I", "F") or image.mode.startswith("I;16")):
        image = np.asarray(image)  # 16/32-bit grey: convert("L") would clip it at 255
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        arr = np.asarray(image.convert("L"), dtype=np.float32)
    else:
        try:
            arr = np.asarray(image)
        except Exception as err:  # noqa: BLE001 - anything not array-like
            raise ValueError(f"Expected an image path, PIL image or array. Received: {type(image)}") from err
        if arr.dtype == object or arr.dtype.kind not in "uifb":
            raise ValueError(f"Expected a numeric image array. Received dtype={arr.dtype}")
        is_float = arr.dtype.kind == "f"
        arr = arr.astype(np.float32)
        if arr.ndim == 3:
            channels = arr.shape[-1]
            if channels not in (1, 2, 3, 4):
                raise ValueError(
                    f"Expected (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4). Received shape {arr.shape}"
                )
            if channels in (2, 4):  # grey or RGB + alpha, over white
                scale = 1.0 if arr[..., -1].max() <= 1.0 else 255.0
                alpha = arr[..., -1:] / scale
                white = 1.0 if arr[..., :-1].max() <= 1.0 else 255.0
                arr = arr[..., :-1] * alpha + white * (1 - alpha)
            arr = arr[..., 0] if channels <= 2 else arr @ np.array([0.299, 0.587, 0.114], np.float32)
        elif arr.ndim != 2:
            raise ValueError(f"Expected one image of rank 2 or 3. Received shape {arr.shape}")
        top = float(arr.max()) if arr.size and np.isfinite(arr).all() else None
        if top is not None and top <= 1.0:
            arr = arr * 255.0
        elif top is not None and is_float and top <= FLOAT_OVERSHOOT:  # 0..1 resized: a little over 1
            arr = np.clip(arr, 0.0, 1.0) * 255.0
        elif top is not None and top > 255.0:
            # 16-bit (or 12-bit in 16) scans: scale by the brightest value, never clip
            arr = arr * (255.0 / top)
    if arr.size == 0:
        raise ValueError(f"Received an empty image of shape {arr.shape}")
    if min(arr.shape) < 2:
        raise ValueError(f"Image too small to hold a character: shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("Image contains NaN or infinite values")
    return arr


def otsu_threshold(gray: np.ndarray) -> float:
    """Otsu's threshold of a 0..255 image (the ink level is chosen per image)."""
    hist = np.bincount(np.clip(gray, 0, 255).astype(np.uint8).ravel(), minlength=256)
    return float(otsu_from_hist(hist))


def otsu_from_hist(hist: np.ndarray) -> np.ndarray:
    """Otsu's threshold of 256-bin histograms ``(..., 256)``, one per leading index."""
    hist = hist.astype(np.float64)
    total = hist.sum(-1, keepdims=True)
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist, -1)
    m0 = np.cumsum(hist * levels, -1)
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[..., -1:] * w0 / total - m0) ** 2 / (w0 * w1)
    between = np.nan_to_num(between)
    return np.argmax(between, -1) + 0.5


def _cell_plane(gray: np.ndarray, q: float, dark_only: bool) -> np.ndarray | None:
    """A plane through the ``q``-th percentile of square cells of ``gray``, fitted robustly.

    Cells are about 1/8 of the shorter side. The plane is fitted three times, each time
    dropping cells far from the last fit (``dark_only``: only those far darker, i.e.
    filled with ink). None if the image holds fewer than 9 cells.
    """
    h, w = gray.shape
    cell = max(4, min(h, w) // 8)
    ny, nx = h // cell, w // cell
    if ny * nx < 9:
        return None
    blocks = gray[: ny * cell, : nx * cell].reshape(ny, cell, nx, cell).transpose(0, 2, 1, 3)
    cells = blocks.reshape(ny * nx, -1)
    k = round(q / 100.0 * (cells.shape[1] - 1))  # the q-th percentile, nearest rank
    levels = np.partition(cells, k, axis=1)[:, k]
    yc = np.repeat((np.arange(ny) + 0.5) * cell / h - 0.5, nx)
    xc = np.tile((np.arange(nx) + 0.5) * cell / w - 0.5, ny)
    basis = np.stack([np.ones_like(xc), xc, yc], axis=1)
    keep = np.ones(levels.shape, bool)
    for _ in range(3):
        if keep.sum() < 4:
            return None
        b = basis[keep]
        coef = np.linalg.solve(b.T @ b + 1e-6 * np.eye(3), b.T @ levels[keep])
        resid = levels - basis @ coef
        spread = 1.4826 * float(np.median(np.abs(resid[keep]))) + 1.0
        keep = resid > -2.5 * spread if dark_only else np.abs(resid) < 2.5 * spread
    yy, xx = np.arange(h)[:, None] / h - 0.5, np.arange(w)[None, :] / w - 0.5  # broadcast, no grid
    return coef[0] + coef[1] * xx + coef[2] * yy


def _fit_background(gray: np.ndarray) -> np.ndarray | None:
    """Paper brightness under ``gray`` (light background, dark ink): a plane.

    Fitted to each cell's 95th percentile, its paper level unless ink fills the cell (those
    cells are dropped). Unlike a fit to the pixels above one global threshold, this follows
    a strong gradient, whose dark side Otsu's threshold would call ink.
    """
    return _cell_plane(gray, 95.0, dark_only=True)


def border_pixels(image: np.ndarray) -> np.ndarray:
    """The pixels of the first and last row and column of a 2-D array, in one flat array."""
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def light_background(gray: np.ndarray, thr: float, by_border: bool = True) -> bool:
    """Polarity of a 0..255 image of text with Otsu threshold ``thr``: is its paper light?

    The background is the class that owns most of the border (``by_border``; the majority
    of pixels when the border is split about evenly), or simply the majority of pixels.
    If the background is uneven, a strong illumination gradient can own the border or the
    majority, so the decision is taken on the image with its trend (a plane through the
    medians of its cells, right in either polarity) taken out.
    """
    return _polarity(gray, thr, by_border)[0]


def _light_rule(img: np.ndarray, t: float, by_border: bool) -> bool:
    if not by_border:
        return bool(np.mean(img > t) >= 0.5)
    light_border = np.mean(border_pixels(img) > t)
    return bool(light_border > 0.5 if abs(light_border - 0.5) > 0.1 else np.mean(img > t) > 0.5)


def _polarity(gray: np.ndarray, thr: float, by_border: bool) -> tuple[bool, bool]:
    """(:func:`light_background`, flat): ``flat`` when the background of ``gray`` turned
    paper-light by the first answer (``thr`` too) is even, so :func:`clean_background`
    would return that image untouched."""
    light = _light_rule(gray, thr, by_border)
    if _uneven(gray if light else 255.0 - gray, thr if light else 255.0 - thr) is None:
        return light, True
    trend = _cell_plane(gray, 50.0, dark_only=False)
    if trend is not None:
        flat = np.clip(gray - trend + float(np.mean(trend)), 0, 255)
        light = _light_rule(flat, otsu_threshold(flat), by_border)
    return light, False


def _uneven(gray: np.ndarray, thr: float) -> tuple[np.ndarray, float] | None:
    """``(clear, contrast)`` if the background of ``gray`` (light paper) is uneven, else None.

    Only pixels whose 5x5 neighbourhood is all above the threshold count as background
    (``clear``), so anti-aliased or blurred stroke edges never count; it is uneven if
    their 2-98 % spread reaches 0.15 of the ink contrast (what :func:`_needs_cleaning`
    tests on a whole stack).
    """
    clear = _erode5((gray > thr)[None])[0]  # == minimum_filter(gray, 5x5, "nearest") > thr
    if clear.sum() < 12:
        return None
    bg_vals = gray[clear]
    ink = gray[gray <= thr]
    bg_median, lo, hi = quantiles(bg_vals, (0.5, 0.02, 0.98))
    contrast = max(bg_median - (quantiles(ink, (0.5,))[0] if ink.size else 0.0), 1.0)
    return (clear, contrast) if hi - lo >= 0.15 * contrast else None


def clean_background(gray: np.ndarray, thr: float) -> tuple[np.ndarray, bool]:
    """Flattens uneven illumination and removes noise; returns (image, was_noisy).

    A background that is already flat and clean (every rendered glyph) is returned
    untouched, cheaply (see :func:`_uneven`).
    """
    noisy = False
    for _ in range(2):  # a strong gradient can hide part of the background at first
        uneven = _uneven(gray, thr)
        if uneven is None:
            break
        clear, contrast = uneven
        bg = _fit_background(gray)
        if bg is None:
            break
        if np.ptp(bg) >= 0.15 * contrast:
            gray = np.clip(gray / np.maximum(bg, 1.0) * float(np.median(bg)), 0, 255)
            thr = otsu_threshold(gray)
            continue
        if float(np.std(gray[clear] - bg[clear])) > 3.0:
            gray = median3(gray)
            noisy = True
        break
    return gray, noisy


# A glyph written or printed in a box (a grid cell of manuscript paper, a form field): each
# side of the box is a line running most of that side, within the outer part of the image.
_FRAME_BAND = 0.25
_FRAME_RUN = 0.85


def _frame_lines(masks: np.ndarray, box: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Per ink mask of a ``(N, H, W)`` stack with ink boxes ``box`` = (r0, r1, c0, c1) arrays.

    Returns (closed frame?, long rows (N, H), long columns (N, W), band height, band width):
    lines running at least ``_FRAME_RUN`` of the ink box, and the outer ``_FRAME_BAND`` of it.
    """
    _, h, w = masks.shape
    r0, r1, c0, c1 = (np.asarray(v, np.int64) for v in box)
    rows = masks.sum(axis=2) >= _FRAME_RUN * (c1 - c0)[:, None]
    cols = masks.sum(axis=1) >= _FRAME_RUN * (r1 - r0)[:, None]
    bh = np.maximum(1, (_FRAME_BAND * (r1 - r0)).astype(np.int64))[:, None]
    bw = np.maximum(1, (_FRAME_BAND * (c1 - c0)).astype(np.int64))[:, None]
    y, x = np.arange(h)[None], np.arange(w)[None]
    framed = (
        (rows & (y >= r0[:, None]) & (y < r0[:, None] + bh)).any(1)
        & (rows & (y < r1[:, None]) & (y >= r1[:, None] - bh)).any(1)
        & (cols & (x >= c0[:, None]) & (x < c0[:, None] + bw)).any(1)
        & (cols & (x < c1[:, None]) & (x >= c1[:, None] - bw)).any(1)
    )
    return framed, rows, cols, bh[:, 0], bw[:, 0]


def _frame_interior(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(r0, r1, c0, c1)`` inside a box drawn around the glyph, or None.

    Only a closed box counts: a line along all four sides of the ink. A glyph has no
    such lines on all four sides, even cropped tight (the bar of '프' and the top of its
    'ㅍ' run its width, but nothing runs its height at both edges), and box lines are thin
    and stand apart from what the box holds.
    """
    box = _ink_bbox(mask, noisy=False)
    if box is None:
        return None
    framed, rows, cols, bh, bw = _frame_lines(mask[None], tuple(np.array([v]) for v in box))
    if not framed[0]:
        return None
    (y0, y1, x0, x1), bh, bw, rows, cols = box, int(bh[0]), int(bw[0]), rows[0], cols[0]
    top, bottom = np.flatnonzero(rows[y0 : y0 + bh]) + y0, np.flatnonzero(rows[y1 - bh : y1]) + y1 - bh
    left, right = np.flatnonzero(cols[x0 : x0 + bw]) + x0, np.flatnonzero(cols[x1 - bw : x1]) + x1 - bw
    r0, r1, c0, c1 = int(top.max()) + 1, int(bottom.min()), int(left.max()) + 1, int(right.min())
    if r1 - r0 <= 4 or c1 - c0 <= 4:
        return None
    # The frame's soft inner edge: rows / columns still at least half ink.
    while r1 - r0 > 4 and mask[r0, c0:c1].mean() >= 0.5:
        r0 += 1
    while r1 - r0 > 4 and mask[r1 - 1, c0:c1].mean() >= 0.5:
        r1 -= 1
    while c1 - c0 > 4 and mask[r0:r1, c0].mean() >= 0.5:
        c0 += 1
    while c1 - c0 > 4 and mask[r0:r1, c1 - 1].mean() >= 0.5:
        c1 -= 1
    if r1 - r0 <= 4 or c1 - c0 <= 4:
        return None
    # Box lines are thin; the outline strokes of a heavy glyph cropped tight are not.
    thick = max(r0 - top.min(), bottom.max() + 1 - r1, c0 - left.min(), right.max() + 1 - c1)
    if thick > max(3, 0.08 * min(y1 - y0, x1 - x0)):
        return None
    # A box stands apart from what it holds: just inside each side lies a line of paper
    # (a stroke may touch it here and there). A squarish glyph cropped tight has its
    # strokes running on inside its outline (BaekmukHline, BMJua).
    inside = mask[r0:r1, c0:c1]
    k = max(2, round(0.1 * min(inside.shape)))
    sides = (inside[:k].mean(1), inside[-k:].mean(1), inside[:, :k].mean(0), inside[:, -k:].mean(0))
    if not all(side.min() <= 0.2 for side in sides):
        return None
    # The four lines are one stroke. The 'ㅁ' of a syllable and the bar below it, as in
    # AleeBangwool's '므', can pass every test above as two.
    labels = ndimage.label(mask, structure=np.ones((3, 3), bool))[0]
    edges = (labels[top.min(), x0:x1], labels[bottom.max(), x0:x1], labels[y0:y1, left.min()], labels[y0:y1, right.max()])
    first = np.bincount(edges[0][edges[0] > 0]).argmax()
    return (r0, r1, c0, c1) if all((edge == first).any() for edge in edges[1:]) else None


def _ink_boxes(masks: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Per ink mask of a ``(N, H, W)`` stack: its box ``(r0, r1, c0, c1)`` and whether it has ink."""
    rows, cols = masks.any(2), masks.any(1)
    h, w = masks.shape[1:]
    box = (rows.argmax(1), h - rows[:, ::-1].argmax(1), cols.argmax(1), w - cols[:, ::-1].argmax(1))
    return box, rows.any(1)


def _framed(masks: np.ndarray) -> np.ndarray:
    """Per ink mask of a ``(N, H, W)`` stack: could it be a box drawn around a glyph?"""
    box, inked = _ink_boxes(masks)
    return _frame_lines(masks, box)[0] & inked


def _ink_bbox(mask: np.ndarray, noisy: bool) -> tuple[int, int, int, int] | None:
    # On noisy images a median filter drops isolated specks before taking the box; if
    # it erases everything (hair-thin strokes), fall back to the raw mask.
    masks = [mask]
    if noisy and min(mask.shape) >= 8:
        masks.insert(0, median3(mask.astype(np.uint8)))
    for m in masks:
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if rows.size:
            return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return None


def normalize(
    image,
    image_size: int = 48,
    margin: float = 0.1,
    placement: Placement | None = None,
) -> np.ndarray:
    """Normalises one character image for the model.

    Args:
        image: path, PIL image or array (H, W) / (H, W, C), uint8 or float, either polarity.
        image_size: side of the square output.
        margin: blank border on each side, as a fraction of the glyph's longer side.
        placement: the seed's fixed placement instead of centring with ``margin``.

    Returns:
        uint8 array (image_size, image_size), background 255, ink dark.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2:
        return _normalize_stack(image[None], image_size, margin, placement)[0]  # same, faster
    return _normalize_one(image, image_size, margin, placement)


def _normalize_one(image, image_size: int, margin: float, placement: Placement | None) -> np.ndarray:
    """:func:`normalize`, step by step: the reference :func:`_normalize_stack` matches."""
    gray = to_gray(image)
    thr = otsu_threshold(gray)
    light_bg = light_background(gray, thr)
    if not light_bg and _frame_interior(gray < thr) is not None:
        light_bg = True  # a dark box drawn along the image's edge owns the border, not the paper
    if not light_bg:
        gray = 255.0 - gray
        thr = 255.0 - thr  # Otsu's threshold of the inverted image
    if gray.max() - gray.min() < 1.0:  # blank input: nothing to crop
        return np.full((image_size, image_size), 255, np.uint8)
    gray, noisy = clean_background(gray, thr)
    thr = otsu_threshold(gray)
    mask = gray < thr
    inner = _frame_interior(mask)
    if inner is not None:  # read what the box holds
        r0, r1, c0, c1 = inner
        if not mask[r0:r1, c0:c1].any():  # an empty box (its faint rim alone would be stretched)
            return np.full((image_size, image_size), 255, np.uint8)
        return _normalize_one(gray[r0:r1, c0:c1], image_size, margin, placement)
    box = _ink_bbox(mask, noisy)
    if box is None:
        return np.full((image_size, image_size), 255, np.uint8)
    # Contrast stretch: background median -> 255, dark ink level -> 0.
    bg_level = quantiles(gray[~mask], (0.5,))[0] if (~mask).any() else 255.0
    ink_level = quantiles(gray[mask], (0.1,))[0]
    span = max(bg_level - ink_level, 1.0)
    r0, r1, c0, c1 = box
    crop = np.clip((gray[r0:r1, c0:c1] - ink_level) / span, 0.0, 1.0) * 255.0
    return place_glyph(crop, image_size, margin, placement)


def place_glyph(crop: np.ndarray, size: int, margin: float, placement: Placement | None) -> np.ndarray:
    """``crop`` (0..255) resized into a uint8 (size, size) glyph on white, placed like training."""
    out = np.full((size, size), 255.0, np.float32)
    _place_into(out, crop, margin, placement)
    return to_uint8(out)


def to_uint8(levels: np.ndarray) -> np.ndarray:
    """float 0..255 levels rounded and clipped to uint8 (in place: ``levels`` is spent)."""
    np.rint(levels, out=levels)  # without np.clip's overhead: read() places every crop
    return np.minimum(np.maximum(levels, 0.0, out=levels), 255.0, out=levels).astype(np.uint8)


def _place_into(out: np.ndarray, crop: np.ndarray, margin: float, placement: Placement | None) -> None:
    """Writes ``crop`` resized into the float (size, size) canvas ``out`` (see :func:`place_glyph`)."""
    size = out.shape[0]
    h, w = crop.shape
    if placement is None:
        side = max(h, w) * (1.0 + 2.0 * margin)
        scale = size / side
        box_w, box_h = max(1, round(w * scale)), max(1, round(h * scale))
        x0, y0 = (size - box_w) // 2, (size - box_h) // 2
    else:
        scale = placement.char_size / max(h, w)
        box_w, box_h = max(1, round(w * scale)), max(1, round(h * scale))
        x0 = placement.x_offset + (placement.char_size - box_w) // 2
        y0 = placement.y_offset + (placement.char_size - box_h) // 2
        if x0 + box_w > size or y0 + box_h > size:
            raise ValueError(f"{placement} does not fit in image_size={size}")
    box = scale < 1  # PIL's BOX filter when shrinking, BILINEAR when enlarging (training's choice)
    out[y0 : y0 + box_h, x0 : x0 + box_w] = resample_matrix(h, box_h, box) @ crop.astype(np.float32, copy=False) @ resample_matrix(w, box_w, box).T


@functools.lru_cache(maxsize=4096)
def resample_matrix(in_size: int, out_size: int, box: bool) -> np.ndarray:
    """(out_size, in_size) float32 weights of PIL's separable resize along one axis.

    The coefficients of Pillow's ``precompute_coeffs`` for the BOX (``box=True``) or
    BILINEAR filter, so ``R_h @ image @ R_w.T`` equals ``Image.resize`` of a mode "F"
    image to within float rounding, at a small fraction of its per-call cost.
    """
    support_1, kernel = (0.5, _box_kernel) if box else (1.0, _bilinear_kernel)
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support_1 * filterscale
    out = np.zeros((out_size, in_size), np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        w = kernel((np.arange(xmin, xmax) - center + 0.5) / filterscale)
        total = w.sum()
        out[xx, xmin:xmax] = w / total if total != 0.0 else w
    out = out.astype(np.float32)
    out.setflags(write=False)  # shared by every caller through the cache
    return out


def _box_kernel(x: np.ndarray) -> np.ndarray:
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)


def _bilinear_kernel(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


def normalize_batch(images, image_size: int = 48, margin: float = 0.1, placement=None) -> np.ndarray:
    """:func:`normalize` over a sequence; returns uint8 (N, S, S).

    A stack of same-size uint8 grey images (the usual batch) takes a vectorised path,
    ~5x faster than one :func:`normalize` call per image and equal to it (see
    :func:`_normalize_stack`); anything else is normalised one image at a time.
    """
    if isinstance(images, (list, tuple)) and images and all(
        isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 2 and a.shape == images[0].shape
        for a in images
    ):
        images = np.stack(images)
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 3 and images.shape[0]:
        return _normalize_stack(images, image_size, margin, placement)
    out = np.empty((len(images), image_size, image_size), np.uint8)
    for i, img in enumerate(images):
        out[i] = _normalize_one(img, image_size, margin, placement)
    return out


_STACK_CHUNK = 512  # images per vectorised step: bounds the float32 working copies


def _normalize_stack(stack: np.ndarray, size: int, margin: float, placement) -> np.ndarray:
    """:func:`normalize` of uint8 ``(N, H, W)`` grey images with per-image statistics vectorised.

    Images whose background needs flattening or denoising (:func:`clean_background`
    would change them), and 0/1 masks (scaled to 0..255 by :func:`to_gray`), go
    through :func:`_normalize_one`, the step-by-step reference; every statistic of the rest (Otsu threshold,
    polarity, medians, percentiles) is read from per-image histograms, which is exact
    for integer grey levels.
    """
    n, h, w = stack.shape
    if min(h, w) < 2:
        raise ValueError(f"Image too small to hold a character: shape {(h, w)}")
    out = np.empty((n, size, size), np.uint8)
    for start in range(0, n, _STACK_CHUNK):
        part = stack[start : start + _STACK_CHUNK]
        m = len(part)
        hist = _row_hists(part)
        thr = otsu_from_hist(hist)
        k = thr.astype(np.int64)  # ink is <= k, paper > k
        levels = np.arange(256)
        paper = levels[None, :] > k[:, None]
        border = np.concatenate([part[:, 0], part[:, -1], part[:, :, 0], part[:, :, -1]], axis=1)
        light_border = np.mean(border > thr[:, None], axis=1)
        light_all = (hist * paper).sum(1) / (h * w)
        light_bg = np.where(np.abs(light_border - 0.5) > 0.1, light_border > 0.5, light_all > 0.5)
        flip = ~light_bg
        boxed_dark = np.zeros(m, bool)
        if flip.any():  # a dark box along the edge owns the border: the reference decides
            boxed_dark[flip] = _framed(part[flip] <= k[flip][:, None, None])
        gray = part.copy()
        gray[flip] = 255 - gray[flip]
        hist[flip] = hist[flip, ::-1]
        thr[flip] = 255.0 - thr[flip]
        k = thr.astype(np.int64)
        paper = levels[None, :] > k[:, None]
        blank = (hist > 0).sum(1) <= 1
        ink_hist, paper_hist = hist * ~paper, hist * paper
        fallback = (hist[:, :2].sum(1) == h * w) & ~blank  # a 0/1 mask: to_gray scales it
        fallback |= _needs_cleaning(gray, ink_hist, thr) & ~blank
        bg_level = np.where(paper_hist.sum(1) > 0, _hist_quantile(paper_hist, 0.5), 255.0)
        ink_level = _hist_quantile(ink_hist, 0.1)
        span = np.maximum(bg_level - ink_level, 1.0)
        mask = gray <= k[:, None, None]
        (r0, r1, c0, c1), inked = _ink_boxes(mask)
        blank |= ~inked
        fallback |= (_frame_lines(mask, (r0, r1, c0, c1))[0] | boxed_dark) & ~blank  # in a box: its inside
        level = (gray - ink_level[:, None, None].astype(np.float32)) / span[:, None, None].astype(np.float32)
        level = np.clip(level, 0.0, 1.0) * np.float32(255.0)
        for i in range(m):
            if blank[i]:
                out[start + i] = 255
            elif fallback[i]:
                out[start + i] = _normalize_one(part[i], size, margin, placement)
            else:
                out[start + i] = place_glyph(level[i, r0[i] : r1[i], c0[i] : c1[i]], size, margin, placement)
    return out


def _needs_cleaning(gray: np.ndarray, ink_hist: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Per image of a uint8 stack: would :func:`clean_background` change it?

    False only where it surely would not: too few clear background pixels, or their
    2-98 % spread under 0.15 x the ink contrast (first bounded cheaply by their range).
    """
    clear = _erode5(gray > thr[:, None, None])  # == minimum_filter(gray, 5x5, "nearest") > thr
    count = clear.sum((1, 2))
    ink_med = np.where(ink_hist.sum(1) > 0, _hist_quantile(ink_hist, 0.5), 0.0)
    lowest = np.where(clear, gray, np.uint8(255)).min((1, 2)).astype(np.float64)
    highest = np.where(clear, gray, np.uint8(0)).max((1, 2)).astype(np.float64)
    # The median of the clear pixels is >= their minimum, so contrast >= lowest - ink_med.
    unsure = (count >= 12) & (highest - lowest >= 0.15 * np.maximum(lowest - ink_med, 1.0))
    if not unsure.any():
        return unsure
    sub = np.flatnonzero(unsure)
    # Clear pixels lie above the threshold (> 0), so level 0 can stand for "not clear".
    bg_hist = _row_hists(np.where(clear[sub], gray[sub], np.uint8(0)))
    bg_hist[:, 0] = 0
    contrast = np.maximum(_hist_quantile(bg_hist, 0.5) - ink_med[sub], 1.0)
    spread = _hist_quantile(bg_hist, 0.98) - _hist_quantile(bg_hist, 0.02)
    unsure[sub] = spread >= 0.15 * contrast
    return unsure


# Devillard's median-of-9 exchange network (19 compare-exchanges; pairs (a, b): a <- min).
_MEDIAN9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)


def median3(image: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(image, size=3)`` (mode "reflect"), ~5-10x faster.

    The 3x3 median as a sorting network over the nine shifted views: one elementwise
    min and max per exchange instead of a rank filter's per-pixel loop.
    """
    h, w = image.shape
    padded = np.pad(image, 1, mode="symmetric")  # numpy's "symmetric" is scipy's "reflect"
    v = [padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]
    for a, b in _MEDIAN9:
        v[a], v[b] = np.minimum(v[a], v[b]), np.maximum(v[a], v[b])
    return v[4]


def _erode5(mask: np.ndarray) -> np.ndarray:
    """5x5 erosion of each image of a bool (N, H, W) stack, edges replicated."""
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (2, 2)
        padded = np.pad(mask, pad, mode="edge")
        length = mask.shape[axis]
        window = [slice(None)] * 3
        window[axis] = slice(0, length)
        out = padded[tuple(window)].copy()
        for shift in range(1, 5):
            window[axis] = slice(shift, shift + length)
            out &= padded[tuple(window)]
        mask = out
    return mask


def _row_hists(stack: np.ndarray) -> np.ndarray:
    """(N, 256) histograms of a uint8 (N, H, W) stack (a bincount per image beats one big one)."""
    return np.stack([np.bincount(row, minlength=256) for row in stack.reshape(len(stack), -1)])


def quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """``np.percentile(values, 100 q)`` (linear) for each ``q`` of ``qs``, of a non-empty array.

    Whole numbers in 0..255 (a grey image as read) are counted in a 256-bin histogram
    instead of partitioned: ~3x faster on a line image, equal to numpy up to float rounding.
    """
    v = np.asarray(values).ravel()
    if v.size >= 256 and v.min() >= 0 and v.max() <= 255 and np.array_equal(v, np.rint(v)):
        hist = np.bincount(v.astype(np.uint8), minlength=256)[None]
        return [float(_hist_quantile(hist, q)[0]) for q in qs]
    return [float(x) for x in np.percentile(v, [100.0 * q for q in qs])]


def _hist_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(values, 100 q)`` (linear) of the values counted in each 256-bin row."""
    cum = np.cumsum(hist, 1)
    total = cum[:, -1]
    pos = q * np.maximum(total - 1, 0)
    lo = np.floor(pos)
    v0 = np.argmax(cum > lo[:, None], 1)
    v1 = np.argmax(cum > np.minimum(lo + 1, np.maximum(total - 1, 0))[:, None], 1)
    return v0 + (v1 - v0) * (pos - lo)
