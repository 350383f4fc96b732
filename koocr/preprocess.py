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

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

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


def to_gray(image) -> np.ndarray:
    """Reads a path / PIL image / array into a float32 (H, W) grey image in 0..255.

    RGBA is composited over white so transparent backgrounds become light.
    Float input with max <= 1 is taken as 0..1.

    Raises:
        ValueError: unreadable file, wrong rank, empty, too small or non-finite input.
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                im.load()
                image = im.copy()
        except (OSError, ValueError) as err:
            raise ValueError(f"Cannot read image file {os.fspath(image)!r}: {err}") from err
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
        arr = arr.astype(np.float32)
        if arr.ndim == 3:
            channels = arr.shape[-1]
            if channels == 1:
                arr = arr[..., 0]
            elif channels in (3, 4):
                if channels == 4:
                    scale = 1.0 if arr[..., 3].max() <= 1.0 else 255.0
                    alpha = arr[..., 3:4] / scale
                    white = 1.0 if arr[..., :3].max() <= 1.0 else 255.0
                    arr = arr[..., :3] * alpha + white * (1 - alpha)
                arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
            else:
                raise ValueError(
                    f"Expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). Received shape {arr.shape}"
                )
        elif arr.ndim != 2:
            raise ValueError(f"Expected one image of rank 2 or 3. Received shape {arr.shape}")
        if arr.size and np.isfinite(arr).all() and arr.max() <= 1.0:
            arr = arr * 255.0
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
    hist = hist.astype(np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * levels)
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 / total - m0) ** 2 / (w0 * w1)
    between = np.nan_to_num(between)
    return float(np.argmax(between)) + 0.5


def _fit_background(gray: np.ndarray, clear: np.ndarray) -> np.ndarray | None:
    """Quadratic surface fitted to the ``clear`` background pixels."""
    h, w = gray.shape
    step = max(1, int(np.sqrt(h * w / 4096)))  # ~4k samples are plenty for 6 unknowns
    keep = clear[::step, ::step]
    if keep.sum() < 12:
        return None
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    y, x = ys[keep] / h - 0.5, xs[keep] / w - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    # Normal equations of a 6-unknown least-squares fit: LAPACK's lstsq costs ~50x more here.
    gram = basis.T @ basis + 1e-6 * np.eye(6)
    coef = np.linalg.solve(gram, basis.T @ gray[::step, ::step][keep])
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / h - 0.5, xx / w - 0.5
    return coef[0] + coef[1] * xx + coef[2] * yy + coef[3] * xx * xx + coef[4] * xx * yy + coef[5] * yy * yy


def clean_background(gray: np.ndarray, thr: float) -> tuple[np.ndarray, bool]:
    """Flattens uneven illumination and removes noise; returns (image, was_noisy).

    Only pixels whose 5x5 neighbourhood is all above the threshold count as background,
    so anti-aliased or blurred stroke edges never bias the estimate. A background that
    is already flat and clean (every rendered glyph) is returned untouched, cheaply.
    """
    noisy = False
    for _ in range(2):  # a strong gradient can hide part of the background at first
        clear = ndimage.minimum_filter(gray, size=5, mode="nearest") > thr
        if clear.sum() < 12:
            break
        bg_vals = gray[clear]
        ink = gray[gray <= thr]
        contrast = max(float(np.median(bg_vals)) - (float(np.median(ink)) if ink.size else 0.0), 1.0)
        lo, hi = np.percentile(bg_vals, [2, 98])
        if hi - lo < 0.15 * contrast:
            break
        bg = _fit_background(gray, clear)
        if bg is None:
            break
        if np.ptp(bg) >= 0.15 * contrast:
            gray = np.clip(gray / np.maximum(bg, 1.0) * float(np.median(bg)), 0, 255)
            thr = otsu_threshold(gray)
            continue
        if float(np.std(bg_vals - bg[clear])) > 3.0:
            gray = ndimage.median_filter(gray, size=3)
            noisy = True
        break
    return gray, noisy


def _ink_bbox(mask: np.ndarray, noisy: bool) -> tuple[int, int, int, int] | None:
    # On noisy images a median filter drops isolated specks before taking the box; if
    # it erases everything (hair-thin strokes), fall back to the raw mask.
    masks = [mask]
    if noisy and min(mask.shape) >= 8:
        masks.insert(0, ndimage.median_filter(mask.astype(np.uint8), size=3))
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
    gray = to_gray(image)
    thr = otsu_threshold(gray)
    # Polarity: the background is the class that owns most of the border.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    light_border = np.mean(border > thr)
    light_bg = light_border > 0.5 if abs(light_border - 0.5) > 0.1 else np.mean(gray > thr) > 0.5
    if not light_bg:
        gray = 255.0 - gray
    if gray.max() - gray.min() < 1.0:  # blank input: nothing to crop
        return np.full((image_size, image_size), 255, np.uint8)
    gray, noisy = clean_background(gray, thr)
    thr = otsu_threshold(gray)
    mask = gray < thr
    box = _ink_bbox(mask, noisy)
    if box is None:
        return np.full((image_size, image_size), 255, np.uint8)
    # Contrast stretch: background median -> 255, dark ink level -> 0.
    bg_level = float(np.median(gray[~mask])) if (~mask).any() else 255.0
    ink_level = float(np.percentile(gray[mask], 10))
    span = max(bg_level - ink_level, 1.0)
    r0, r1, c0, c1 = box
    crop = np.clip((gray[r0:r1, c0:c1] - ink_level) / span, 0.0, 1.0) * 255.0
    return place_glyph(crop, image_size, margin, placement)


def place_glyph(crop: np.ndarray, size: int, margin: float, placement: Placement | None) -> np.ndarray:
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
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    glyph = Image.fromarray(crop.astype(np.float32), mode="F").resize((box_w, box_h), resample)
    out = np.full((size, size), 255.0, np.float32)
    out[y0 : y0 + box_h, x0 : x0 + box_w] = np.asarray(glyph)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def normalize_batch(images, image_size: int = 48, margin: float = 0.1, placement=None) -> np.ndarray:
    """:func:`normalize` over a sequence; returns uint8 (N, S, S)."""
    out = np.empty((len(images), image_size, image_size), np.uint8)
    for i, img in enumerate(images):
        out[i] = normalize(img, image_size, margin, placement)
    return out
