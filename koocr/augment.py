"""Seeded augmentations of raw rendered glyphs, applied before :func:`koocr.preprocess.normalize`.

Input is a rendered glyph: uint8 (H, W), white (255) background, dark ink, the glyph
roughly centred with blank space around it. Output has the same shape and dtype.
Every op has a probability ``p_<op>`` and a strength range in :class:`AugmentConfig`;
strengths are drawn uniformly from their range. The order is fixed:
stroke width -> ligatures -> affine + elastic (one resampling) -> background -> contrast -> blur ->
low resolution -> noise -> JPEG, i.e. pen, then paper, then camera/scanner.

Presets (:data:`PRESETS`): ``none`` (identity), ``printed`` (mild jitter), ``handwriting``
(elastic + affine + stroke width, turning handwriting-style fonts into varied "writers"),
``freehand`` (``handwriting`` plus a coarse warp that moves whole jamo; also meant for
printed fonts, to turn them into more writers), ``cursive`` (``freehand`` plus thin
links between nearby strokes, as a fast pen joins what a font draws apart) and ``degraded`` (scan / phone-photo look, also used for the held-out degraded test set).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> glyph = np.full((96, 96), 255, np.uint8); glyph[30:66, 40:56] = 0
    >>> augment(glyph, rng, "handwriting").shape
    (96, 96)
"""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

Range = tuple[float, float]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strength ranges of each op. All probabilities 0 = identity.

    Geometric sizes are fractions of the image's shorter side, so a config means the
    same thing at any render size; photometric values are grey levels / pixels.
    """

    # Affine: one rotation / shear / per-axis scale / shift, resampled together with elastic.
    p_affine: float = 0.0
    rotation: Range = (-5.0, 5.0)  # degrees
    shear: Range = (-0.1, 0.1)  # x shift per unit of y; slanted writing
    scale: Range = (0.9, 1.1)  # drawn per axis, so aspect ratio changes too
    translate: Range = (-0.03, 0.03)  # fraction of the side; the glyph must stay on canvas
    # Elastic: smooth random displacement field (a wobbly pen), Simard et al. 2003 style.
    p_elastic: float = 0.0
    elastic_alpha: Range = (0.008, 0.02)  # RMS displacement, fraction of the side
    elastic_sigma: Range = (0.2, 0.33)  # smoothness: spacing of the random control grid
    # Warp: the same kind of field on a coarse grid, so whole jamo move and change size
    # against each other (another writer's layout), not just the pen line.
    p_warp: float = 0.0
    warp_alpha: Range = (0.02, 0.04)  # RMS displacement, fraction of the side
    warp_sigma: Range = (0.5, 0.8)  # spacing of the control grid, fraction of the side
    # Stroke width: grey erosion (thicker ink) or dilation (thinner ink).
    p_stroke: float = 0.0
    stroke_kernels: tuple[int, ...] = (2, 3)  # square structuring element sides
    p_thicker: float = 0.5  # else thinner; changes that blob or erase the glyph are undone
    # Ligatures: thin, slightly bent links between separate strokes that lie close together
    # (a cursive hand joins jamo and strokes that a font draws apart).
    p_ligature: float = 0.0
    ligature_links: Range = (1.0, 3.0)  # how many links, rounded
    ligature_gap: float = 0.25  # only strokes at most this far apart, fraction of the side
    ligature_width: Range = (0.3, 0.7)  # link width, fraction of the glyph's stroke width
    ligature_bend: Range = (-0.25, 0.25)  # sideways offset of the link's middle, fraction of its length
    # Background: grey paper, ink not pure black, optional linear illumination gradient.
    p_background: float = 0.0
    background_level: Range = (170.0, 240.0)
    ink_level: Range = (0.0, 70.0)
    p_gradient: float = 0.5
    gradient: Range = (0.05, 0.35)  # fraction of brightness lost at the dark edge
    # Contrast reduction towards the mean grey (faded ink, flat photo).
    p_contrast: float = 0.0
    contrast: Range = (0.45, 0.8)  # 1 = unchanged
    # Gaussian blur (focus, scanner optics).
    p_blur: float = 0.0
    blur_sigma: Range = (0.4, 1.0)  # pixels
    # Downscale then upscale (low-resolution camera / thumbnail).
    p_lowres: float = 0.0
    lowres_height: Range = (16.0, 30.0)  # intermediate height in pixels
    # Additive gaussian noise (sensor noise).
    p_noise: float = 0.0
    noise_std: Range = (3.0, 10.0)  # grey levels
    # JPEG re-encode in memory (block artefacts, ringing).
    p_jpeg: float = 0.0
    jpeg_quality: Range = (20.0, 60.0)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{f.name} must be a probability in [0, 1]. Received: {f.name}={value}"
                )
            if f.type == "Range" and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(
                    f"{f.name} must be a (low, high) pair with low <= high. Received: {f.name}={value}"
                )
        if not self.stroke_kernels or any(int(k) < 2 for k in self.stroke_kernels):
            raise ValueError(
                f"stroke_kernels must be sizes >= 2. Received: stroke_kernels={self.stroke_kernels}"
            )
        if self.ligature_links[0] < 0 or not self.ligature_gap > 0:
            raise ValueError(
                "ligature_links must be >= 0 and ligature_gap > 0. Received: "
                f"ligature_links={self.ligature_links}, ligature_gap={self.ligature_gap}"
            )
        if self.lowres_height[0] < 2:
            raise ValueError(
                f"lowres_height must be >= 2 pixels. Received: lowres_height={self.lowres_height}"
            )

    @property
    def is_identity(self) -> bool:
        """True if no op can fire."""
        # p_thicker / p_gradient only choose how a firing op acts, not whether it fires.
        conditional = ("p_thicker", "p_gradient")
        return all(
            getattr(self, f.name) == 0
            for f in dataclasses.fields(self)
            if f.name.startswith("p_") and f.name not in conditional
        )

    def to_dict(self) -> dict:
        """JSON-ready dict (saved next to the weights with the training config)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict) -> AugmentConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown AugmentConfig keys: {unknown}. Known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


