"""Evaluating a KoOCR model: accuracy, confusion, wrong examples, CAMs and a report.

The pieces are plain functions so a script can evaluate any image set:

* :func:`load_patch_set` / :func:`render_font_set` give ``images, labels, groups``
  (patches are already normalised; font glyphs are raw renders);
* :func:`predict_arrays` runs the model once (tqdm progress) -> :class:`Predictions`;
* :func:`accuracy_metrics`, :func:`component_confusions`, :func:`confused_pairs` and the
  ``plot_*`` functions turn those into numbers and PNGs;
* :func:`evaluate_arrays` is accuracy in one call; :func:`run_evaluation` writes the
  whole folder (``metrics.json``, ``report.md``, PNGs, CSV) that ``evaluate.py`` produces.

Example:
    >>> from model import KoOCR
    >>> from koocr.fonts import load_manifest
    >>> ocr = KoOCR(weights="compact48")  # doctest: +SKIP
    >>> images, labels, groups = render_font_set(load_manifest(split="test"), "ks2350",
    ...                                          max_per_font=200)  # doctest: +SKIP
    >>> evaluate_arrays(ocr, images, labels, groups)["top1"]  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import csv
import functools
import json
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from koocr import augment, cam, decode, hangul
from koocr import data as kdata
from koocr import fonts as kfonts
from koocr import patches as kpatches

METHODS = ("accuracy", "confusion_matrix", "class_activation", "show_augmentation", "benchmark")
DISTORTIONS = ("none", "printed", "handwriting", "degraded", "auto")
COMPONENTS = tuple(hangul.COMPONENT_SIZES)  # initial, medial, final
# Families tried when fonts/ has no manifest yet (matplotlib's default draws empty boxes).
_SYSTEM_KOREAN = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "UnDotum")


# ----------------------------------------------------------------------------- data


def load_patch_set(
    data_path: str, max_samples: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised patch images, labels and source (printed / handwritten / clova) per sample.

    Args:
        data_path: folder of ``*.pickle`` patches (e.g. ``./val_data``).
        max_samples: keep a seeded random subset of at most this many samples.
        seed: subset seed.
    """
    paths = kpatches.list_patches(data_path)
    if not paths:
        raise FileNotFoundError(f"No *.pickle patches in {data_path!r}")
    images, labels, sources = kdata.load_arrays(paths)
    if max_samples is not None and len(labels) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), max_samples, replace=False))
        images, labels, sources = images[keep], labels[keep], sources[keep]
    return images, labels, sources


