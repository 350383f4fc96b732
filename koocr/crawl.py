"""Builds pickle patches from the shipped fonts (and real handwriting sets).

Each glyph is rendered raw, optionally distorted (``koocr.augment``), then passed through
the shared :func:`koocr.preprocess.normalize`, so training data and ``predict`` inputs
go through exactly the same pipeline.

Example:
    >>> from koocr.crawl import CrawlConfig, crawl_fonts
    >>> crawl_fonts(CrawlConfig(image_size=48, augment=1, charset="ks2350"))  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
from tqdm import tqdm

from koocr import augment as aug
from koocr import hangul, patches
from koocr.config import check_settings, is_int
from koocr.fonts import FontInfo, load_manifest, render_glyph
from koocr.preprocess import Placement, normalize

# Each distorted copy draws one of these presets, per font style: printed fonts also get
# scan/photo degradation so the model survives real inputs.
DEFAULT_PRESETS = {"printed": ("printed", "degraded"), "handwriting": ("handwriting",)}
SOURCE_PREFIX = {"printed": "printed", "handwriting": "clova"}


def presets_from(printed: str | None = None, handwriting: str | None = None) -> dict:
    """:data:`DEFAULT_PRESETS` with the comma-separated preset names given per font style.

    Example:
        >>> presets_from(printed="printed,degraded,freehand")["printed"]
        ('printed', 'degraded', 'freehand')
    """
    out = dict(DEFAULT_PRESETS)
    for style, names in (("printed", printed), ("handwriting", handwriting)):
        if names is None:
            continue
        chosen = tuple(n.strip() for n in names.split(",") if n.strip())
        unknown = [n for n in chosen if n not in aug.PRESETS]
        if not chosen or unknown:
            raise ValueError(
                f"{style} presets must be names from {sorted(aug.PRESETS)}. Received: {names!r}"
            )
        out[style] = chosen
    return out


@dataclass
class CrawlConfig:
    """What to render; every field maps to a ``crawl_data.py`` flag."""

    font_dir: str | None = None  # None: the repo's fonts/
    pickle_path: str = "./data"
    val_path: str = "./val_data"
    val_ratio: float = 0.1  # fraction of samples (seeded shuffle) written to val_path
    val_fonts: Sequence[str] = ()  # whole fonts held out to val_path instead
    image_size: int = 96
    margin: float = 0.1
    placement: Placement | None = None  # the seed's fixed x/y offset + char size
    charset: str | Sequence[str] = "ks2350"
    styles: Sequence[str] = ("printed", "handwriting")
    include_test_fonts: bool = False  # fonts marked "test" stay out of training data
    augment: int = 0  # distorted copies per clean glyph
    augment_handwriting: int | None = None  # copies for handwriting-style fonts (None: augment)
    presets: dict = field(default_factory=lambda: dict(DEFAULT_PRESETS))
    render_size: int | None = None  # font pixel size; None: max(image_size, 48)
    pickle_size: int = 5000
    seed: int = 0
    workers: int = 2

    def __post_init__(self):
        # image_size 0 wrote (N, 0, 0) patches and augment -1 failed with an IndexError
        # deep in the renderer.
        check_settings(vars(self), {
            "image_size": (is_int(self.image_size, 8), "an integer >= 8"),
            "render_size": (self.render_size is None or is_int(self.render_size, 8), "None or an integer >= 8"),
            "augment": (is_int(self.augment, 0), "an integer >= 0"),
            "augment_handwriting": (
                self.augment_handwriting is None or is_int(self.augment_handwriting, 0), "None or an integer >= 0"
            ),
            "pickle_size": (is_int(self.pickle_size), "an integer >= 1"),
            "workers": (is_int(self.workers), "an integer >= 1"),
            "margin": (0 <= self.margin < 0.5, "in [0, 0.5)"),
        })


def _render_task(task) -> tuple[np.ndarray, list[str]]:
    font, chars, cfg_tuple, seed = task[:4]
    clean = task[4] if len(task) > 4 else True  # False: only the distorted copies
    image_size, margin, placement, render_size, copies, presets = cfg_tuple
    rng = np.random.default_rng(seed)
    out = np.empty((len(chars) * (int(clean) + copies), image_size, image_size), np.uint8)
    labels = []
    k = 0
    for ch in chars:
        raw = render_glyph(font, ch, size=render_size)
        if clean:
            out[k] = normalize(raw, image_size, margin, placement)
            labels.append(ch)
            k += 1
        for _ in range(copies):
            distorted = aug.augment(raw, rng, presets[rng.integers(len(presets))])
            out[k] = normalize(distorted, image_size, margin, placement)
            labels.append(ch)
            k += 1
    return out, labels


def font_tasks(fonts: Sequence[FontInfo], cfg: CrawlConfig, chunk: int = 256, pass_index: int = 0) -> list[tuple]:
    """Render tasks of ``chunk`` syllables each for :func:`_render_task`, in font order.

    Pass 0 renders each covered syllable clean plus its distorted copies; a later pass
    (``pass_index`` > 0) renders only fresh distorted copies, from its own seeds.

    Returns:
        A list of ``(task, (font index, style))``.
    """
    charset = hangul.load_charset(cfg.charset)
    render_size = cfg.render_size or max(cfg.image_size, 48)
    out = []
    for fi, font in enumerate(fonts):
        chars = font.covered(charset)
        copies = cfg.augment
        if font.style == "handwriting" and cfg.augment_handwriting is not None:
            copies = cfg.augment_handwriting
        if pass_index > 0 and copies == 0:
            continue
        presets = tuple(cfg.presets[font.style])
        cfg_tuple = (cfg.image_size, cfg.margin, cfg.placement, render_size, copies, presets)
        for start in range(0, len(chars), chunk):
            key = [cfg.seed, fi, start] + ([pass_index] if pass_index else [])
            seed = np.random.SeedSequence(key).generate_state(2)
            out.append(((font, chars[start : start + chunk], cfg_tuple, seed, pass_index == 0), (fi, font.style)))
    return out


def render_fonts(
    fonts: Sequence[FontInfo], cfg: CrawlConfig, desc: str = "render"
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Renders every covered charset syllable of each font, with ``cfg.augment`` copies.

    Returns:
        style -> (images uint8 (N, S, S), labels (N,) '<U1', font index (N,) into ``fonts``).
    """
    pairs = font_tasks(fonts, cfg)  # small tasks keep the progress bar moving and the pool balanced
    tasks, owners = [p[0] for p in pairs], [p[1] for p in pairs]
    results: list = [None] * len(tasks)
    total = sum(len(t[1]) for t in tasks)
    with tqdm(total=total, desc=desc, unit="glyph") as bar:
        if cfg.workers > 1 and len(tasks) > 1:
            with get_context("fork").Pool(cfg.workers) as pool:
                for i, res in pool.imap_unordered(_indexed, enumerate(tasks)):
                    results[i] = res
                    bar.update(len(tasks[i][1]))
        else:
            for i, task in enumerate(tasks):
                results[i] = _render_task(task)
                bar.update(len(task[1]))
    by_style: dict[str, list] = {}
    for (fi, style), (imgs, labels) in zip(owners, results, strict=True):
        by_style.setdefault(style, []).append((imgs, labels, np.full(len(labels), fi, np.int32)))
    return {
        style: (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([np.asarray(p[1], dtype="<U1") for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )
        for style, parts in by_style.items()
    }


def _indexed(item):
    i, task = item
    return i, _render_task(task)


def split_train_val(n: int, val_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle of ``range(n)`` cut into (train indices, val indices)."""
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in [0, 1). Received: val_ratio={val_ratio}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_ratio))
    return order[n_val:], order[:n_val]


def write_source(
    folder: str, prefix: str, images: np.ndarray, labels: np.ndarray, pickle_size: int, seed: int
) -> list[str]:
    """Shuffles and writes ``<prefix>_<i>.pickle`` patches, removing stale ones of that prefix
    (all of them when there is nothing to write: a re-run with a smaller split must not leave
    the old patches behind, where they would overlap the other split)."""
    if not len(labels):
        if not os.path.isdir(folder):
            return []
        paths = []
    else:
        os.makedirs(folder, exist_ok=True)
        order = np.random.default_rng(seed).permutation(len(labels))
        paths = patches.write_patches(folder, prefix, images[order], labels[order], patch_size=pickle_size)
    keep = {os.path.abspath(p) for p in paths}
    pattern = re.compile(rf"^{re.escape(prefix)}_\d+\.pickle$")
    for old in glob.glob(os.path.join(folder, f"{prefix}_*.pickle")):
        if pattern.match(os.path.basename(old)) and os.path.abspath(old) not in keep:
            os.remove(old)  # a previous, larger crawl must not leak into this one
    return paths


def crawl_fonts(cfg: CrawlConfig) -> dict[str, dict[str, int]]:
    """Renders the selected fonts and writes train/val patches; returns sample counts."""
    fonts = [
        f
        for f in load_manifest(cfg.font_dir)
        if f.style in cfg.styles and (cfg.include_test_fonts or f.split == "train")
    ]
    known = {f.name for f in load_manifest(cfg.font_dir)}
    unknown = [name for name in cfg.val_fonts if name not in known]
    if unknown:
        raise ValueError(f"--val_fonts names fonts not in the manifest: {unknown}")
    if not fonts:
        raise ValueError(f"No fonts selected (styles={list(cfg.styles)}) in {cfg.font_dir or 'fonts/'}")
    rendered = render_fonts(fonts, cfg)
    counts: dict[str, dict[str, int]] = {}
    val_font_ids = {i for i, f in enumerate(fonts) if f.name in set(cfg.val_fonts)}
    for style, (images, labels, owner) in rendered.items():
        prefix = SOURCE_PREFIX[style]
        if val_font_ids:
            is_val = np.isin(owner, list(val_font_ids))
            train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        else:
            train_idx, val_idx = split_train_val(len(labels), cfg.val_ratio, cfg.seed)
        for folder, idx, name in ((cfg.pickle_path, train_idx, "train"), (cfg.val_path, val_idx, "val")):
            write_source(folder, prefix, images[idx], labels[idx], cfg.pickle_size, cfg.seed)
            counts.setdefault(prefix, {})[name] = int(len(idx))
    return counts