_HANDWRITING = AugmentConfig(
    p_affine=0.9, rotation=(-7.0, 7.0), shear=(-0.2, 0.2), scale=(0.85, 1.1), translate=(-0.03, 0.03),
    p_elastic=0.9, elastic_alpha=(0.008, 0.02), elastic_sigma=(0.2, 0.33),
    p_stroke=0.5, p_thicker=0.4,
    p_blur=0.1, blur_sigma=(0.3, 0.7),
)  # fmt: skip

PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(),
    # Rendered print: a little placement/weight jitter, rarely a soft or noisy render.
    "printed": AugmentConfig(
        p_affine=0.6, rotation=(-3.0, 3.0), shear=(-0.06, 0.06), scale=(0.93, 1.07), translate=(-0.02, 0.02),
        p_stroke=0.3,
        p_blur=0.15, blur_sigma=(0.3, 0.7),
        p_noise=0.15, noise_std=(2.0, 6.0),
    ),
    # Handwriting-style fonts -> many "writers": wobble, slant, uneven proportions, pen width.
    "handwriting": _HANDWRITING,
    # "handwriting" plus another layout of the jamo (coarse warp) and a wider pen range.
    "freehand": dataclasses.replace(_HANDWRITING, p_warp=0.8, stroke_kernels=(2, 3, 4)),
    # "freehand" plus a fast pen's links between strokes.
    "cursive": dataclasses.replace(_HANDWRITING, p_warp=0.8, stroke_kernels=(2, 3, 4), p_ligature=0.6),
    # Scan / phone photo of print: grey uneven paper, soft, noisy, compressed, small, faded.
    "degraded": AugmentConfig(
        p_affine=0.5, rotation=(-3.0, 3.0), shear=(-0.05, 0.05), scale=(0.95, 1.05), translate=(-0.02, 0.02),
        p_stroke=0.3,
        p_background=0.9, background_level=(150.0, 235.0), ink_level=(0.0, 80.0), p_gradient=0.6,
        p_contrast=0.5, contrast=(0.5, 0.85),
        p_blur=0.6, blur_sigma=(0.5, 1.2),
        p_lowres=0.5, lowres_height=(16.0, 30.0),
        p_noise=0.7, noise_std=(3.0, 12.0),
        p_jpeg=0.7, jpeg_quality=(15.0, 55.0),
    ),
}  # fmt: skip