def render_font_set(
    fonts: Sequence[kfonts.FontInfo],
    charset: str | Sequence[str] = "ks2350",
    distortion: str = "none",
    seed: int = 0,
    max_per_font: int | None = None,
    size: int = 64,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Renders every covered syllable of ``charset`` in each font (raw, not normalised).

    Args:
        fonts: fonts from :func:`koocr.fonts.load_manifest`.
        charset: syllables to render (``ks2350``, ``all``, a file or a list).
        distortion: an augmentation preset (``none``, ``printed``, ``handwriting``,
            ``degraded``) or ``auto``: handwriting for handwriting-style fonts, none for printed.
        seed: seeds the per-font subsample and the distortions (one stream per font name).
        max_per_font: a seeded random subset of at most this many syllables per font.
        size: font size in pixels (the glyph canvas is 1.5 * size).
        progress: tqdm bar over fonts.

    Returns:
        ``images`` uint8 (N, H, W), ``labels`` (N,) syllables, ``groups`` (N,) font names.
    """
    if distortion not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {DISTORTIONS}. Received: {distortion!r}")
    if not fonts:
        raise ValueError("render_font_set needs at least one font. Received: fonts=[]")
    chars = hangul.load_charset(charset)
    images, labels, groups = [], [], []
    for font in tqdm(fonts, desc="render", unit="font", disable=not progress):
        # One generator per font: a font's sample does not depend on the other fonts listed.
        rng = np.random.default_rng([seed, zlib.crc32(font.name.encode("utf-8"))])
        covered = font.covered(chars)
        if max_per_font is not None and len(covered) > max_per_font:
            keep = np.sort(rng.choice(len(covered), max_per_font, replace=False))
            covered = [covered[i] for i in keep]
        preset = distortion
        if distortion == "auto":
            preset = "handwriting" if font.style == "handwriting" else "none"
        for char in covered:
            glyph = kfonts.render_glyph(font, char, size=size)
            images.append(glyph if preset == "none" else augment.augment(glyph, rng, preset))
            labels.append(char)
            groups.append(font.name)
    if not images:
        raise ValueError(f"No font covers any syllable of charset {charset!r}")
    return np.stack(images), np.array(labels, dtype="<U1"), np.array(groups)


# ----------------------------------------------------------------------------- prediction


@dataclass
class Predictions:
    """One forward pass over an image set.

    Attributes:
        images: normalised uint8 (N, S, S), what the network saw.
        probs: per-head softmax outputs.
        ranked: the top-n syllables of each image, best first.
        components: ``initial`` / ``medial`` / ``final`` -> (N,) predicted jamo index (argmax
            of each head for split models; the decomposed top-1 syllable otherwise).
    """

    images: np.ndarray
    probs: list[np.ndarray]
    ranked: list[list[str]]
    components: dict[str, np.ndarray]

    @property
    def top1(self) -> np.ndarray:
        return np.array([row[0] for row in self.ranked], dtype="<U1")


def normalise_for(
    ocr, images, normalised: bool, batch_size: int = 256, progress: bool = True, margin: float | None = None
):
    """The model's input for ``images``: checked as-is if ``normalised``, else preprocessed.

    ``margin`` (test-time augmentation) places the glyphs with another margin; patches
    (``normalised``) are then placed again from their ink.
    """
    size = ocr.config.image_size
    if normalised and margin is not None:
        normalise_for(ocr, images, True)  # check the patches first
        normalised = False
    if normalised:
        arr = np.asarray(images)
        if arr.ndim != 3 or arr.shape[1:] != (size, size) or arr.dtype != np.uint8:
            raise ValueError(
                f"Normalised images must be uint8 (N, {size}, {size}) for this {size} px model. "
                f"Received: dtype={arr.dtype}, shape={arr.shape}. Rebuild the patches at "
                f"--image_size {size} or pass raw images (normalised=False)."
            )
        return arr
    out = []
    with tqdm(total=len(images), desc="normalise", unit="img", disable=not progress) as bar:
        for b in range(0, len(images), batch_size):
            chunk = images[b : b + batch_size]
            out.append(ocr.preprocess(list(chunk) if isinstance(chunk, np.ndarray) else chunk, margin)[0])
            bar.update(len(chunk))
    return np.concatenate(out)


def predict_arrays(
    ocr,
    images,
    top_n: int = 5,
    normalised: bool = False,
    charset: str | Sequence[str] | None = None,
    batch_size: int = 256,
    progress: bool = True,
    backend: str = "auto",
    tta: bool = False,
) -> Predictions:
    """Runs ``ocr`` over an image set with a progress bar.

    Args:
        ocr: a :class:`model.KoOCR`.
        images: raw images (anything ``ocr.preprocess`` takes, as a batch) or, with
            ``normalised=True``, uint8 (N, S, S) already at the model's size (patches).
        top_n: candidates kept per image.
        normalised: skip normalisation (the size must match the model).
        charset: restrict split-model decoding (default: all 11,172 syllables).
        batch_size: images per forward pass.
        progress: show tqdm bars.
        backend: what runs the network (see :meth:`model.KoOCR.probabilities`).
        tta: average over the glyphs placed with :meth:`model.KoOCR.tta_margins`.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1. Received: top_n={top_n}")
    x = normalise_for(ocr, images, normalised, batch_size, progress)
    views = [x]
    if tta:
        margins = ocr.tta_margins()
        views = [x if m == ocr.config.margin else normalise_for(ocr, images, normalised, batch_size, progress, m) for m in margins]
    parts: list[list[np.ndarray]] = []
    with tqdm(total=len(x), desc="predict", unit="img", disable=not progress) as bar:
        for b in range(0, len(x), batch_size):
            chunk = [v[b : b + batch_size] for v in views]
            parts.append(ocr.tta_probabilities(chunk, batch_size, backend=backend))
            bar.update(min(batch_size, len(x) - b))
    probs = [np.concatenate(p) for p in zip(*parts, strict=True)]
    if ocr.config.split_components:
        restrict = hangul.load_charset(charset) if charset is not None else None
        ranked = decode.top_n_split(probs, top_n, restrict)
        components = {name: p.argmax(axis=1) for name, p in zip(COMPONENTS, probs, strict=True)}
    else:
        if charset is not None:
            raise ValueError("charset= restricts split-component decoding only")
        ranked = decode.top_n_single(probs[0], ocr.charset, top_n)
        parts_ = np.array([hangul.decompose(row[0][0]) for row in ranked]).reshape(-1, 3)
        components = {name: parts_[:, i] for i, name in enumerate(COMPONENTS)}
    ranked = [[s for s, _ in row] for row in ranked]
    return Predictions(x, probs, ranked, components)


# ----------------------------------------------------------------------------- accuracy


def _rates(hit1: np.ndarray, hitn: np.ndarray) -> dict:
    count = int(len(hit1))
    return {
        "count": count,
        "top1": float(hit1.mean()) if count else None,
        "topn": float(hitn.mean()) if count else None,
    }


def truth_components(labels: Sequence[str]) -> dict[str, np.ndarray]:
    """``initial`` / ``medial`` / ``final`` -> (N,) jamo index of each label."""
    parts = np.array([hangul.decompose(c) for c in labels], dtype=np.int64).reshape(-1, 3)
    return {name: parts[:, i] for i, name in enumerate(COMPONENTS)}


def accuracy_metrics(
    pred: Predictions,
    labels: Sequence[str],
    groups: Sequence[str] | None = None,
    split: bool = True,
) -> dict:
    """Top-1 / top-n overall, per group, per jamo component and inside / outside KS X 1001.

    Returns:
        ``{"samples", "top_n", "top1", "topn", "groups": {name: {count, top1, topn}},
        "components": {"source", "initial", "medial", "final"},
        "ks_x_1001": {"inside": {...}, "outside": {...}}}``; rates of empty sets are None.
    """
    labels = np.asarray(labels)
    if len(labels) != len(pred.ranked):
        raise ValueError(f"{len(pred.ranked)} predictions but {len(labels)} labels")
    hit1 = np.array([row[0] == t for row, t in zip(pred.ranked, labels, strict=True)], bool)
    hitn = np.array([t in row for row, t in zip(pred.ranked, labels, strict=True)], bool)
    overall = _rates(hit1, hitn)
    metrics = {
        "samples": overall["count"],
        "top_n": len(pred.ranked[0]) if pred.ranked else 0,
        "top1": overall["top1"],
        "topn": overall["topn"],
    }
    if groups is not None:
        groups = np.asarray(groups)
        metrics["groups"] = {
            str(g): _rates(hit1[groups == g], hitn[groups == g])
            for g in sorted(set(groups.tolist()))
        }
    truth = truth_components(labels)
    metrics["components"] = {"source": "heads" if split else "decoded top-1"}
    for name in COMPONENTS:
        metrics["components"][name] = float(np.mean(pred.components[name] == truth[name]))
    inside = np.array([hangul.is_ks_x_1001(c) for c in labels], bool)
    metrics["ks_x_1001"] = {
        "inside": _rates(hit1[inside], hitn[inside]),
        "outside": _rates(hit1[~inside], hitn[~inside]),
    }
    return metrics


def evaluate_arrays(
    ocr,
    images,
    labels: Sequence[str],
    groups: Sequence[str] | None = None,
    top_n: int = 5,
    normalised: bool = False,
    charset: str | Sequence[str] | None = None,
    batch_size: int = 256,
    progress: bool = True,
) -> dict:
    """Accuracy metrics of ``ocr`` on an image set (see :func:`accuracy_metrics`).

    Raw images (rendered glyphs, photos) are normalised first; ``normalised=True`` feeds
    patches straight to the network after checking their size.

    Example:
        >>> images, labels, groups = load_patch_set("./val_data")  # doctest: +SKIP
        >>> evaluate_arrays(ocr, images, labels, groups, normalised=True)["groups"]  # doctest: +SKIP
        {'printed': {'count': 5000, 'top1': 0.97, 'topn': 0.99}, ...}
    """
    pred = predict_arrays(ocr, images, top_n, normalised, charset, batch_size, progress)
    return accuracy_metrics(pred, labels, groups, ocr.config.split_components)


# ----------------------------------------------------------------------------- confusion


def component_confusions(pred: Predictions, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Row-normalised (true class) confusion matrices 19x19, 21x21 and 28x28."""
    from sklearn.metrics import confusion_matrix

    truth = truth_components(labels)
    return {
        name: confusion_matrix(
            truth[name], pred.components[name], labels=np.arange(size), normalize="true"
        )
        for name, size in hangul.COMPONENT_SIZES.items()
    }


def confused_pairs(labels: Sequence[str], top1: Sequence[str]) -> list[dict]:
    """Every (truth, predicted) pair of a wrong top-1, most frequent first.

    Each row: ``truth``, ``predicted``, ``count``, ``truth_count`` (samples of the truth)
    and ``rate`` (count / truth_count).
    """
    totals = Counter(labels)
    pairs = Counter((t, p) for t, p in zip(labels, top1, strict=True) if t != p)
    rows = [
        {"truth": t, "predicted": p, "count": n, "truth_count": totals[t], "rate": n / totals[t]}
        for (t, p), n in pairs.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], -r["rate"], r["truth"], r["predicted"]))


def write_confused_pairs(rows: list[dict], csv_path: str, md_path: str, limit: int = 30) -> None:
    """All pairs to CSV, the ``limit`` most frequent to a markdown table."""
    fields = ["truth", "predicted", "count", "truth_count", "rate"]
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows({**r, "rate": f"{r['rate']:.4f}"} for r in rows)
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write(_md_table(rows[:limit]) if rows else "No confused syllables.\n")


def _md_table(rows: list[dict]) -> str:
    lines = ["| truth | predicted | count | of truth | rate |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['truth']} | {r['predicted']} | {r['count']} | {r['truth_count']} | {r['rate']:.1%} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- plots


@functools.lru_cache(maxsize=1)
def hangul_font_family() -> tuple[str, ...]:
    """Registers a Korean font with matplotlib; returns the families to plot with.

    The shipped printed font from ``fonts/`` comes first, then a system Korean font if
    the manifest is missing, then DejaVu Sans for symbols such as '∅'.
    """
    from matplotlib import font_manager

    families: list[str] = []
    try:
        path = kfonts.korean_font_path()
        font_manager.fontManager.addfont(path)
        families.append(font_manager.FontProperties(fname=path).get_name())
    except (FileNotFoundError, ValueError) as err:
        available = {f.name for f in font_manager.fontManager.ttflist}
        families.extend(name for name in _SYSTEM_KOREAN if name in available)
        if not families:
            warnings.warn(
                f"No Korean font for plots ({err}); Hangul labels will draw as boxes",
                stacklevel=2,
            )
    return (*families, "DejaVu Sans")


def _rc() -> dict:
    return {"font.family": list(hangul_font_family()), "axes.unicode_minus": False}


def plot_confusion(matrix: np.ndarray, names: Sequence[str], title: str, path: str) -> str:
    """A normalised confusion heatmap with Hangul tick labels, saved as PNG."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    with rc_context(_rc()):
        side = 3.0 + 0.28 * len(names)
        fig = Figure(figsize=(side + 1.2, side), layout="constrained")
        ax = fig.add_subplot()
        display = ConfusionMatrixDisplay(matrix, display_labels=list(names))
        display.plot(ax=ax, include_values=False, cmap="Blues", colorbar=True)
        display.im_.set_clim(0, 1)
        ax.tick_params(labelsize=11)
        ax.set_title(title)
        fig.savefig(path, dpi=100)
    return path


def plot_wrong_examples(
    images: np.ndarray,
    labels: Sequence[str],
    ranked: Sequence[Sequence[str]],
    path: str,
    max_examples: int = 48,
    cols: int = 8,
    seed: int = 0,
) -> str:
    """A grid of misread images titled with truth and top-3; a seeded subset if there are many.

    Titles are orange when the truth is in the top-3, red otherwise.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    wrong = [i for i, (t, row) in enumerate(zip(labels, ranked, strict=True)) if row[0] != t]
    if len(wrong) > max_examples:
        wrong = sorted(np.random.default_rng(seed).choice(wrong, max_examples, replace=False))
    with rc_context(_rc()):
        if not wrong:
            fig = Figure(figsize=(4, 1.5))
            fig.text(0.5, 0.5, f"No wrong examples among {len(labels)}", ha="center", va="center")
            fig.savefig(path, dpi=100)
            return path
        rows = -(-len(wrong) // cols)
        ncols = min(cols, len(wrong))
        fig = Figure(figsize=(1.6 * ncols, 2.0 * rows), layout="constrained")
        axes = fig.subplots(rows, ncols, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, i in zip(axes.flat, wrong, strict=False):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            top3 = " ".join(ranked[i][:3])
            color = "darkorange" if labels[i] in ranked[i][:3] else "crimson"
            ax.set_title(f"true {labels[i]}\nread {top3}", fontsize=10, color=color)
        fig.savefig(path, dpi=100)
    return path


def plot_augmentation(images: np.ndarray, path: str, seed: int = 0, count: int = 6) -> str:
    """Rows of sample glyphs, one column per augmentation preset (what training sees)."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(images), min(count, len(images)), replace=False))
    presets = list(augment.PRESETS)
    fig = Figure(figsize=(1.6 * len(presets), 1.6 * len(pick) + 0.4), layout="constrained")
    axes = fig.subplots(len(pick), len(presets), squeeze=False)
    for r, i in enumerate(pick):
        for c, name in enumerate(presets):
            out = augment.augment(np.asarray(images[i], np.uint8), rng, name)
            axes[r, c].imshow(out, cmap="gray", vmin=0, vmax=255)
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
    fig.savefig(path, dpi=100)
    return path


# ----------------------------------------------------------------------------- report


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def format_report(metrics: dict, files: dict[str, str]) -> str:
    """A short markdown summary: tables of the numbers and links to the PNGs."""
    out = ["# KoOCR evaluation", ""]
    model = metrics.get("model", {})
    if model:
        out += [
            f"Model: `{model.get('network_type')}` @ {model.get('image_size')} px, "
            f"{'split jamo heads' if model.get('split_components') else 'single head'}, "
            f"fc_link {model.get('fc_link')}, weights `{model.get('weights')}`.",
            f"Data: {metrics.get('data', '?')}",
            "",
        ]
    if "top1" in metrics:
        n = metrics["top_n"]
        out += ["## Accuracy", "", f"| set | samples | top-1 | top-{n} |", "|---|---:|---:|---:|"]
        out.append(
            f"| all | {metrics['samples']} | {_pct(metrics['top1'])} | {_pct(metrics['topn'])} |"
        )
        for name, r in metrics.get("groups", {}).items():
            out.append(f"| {name} | {r['count']} | {_pct(r['top1'])} | {_pct(r['topn'])} |")
        for name, r in metrics["ks_x_1001"].items():
            out.append(
                f"| {name} KS X 1001 | {r['count']} | {_pct(r['top1'])} | {_pct(r['topn'])} |"
            )
        comp = metrics["components"]
        out += [
            "",
            f"Jamo accuracy ({comp['source']}): "
            + ", ".join(f"{c} {_pct(comp[c])}" for c in COMPONENTS),
            "",
        ]
    if "confusion" in metrics:
        out += ["## Confusion", ""]
        top = metrics["confusion"]["top_pairs"]
        out += [_md_table(top) if top else "No confused syllables.", ""]
    if "benchmark" in metrics:
        from koocr.benchmark import format_report as bench_report

        out += ["## Speed and size", "", "```", bench_report(metrics["benchmark"]), "```", ""]
    if files:
        out += ["## Files", ""]
        out += [
            f"- {label}: [{os.path.basename(p)}]({os.path.basename(p)})"
            for label, p in files.items()
        ]
        out += [""] + [
            f"![{label}]({os.path.basename(p)})" for label, p in files.items() if p.endswith(".png")
        ]
    return "\n".join(out) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serialisable: {type(value).__name__}")


# ----------------------------------------------------------------------------- all together


def run_evaluation(
    ocr,
    images,
    labels: Sequence[str],
    groups: Sequence[str] | None,
    output: str,
    methods: Sequence[str] = METHODS,
    normalised: bool = False,
    top_n: int = 5,
    cam_n: int = 10,
    charset: str | Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    benchmark_args: dict | None = None,
    data_description: str = "",
    progress: bool = True,
    backend: str = "auto",
    tta: bool = False,
) -> dict:
    """Runs the chosen ``methods`` and writes everything into ``output``.

    Files: ``metrics.json`` and ``report.md`` always; ``wrong_examples.png`` (accuracy);
    ``confusion_{initial,medial,final}.png``, ``confused_pairs.csv`` / ``.md`` (confusion);
    ``class_activation.png`` (class_activation); ``augmentation.png`` (show_augmentation).

    Args:
        ocr: the model.
        images, labels, groups: the set (``groups`` names a source or font per sample).
        output: the folder to write (created).
        methods: a subset of :data:`METHODS`.
        normalised: ``images`` are patches already at the model's size.
        top_n: candidates counted for top-n accuracy.
        cam_n: how many samples the CAM grid shows.
        charset: restrict split-model decoding.
        seed: seeds every random pick (CAM samples, wrong-example subset, augmentation).
        batch_size: images per forward pass.
        benchmark_args: keyword arguments of :func:`koocr.benchmark.benchmark`.
        data_description: one line naming the data, for the report.
        progress: tqdm bars.
        backend: what runs the network for the predictions (see
            :meth:`model.KoOCR.probabilities`); recorded in ``metrics.json``.
        tta: test-time augmentation over :meth:`model.KoOCR.tta_margins` (recorded too).

    Returns:
        The metrics written to ``metrics.json``.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"Unknown methods {unknown}; expected some of {METHODS}")
    labels = np.asarray(labels)
    os.makedirs(output, exist_ok=True)
    files: dict[str, str] = {}
    cfg = ocr.config
    runs = ocr.resolve_backend(backend)
    metrics: dict = {
        "model": {
            "weights": ocr.weights_path,
            "network_type": cfg.network_type,
            "image_size": cfg.image_size,
            "split_components": cfg.split_components,
            "fc_link": cfg.fc_link,
        },
        "data": data_description,
        "methods": list(methods),
        "backend": runs,
        "litert_quantize": ocr.litert_quantize if runs == "litert" else None,
        "tta_margins": list(ocr.tta_margins()) if tta else None,
    }
    pred = None
    if {"accuracy", "confusion_matrix", "class_activation"} & set(methods):
        pred = predict_arrays(ocr, images, top_n, normalised, charset, batch_size, progress, backend, tta)

    if "accuracy" in methods:
        metrics.update(accuracy_metrics(pred, labels, groups, cfg.split_components))
        files["wrong examples"] = plot_wrong_examples(
            pred.images, labels, pred.ranked, os.path.join(output, "wrong_examples.png"), seed=seed
        )

    if "confusion_matrix" in methods:
        matrices = component_confusions(pred, labels)
        for name, matrix in matrices.items():
            accuracy = float(np.mean(pred.components[name] == truth_components(labels)[name]))
            files[f"{name} confusion"] = plot_confusion(
                matrix,
                hangul.COMPONENT_NAMES[name],
                f"{name} (accuracy {accuracy:.1%})",
                os.path.join(output, f"confusion_{name}.png"),
            )
        rows = confused_pairs(labels.tolist(), pred.top1.tolist())
        csv_path = os.path.join(output, "confused_pairs.csv")
        md_path = os.path.join(output, "confused_pairs.md")
        write_confused_pairs(rows, csv_path, md_path)
        files["confused pairs (CSV)"] = csv_path
        files["confused pairs (table)"] = md_path
        metrics["confusion"] = {"wrong": int(sum(r["count"] for r in rows)), "top_pairs": rows[:10]}

    if "class_activation" in methods:
        files["class activation"] = _write_cams(ocr, pred, labels, cam_n, seed, output)

    if "show_augmentation" in methods:
        files["augmentation"] = plot_augmentation(
            np.asarray(images), os.path.join(output, "augmentation.png"), seed=seed
        )

    if "benchmark" in methods:
        from koocr.benchmark import benchmark

        sample = np.asarray(images[: min(20, len(images))])
        metrics["benchmark"] = benchmark(ocr, sample, **(benchmark_args or {}))

    metrics["files"] = {label: os.path.basename(p) for label, p in files.items()}
    with open(os.path.join(output, "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(metrics, fh, ensure_ascii=False, indent=2, default=_json_default)
    with open(os.path.join(output, "report.md"), "w", encoding="utf-8") as fh:
        fh.write(format_report(metrics, files))
    return metrics


def _write_cams(ocr, pred: Predictions, labels: np.ndarray, n: int, seed: int, output: str) -> str:
    """Grad-CAM (and direct CAM for pooled heads) per head for the true label of n samples."""
    eligible = np.arange(len(labels))
    if not ocr.config.split_components:  # a single head can only explain its own classes
        members = set(ocr.charset)
        eligible = np.array([i for i in eligible if labels[i] in members], dtype=np.int64)
    if len(eligible) == 0:
        raise ValueError("No sample has a label the model can explain (none in its charset)")
    pick = np.sort(
        np.random.default_rng(seed).choice(eligible, min(n, len(eligible)), replace=False)
    )
    images = pred.images[pick]
    targets = cam.class_targets(ocr, labels[pick].tolist())
    maps = {f"Grad-CAM {h}": m for h, m in cam.grad_cam(ocr.model, images, targets).items()}
    if cam.has_direct_cam(ocr.model):
        direct = cam.direct_cam(ocr.model, images, targets)
        maps.update({f"CAM {h}": m for h, m in direct.items()})
    titles = [f"true {labels[i]}, read {pred.ranked[i][0]}" for i in pick]
    return cam.plot_cam_grid(
        images, titles, maps, os.path.join(output, "class_activation.png"), hangul_font_family()
    )
