"""Builds pickle patches from the shipped fonts (and real handwriting sets).

Each glyph is rendered raw, optionally distorted (``koocr.augment``), then passed through
the shared :func:`koocr.preprocess.normalize`, so training data and ``predict`` inputs
go through exactly the same pipeline.

Example:
    >>> from koocr.crawl import CrawlConfig, crawl_fonts
    >>> crawl_fonts(CrawlConfig(image_size=48, augment=1, charset="ks2350"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
from tqdm import tqdm

from koocr import augment as aug
from koocr import hangul, patches
from koocr.config import check_settings, is_int
from koocr.files import alive, private_tmpdir, remove
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
        check_patch_settings(self.image_size, self.margin, self.pickle_size)
        check_settings(vars(self), {
            "render_size": (self.render_size is None or is_int(self.render_size, 8), "None or an integer >= 8"),
            "augment": (is_int(self.augment, 0), "an integer >= 0"),
            "augment_handwriting": (
                self.augment_handwriting is None or is_int(self.augment_handwriting, 0), "None or an integer >= 0"
            ),
            "workers": (is_int(self.workers), "an integer >= 1"),
        })
        check_split_folders(self.pickle_path, self.val_path, self.val_ratio > 0 or bool(self.val_fonts))


def check_patch_settings(image_size: int, margin: float, pickle_size: int) -> None:
    """The checks of every patch writer, the font crawl and the real sets alike (``crawl_data.py
    --images`` wrote (N, 0, 0) patches for ``--image_size 0`` and blank glyphs for ``--margin -1``).

    Raises:
        ValueError: naming the first setting out of range, what was expected and its value.
    """
    check_settings({"image_size": image_size, "margin": margin, "pickle_size": pickle_size}, {
        "image_size": (is_int(image_size, 8), "an integer >= 8"),
        "pickle_size": (is_int(pickle_size), "an integer >= 1"),
        "margin": (0 <= margin < 0.5, "in [0, 0.5)"),
    })


def check_split_folders(pickle_path: str, val_path: str, writes_val: bool) -> None:
    """Refuses one folder for both splits when the validation split is written: its patches
    (same file names) would replace the training ones."""
    if writes_val and os.path.realpath(pickle_path) == os.path.realpath(val_path):
        raise ValueError(
            f"--pickle_path and --val_path are the same folder ({pickle_path}): the validation patches "
            "would replace the training ones. Give --val_path another folder, or write no validation split "
            "(--val_ratio 0, no --val_fonts)"
        )


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


# Hidden folders inside a patch folder (list_patches and PatchStream skip hidden names and
# folders): a run's new series while they are written, and the old ones while they are swapped.
STAGE_PREFIX = ".crawl-new-"
BACKUP_PREFIX = ".crawl-old-"
# Written into a backup once the old series are all in it: the prefixes it replaces, one a line.
_BACKUP_SERIES = "series.txt"


class PatchSet:
    """The patch series of one run, written all together or not at all.

    Each series replaces the earlier ``<prefix>_*.pickle`` of its folder (a larger crawl's extra
    patches must not leak into a smaller rerun). Writing a big crawl's patches takes minutes,
    and a Ctrl-C in the middle of a rerun used to leave old and new patches mixed: samples
    twice in training, validation samples in the training folder. So each series is written
    into a hidden staging folder inside its target folder (the same file system, so moving a
    file in is a rename, as in :mod:`koocr.download`'s swap), and only once every series is
    complete are the old ones moved aside and the new ones moved in; an exception or Ctrl-C
    before or during that swap leaves every folder as it was. The staging folders of a run that
    was killed are removed by the next one, and an old series it had moved aside is put back.
    Old and new patches are both on disk until the swap.

    Example:
        >>> with PatchSet() as out:  # doctest: +SKIP
        ...     out.add("data", "clova", train_x, train_y, 5000, seed=0)
        ...     out.add("val_data", "clova", val_x, val_y, 5000, seed=0)
    """

    def __init__(self):
        self.paths: list[str] = []  # the patches in place after the swap
        self._stages: dict[str, tuple[str, str]] = {}  # real folder -> (folder, its staging folder)
        self._series: dict[str, list[str]] = {}  # real folder -> the prefixes written there

    def add(
        self,
        folder: str,
        prefix: str,
        images: np.ndarray,
        labels: np.ndarray,
        pickle_size: int,
        seed: int,
    ) -> int:
        """Stages ``<prefix>_<i>.pickle`` patches of the shuffled samples for ``folder``; returns
        how many samples. No sample leaves ``folder`` untouched (it may hold another run's series)."""
        if not len(labels):
            return 0
        key = os.path.realpath(folder)
        if prefix in self._series.get(key, []):
            raise ValueError(f"{prefix}_*.pickle is written to {folder} twice in one run")
        if key not in self._stages:
            os.makedirs(folder, exist_ok=True)
            _recover_series(folder)
            self._stages[key] = (folder, private_tmpdir(folder, STAGE_PREFIX))
        order = np.random.default_rng(seed).permutation(len(labels))
        stage = self._stages[key][1]
        patches.write_patches(stage, prefix, images[order], labels[order], patch_size=pickle_size)
        self._series.setdefault(key, []).append(prefix)
        return int(len(labels))

    def commit(self) -> None:
        """Moves the old series of every staged prefix aside and the new ones in, or none."""
        done: list[tuple[str, str]] = []  # renames (from, to), undone in reverse on failure
        backups, paths = [], []
        try:
            for key, (folder, stage) in self._stages.items():
                backup = private_tmpdir(folder, BACKUP_PREFIX)
                backups.append(backup)
                for prefix in self._series[key]:
                    for old in series_patches(folder, prefix):
                        aside = os.path.join(backup, os.path.basename(old))
                        os.replace(old, aside)
                        done.append((old, aside))
                with open(os.path.join(backup, _BACKUP_SERIES), "w", encoding="utf-8") as fh:
                    fh.write("".join(f"{prefix}\n" for prefix in self._series[key]))
                for path in patches.list_patches(stage):
                    paths.append(os.path.join(folder, os.path.basename(path)))
                    os.replace(path, paths[-1])
                    done.append((path, paths[-1]))
            swapped = True
        except BaseException:
            swapped = False
            for source, target in reversed(done):
                os.replace(target, source)
            raise
        finally:
            for backup in backups:
                if not swapped and any(name.endswith(".pickle") for name in os.listdir(backup)):
                    continue  # the undo failed: the next run puts these back (_recover_series)
                # Renamed before it is deleted: a run killed mid-delete leaves no backup to restore.
                head, name = os.path.split(backup)
                trash = os.path.join(head, f"{STAGE_PREFIX}{name.removeprefix(BACKUP_PREFIX)}-done")
                os.replace(backup, trash)
                shutil.rmtree(trash, ignore_errors=True)
            self.discard()
        self.paths = paths

    def discard(self) -> None:
        """Deletes what was staged; the folders keep what they held."""
        for _, stage in self._stages.values():
            shutil.rmtree(stage, ignore_errors=True)

    def __enter__(self) -> PatchSet:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def _recover_series(folder: str) -> None:
    """Puts back the old series that a run killed in the middle of its swap had moved aside."""
    for backup in sorted(os.listdir(folder)):
        pid = re.match(rf"{re.escape(BACKUP_PREFIX)}(\d+)-", backup)
        path = os.path.join(folder, backup)
        if pid is None or alive(int(pid.group(1))) or not os.path.isdir(path):
            continue
        try:
            with open(os.path.join(path, _BACKUP_SERIES), encoding="utf-8") as fh:
                prefixes = fh.read().split()
        except OSError:
            prefixes = []  # killed while moving the old series aside: no new patch came in yet
        for prefix in prefixes:  # the new patches it had moved in, maybe not all
            for partial in series_patches(folder, prefix):
                os.remove(partial)
        old = [name for name in os.listdir(path) if name.endswith(".pickle")]
        for name in old:
            os.replace(os.path.join(path, name), os.path.join(folder, name))
        if old:
            print(f"Restored {len(old)} patch(es) in {folder} that an interrupted run moved aside")
        remove(path)


_SERIES = re.compile(r"^(.+)_\d+\.pickle$")


def series_patches(folder: str, prefix: str) -> list[str]:
    """The ``<prefix>_<i>.pickle`` patches in ``folder`` (``printed_images_0`` is not ``printed``'s)."""
    if not os.path.isdir(folder):
        return []
    return [p for p in patches.list_patches(folder) if _series_of(p) == prefix]


def _series_of(path: str) -> str:
    match = _SERIES.match(os.path.basename(path))
    return match.group(1) if match else os.path.basename(path)


def check_patch_size(folder: str, image_size: int, replaced: Sequence[str]) -> None:
    """Refuses to add ``image_size`` patches to ``folder`` when it keeps patches of another size
    (``train.py`` cannot read a folder of mixed sizes).

    Args:
        folder: an output folder of this run.
        image_size: the side of the patches this run writes there.
        replaced: the prefixes this run writes there; their old patches go (:class:`PatchSet`).

    Raises:
        ValueError: naming the folder, the sizes and the files kept at another size.
    """
    if not os.path.isdir(folder):
        return
    kept: dict[str, list[str]] = {}
    for path in patches.list_patches(folder):
        if _series_of(path) not in replaced:
            kept.setdefault(_series_of(path), []).append(path)
    other: dict[int, list[str]] = {}
    for series in kept.values():  # one crawl writes a series at one size: read one file of each
        size = int(patches.load_patch(series[0])["image"].shape[1])
        if size != image_size:
            other.setdefault(size, []).extend(os.path.basename(p) for p in series)
    if other:
        found = "; ".join(
            f"{size}px: " + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            for size, names in sorted(other.items())
        )
        raise ValueError(
            f"{folder} holds patches of another image size than this run's {image_size}px ({found}); "
            "train.py reads one size per folder: write to another folder, or rebuild or remove those patches"
        )


def crawl_fonts(cfg: CrawlConfig) -> dict[str, dict[str, int]]:
    """Renders the selected fonts and writes train/val patches; returns sample counts.

    Every series (train and val, per style) is replaced together or not at all (:class:`PatchSet`).

    Raises:
        ValueError: no font selected, or ``cfg.val_fonts`` names a font not in the manifest or
            one this run does not render (another style, or a held-out test font).
    """
    manifest = load_manifest(cfg.font_dir)
    fonts = [
        f
        for f in manifest
        if f.style in cfg.styles and (cfg.include_test_fonts or f.split == "train")
    ]
    check_val_fonts(cfg, manifest, fonts)
    if not fonts:
        raise ValueError(f"No fonts selected (styles={list(cfg.styles)}) in {cfg.font_dir or 'fonts/'}")
    rendered = render_fonts(fonts, cfg)
    counts: dict[str, dict[str, int]] = {}
    val_font_ids = {i for i, f in enumerate(fonts) if f.name in set(cfg.val_fonts)}
    with PatchSet() as out:
        for style, (images, labels, owner) in rendered.items():
            prefix = SOURCE_PREFIX[style]
            if val_font_ids:
                is_val = np.isin(owner, list(val_font_ids))
                train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
            else:
                train_idx, val_idx = split_train_val(len(labels), cfg.val_ratio, cfg.seed)
            for folder, idx, name in (
                (cfg.pickle_path, train_idx, "train"),
                (cfg.val_path, val_idx, "val"),
            ):
                out.add(folder, prefix, images[idx], labels[idx], cfg.pickle_size, cfg.seed)
                counts.setdefault(prefix, {})[name] = int(len(idx))
    return counts


def check_val_fonts(
    cfg: CrawlConfig, manifest: Sequence[FontInfo], fonts: Sequence[FontInfo]
) -> None:
    """Refuses ``cfg.val_fonts`` naming a font that is unknown or that this run does not render
    (a printed font in a ``--clova`` run, a held-out test font): holding out nothing, the crawl
    used to fall back silently to a random per-glyph ``--val_ratio`` split.

    Raises:
        ValueError: naming each such font and why it is not rendered.
    """
    known = {f.name: f for f in manifest}
    unknown = [name for name in cfg.val_fonts if name not in known]
    if unknown:
        raise ValueError(f"--val_fonts names fonts not in the manifest: {unknown}")
    rendered = {f.name for f in fonts}
    reasons = []
    for name in dict.fromkeys(cfg.val_fonts):
        font = known[name]
        if name in rendered:
            continue
        if font.style not in cfg.styles:
            reasons.append(
                f"{name} is a {font.style} font and this run renders only {' and '.join(cfg.styles)} "
                f"fonts (add --{SOURCE_PREFIX[font.style]})"
            )
        else:
            reasons.append(
                f"{name} is held out for evaluation (split {font.split!r}; add --include_test_fonts)"
            )
    if reasons:
        raise ValueError(
            "--val_fonts names fonts this run does not render, so they would hold nothing out: "
            + "; ".join(reasons)
        )