def preset(name: str) -> AugmentConfig:
    """The :class:`AugmentConfig` of a preset name (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown augmentation preset {name!r}. Known presets: {sorted(PRESETS)}")
    return PRESETS[name]


def _resolve(config: AugmentConfig | str | None) -> AugmentConfig:
    if config is None:
        return PRESETS["none"]
    if isinstance(config, str):
        return preset(config)
    if isinstance(config, AugmentConfig):
        return config
    raise ValueError(
        f"Expected an AugmentConfig or a preset name. Received: {type(config).__name__}"
    )


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1])) if r[0] < r[1] else float(r[0])


@functools.lru_cache(maxsize=16)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    # Pixel coordinates relative to the centre; cached because the shape rarely changes.
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ys -= (h - 1) / 2.0
    xs -= (w - 1) / 2.0
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def _smooth_field(rng: np.random.Generator, h: int, w: int, spacing: float) -> np.ndarray:
    """Smooth random field with unit RMS: random control grid, bicubically upsampled.

    Same look as gaussian-filtering per-pixel noise at a fraction of the cost.
    """
    gh, gw = max(2, round(h / spacing) + 1), max(2, round(w / spacing) + 1)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC))
    return field / max(float(field.std()), 1e-6)


def _geometry(
    img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, affine: bool, elastic: bool,
    warp: bool = False,
) -> np.ndarray:
    h, w = img.shape
    side = float(min(h, w))
    ys, xs = _grid(h, w)
    if affine:
        theta = np.deg2rad(_u(rng, cfg.rotation))
        cos, sin = np.cos(theta), np.sin(theta)
        forward = (
            np.array([[cos, -sin], [sin, cos]])
            @ np.array([[1.0, _u(rng, cfg.shear)], [0.0, 1.0]])
            @ np.diag([_u(rng, cfg.scale), _u(rng, cfg.scale)])  # (x, y) order
        )
        inv = np.linalg.inv(forward).astype(np.float32)
        tx, ty = _u(rng, cfg.translate) * side, _u(rng, cfg.translate) * side
        # Output pixel p samples input inv @ (p - t): the glyph is transformed forward.
        x0, y0 = xs - tx, ys - ty
        src_x = inv[0, 0] * x0 + inv[0, 1] * y0
        src_y = inv[1, 0] * x0 + inv[1, 1] * y0
    else:
        src_x, src_y = xs.copy(), ys.copy()
    fields = ((elastic, cfg.elastic_alpha, cfg.elastic_sigma), (warp, cfg.warp_alpha, cfg.warp_sigma))
    for fires, alpha_range, sigma_range in fields:
        if fires:
            alpha = _u(rng, alpha_range) * side
            spacing = max(_u(rng, sigma_range) * side, 2.0)
            src_x += alpha * _smooth_field(rng, h, w, spacing)
            src_y += alpha * _smooth_field(rng, h, w, spacing)
    src_x += (w - 1) / 2.0
    src_y += (h - 1) / 2.0
    return ndimage.map_coordinates(
        img, (src_y, src_x), order=1, mode="constant", cval=255.0, prefilter=False
    )


# Thickening stops where ink would cover more than this much of the glyph's box: regular
# fonts sit at 0.2-0.4, bold ones at 0.45-0.6, and much above 0.5 counters close into blobs.
_MAX_INK_DENSITY = 0.5
# Thinning must keep this share of the ink, or hairline fonts lose whole strokes.
_MIN_INK_KEPT = 0.5


def _stroke(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    k = int(cfg.stroke_kernels[rng.integers(len(cfg.stroke_kernels))])
    thicker = rng.random() < cfg.p_thicker
    ink = img < 128
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if rows.size == 0:
        return img
    box = (rows[-1] - rows[0] + 1 + k) * (cols[-1] - cols[0] + 1 + k)
    ink_before = np.count_nonzero(ink)
    for size in range(k, 1, -1):  # too strong: try a smaller element, then give up
        if thicker:
            out = ndimage.grey_erosion(img, size=(size, size))
            if np.count_nonzero(out < 128) <= _MAX_INK_DENSITY * box:
                return out
        else:
            out = ndimage.grey_dilation(img, size=(size, size))
            if np.count_nonzero(out < 128) >= _MIN_INK_KEPT * ink_before:
                return out
    return img


_MAX_LINKED_STROKES = 12


def _ligature(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Draws thin links between the nearest points of separate, nearby strokes."""
    ink = img < 128
    labels, n = ndimage.label(ink, structure=np.ones((3, 3), bool))
    if n < 2:
        return img
    # Only the largest strokes take part: a syllable has at most about a dozen, and specks
    # (noise, a broken serif) would make the pair search quadratic in their number.
    # (In label order, so a glyph of up to that many strokes draws as it did before the cap.)
    strokes = np.sort(np.argsort(-np.bincount(labels.ravel())[1:], kind="stable")[:_MAX_LINKED_STROKES]) + 1
    n = len(strokes)
    # Candidate end points: each stroke's outline, at most 48 points of it.
    outline = ink & ~ndimage.binary_erosion(ink)
    ys, xs = np.nonzero(outline)
    comp = labels[ys, xs]
    points = []
    for c in strokes:
        idx = np.flatnonzero(comp == c)
        if idx.size > 48:
            idx = rng.choice(idx, 48, replace=False)
        points.append(np.stack([xs[idx], ys[idx]], 1).astype(np.float32))
    max_gap = cfg.ligature_gap * min(img.shape)
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            d = np.linalg.norm(points[i][:, None] - points[j][None], axis=2)
            k = int(np.argmin(d))
            if d.flat[k] <= max_gap:
                a, b = divmod(k, d.shape[1])
                pairs.append((points[i][a], points[j][b]))
    if not pairs:
        return img
    stroke_width = 2.0 * float(np.percentile(ndimage.distance_transform_edt(ink)[ink], 90))
    ink_level = float(np.percentile(img[ink], 10))
    count = min(len(pairs), int(round(_u(rng, cfg.ligature_links))))
    canvas = Image.fromarray(img, mode="L")
    draw = ImageDraw.Draw(canvas)
    for k in rng.permutation(len(pairs))[:count]:
        a, b = pairs[k]
        normal = np.array([a[1] - b[1], b[0] - a[0]], np.float32)  # length |b - a|
        mid = (a + b) / 2 + _u(rng, cfg.ligature_bend) * normal
        t = np.linspace(0.0, 1.0, 9, dtype=np.float32)[:, None]
        curve = (1 - t) ** 2 * a + 2 * t * (1 - t) * mid + t**2 * b  # quadratic Bezier
        width = max(1, int(round(stroke_width * _u(rng, cfg.ligature_width))))
        draw.line([tuple(p) for p in curve.tolist()], fill=int(ink_level), width=width, joint="curve")
    return np.asarray(canvas)


def _background(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    bg, ink = _u(rng, cfg.background_level), _u(rng, cfg.ink_level)
    out = ink + img * ((bg - ink) / 255.0)
    if rng.random() < cfg.p_gradient:
        h, w = img.shape
        ys, xs = _grid(h, w)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xs + np.sin(angle) * ys
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)  # 0 bright .. 1 dark edge
        out = out * (1.0 - _u(rng, cfg.gradient) * ramp)
    return out


def _lowres(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    h, w = img.shape
    small_h = min(h, max(2, round(_u(rng, cfg.lowres_height))))
    small_w = max(2, round(w * small_h / h))
    small = Image.fromarray(img.astype(np.float32), mode="F").resize(
        (small_w, small_h), Image.Resampling.BOX
    )
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))


def _jpeg(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(
        buf, format="JPEG", quality=int(round(_u(rng, cfg.jpeg_quality)))
    )
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("L"))


def augment(
    image: np.ndarray, rng: np.random.Generator, config: AugmentConfig | str | None = "printed"
) -> np.ndarray:
    """Augments one raw rendered glyph.

    Args:
        image: uint8 (H, W), white background, dark ink (as rendered by ``koocr.fonts``).
        rng: the random generator; the same seed gives the same output.
        config: an :class:`AugmentConfig` or a preset name from :data:`PRESETS`.

    Returns:
        uint8 array with the shape of ``image``.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> out = augment(np.full((72, 72), 255, np.uint8), rng, "degraded")
        >>> out.dtype, out.shape
        (dtype('uint8'), (72, 72))
    """
    cfg = _resolve(config)
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(
            f"Expected one grey image (H, W) with H, W >= 2. Received shape {img.shape}"
        )
    if img.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image (0..255). Received dtype={img.dtype}")
    # Draw every "does it fire" decision up front so the stream of draws has a fixed layout.
    fire = rng.random(9) < np.array(
        [cfg.p_stroke, cfg.p_affine, cfg.p_elastic, cfg.p_background, cfg.p_contrast,
         cfg.p_blur, cfg.p_lowres, cfg.p_noise, cfg.p_jpeg]
    )  # fmt: skip
    stroke, affine, elastic, background, contrast, blur, lowres, noise, jpeg = fire
    # Drawn only where it can fire, so configs without a warp keep their stream of draws
    # (and the held-out test images stay the same).
    warp = cfg.p_warp > 0 and rng.random() < cfg.p_warp
    ligature = cfg.p_ligature > 0 and rng.random() < cfg.p_ligature
    if not (fire.any() or warp or ligature):
        return img.copy()
    out = img
    if stroke:
        out = _stroke(out, rng, cfg)
    if ligature:
        out = _ligature(out, rng, cfg)
    if affine or elastic or warp:
        out = _geometry(out.astype(np.float32), rng, cfg, affine, elastic, warp)
    out = out.astype(np.float32, copy=False)
    if background:
        out = _background(out, rng, cfg)
    if contrast:
        mean = float(out.mean())
        out = mean + (out - mean) * _u(rng, cfg.contrast)
    if blur:
        out = ndimage.gaussian_filter(out, _u(rng, cfg.blur_sigma), truncate=3.0)
    if lowres:
        out = _lowres(out, rng, cfg)
    if noise:
        out = out + rng.standard_normal(out.shape, dtype=np.float32) * np.float32(
            _u(rng, cfg.noise_std)
        )
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if jpeg:
        out = _jpeg(out, rng, cfg)
    return out


def augment_batch(
    images: np.ndarray | Sequence[np.ndarray],
    rng: np.random.Generator,
    config: AugmentConfig | str | None = "printed",
) -> np.ndarray | list[np.ndarray]:
    """:func:`augment` over a batch, one generator for all (deterministic for a seed).

    Args:
        images: uint8 array (N, H, W), or a sequence of (H, W) arrays of any sizes.
        rng: the random generator.
        config: an :class:`AugmentConfig` or a preset name.

    Returns:
        uint8 (N, H, W) for array input, a list for sequence input.
    """
    cfg = _resolve(config)
    if isinstance(images, np.ndarray):
        if images.ndim != 3:
            raise ValueError(f"Expected a batch (N, H, W). Received shape {images.shape}")
        out = np.empty_like(images)
        for i, img in enumerate(images):
            out[i] = augment(img, rng, cfg)
        return out
    return [augment(img, rng, cfg) for img in images]
