"""Adaptive drop weight (Xiao et al. 2017): magnitude pruning while training.

Xiao et al. built compact handwritten-Chinese recognisers by dropping small weights
during training with a threshold per layer that rises as training goes on, so each layer
loses weights gradually and the rest of the network adapts. Here:

* **Per-layer targets.** Every Conv / Dense kernel ``l`` (``n_l`` weights) gets a final
  drop fraction ``r_l = min(max_fraction, c * sqrt(n_l))``, with ``c`` solved so that
  ``sum n_l r_l = target * sum n_l``: big, redundant layers lose most, small sensitive
  ones (the first conv, the jamo heads) little.
* **Rising thresholds.** Every ``every`` steps the fraction due is
  ``r_l * ramp(progress)``, ``ramp`` cubic from 0 at ``start`` to 1 at ``end`` (fractions
  of training: steps, or elapsed time under a time budget). Layer ``l``'s threshold
  ``t_l`` is raised to the magnitude below which that fraction of its weights lies
  (never lowered), and weights with ``|w| <= t_l`` are masked out for good.
* **Masks stay applied.** Each kernel gets a ``keras.Variable`` mask, and the variable's
  ``constraint`` multiplies the kernel by it after every optimizer step, inside the
  compiled train step, so pruned weights stay exactly zero. The constraints are removed
  when training ends: saved weights are ordinary arrays (zeros included) that load anywhere.

Backends: on TensorFlow the masks are read by the compiled step each time. On JAX the
train step is traced with the mask values of the moment and per-batch callbacks do not
sync state back, so masks (and so the pruning) only move when the step is retraced (each
``fit`` call): use the TensorFlow backend.

Example:
    >>> layer_targets([100, 10000], 0.5)  # doctest: +ELLIPSIS
    [0.05..., 0.50...]
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
from collections.abc import Callable, Sequence

import keras
import numpy as np

PRUNABLE = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
)


def _layers(model: keras.Layer):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers(layer)


def prunable_kernels(model: keras.Model) -> list:
    """The Conv / Dense kernel variables of ``model`` (nested models included), in order."""
    found, seen = [], set()
    for layer in _layers(model):
        if not isinstance(layer, PRUNABLE):
            continue
        for var in layer.trainable_weights:
            if len(var.shape) >= 2 and "kernel" in var.name and id(var) not in seen:
                seen.add(id(var))
                found.append(var)
    return found


def layer_targets(sizes: Sequence[int], target: float, max_fraction: float = 0.95) -> list[float]:
    """Per-layer final drop fractions ``min(max_fraction, c sqrt(n))`` averaging ``target``."""
    if not 0.0 <= target < max_fraction:
        raise ValueError(
            f"drop_weight must be in [0, {max_fraction}). Received: drop_weight={target}"
        )
    sizes = np.asarray(sizes, np.float64)
    if target == 0 or not len(sizes):
        return [0.0] * len(sizes)
    total = target * sizes.sum()
    removed = lambda c: np.minimum(max_fraction, c * np.sqrt(sizes)) @ sizes  # noqa: E731
    lo, hi = 0.0, max_fraction / np.sqrt(sizes.min())  # removed(hi) = max_fraction * sum
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if removed(mid) < total else (lo, mid)
    return np.minimum(max_fraction, hi * np.sqrt(sizes)).tolist()


def ramp(progress: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, cubic in between (fast first, gentle last)."""
    if progress <= start:
        return 0.0
    if progress >= end or end <= start:
        return 1.0
    return 1.0 - (1.0 - (progress - start) / (end - start)) ** 3


class _Mask:
    """A variable constraint: ``w * mask`` (applied by the optimizer after each update)."""

    def __init__(self, mask: keras.Variable):
        self.mask = mask

    def __call__(self, w):
        return keras.ops.multiply(w, keras.ops.cast(self.mask, w.dtype))


class AdaptiveDropWeight(keras.callbacks.Callback):
    """Prunes ``model``'s Conv / Dense kernels to ``target`` while it trains (module docstring).

    Args:
        target: overall fraction of the prunable weights removed by ``end``.
        model: the network to prune (default: the model being fit). Pass the plain network
            when fitting a wrapper, e.g. the adversarial one, so only its weights are pruned.
        start, end: fractions of training (steps, or ``progress_fn``) where pruning starts
            and where every layer reaches its target.
        every: steps between threshold raises.
        progress_fn: returns the fraction of training done (e.g. of a time budget);
            default ``step / (epochs * steps_per_epoch)``.
        max_fraction: no layer loses more than this fraction.
        verbose: print the per-layer report when training ends.
    """

    def __init__(
        self,
        target: float,
        model: keras.Model | None = None,
        start: float = 0.1,
        end: float = 0.7,
        every: int = 50,
        progress_fn: Callable[[], float] | None = None,
        max_fraction: float = 0.95,
        verbose: int = 1,
    ):
        super().__init__()
        if not 0.0 <= start <= end <= 1.0:
            raise ValueError(
                f"Expected 0 <= drop_weight_start <= drop_weight_end <= 1. Received: {start}, {end}"
            )
        if every < 1:
            raise ValueError(f"drop_weight_every must be >= 1. Received: {every}")
        layer_targets([1], target, max_fraction)  # validates target
        self.target, self.start, self.end, self.every = target, start, end, int(every)
        self.max_fraction, self.progress_fn, self.verbose = max_fraction, progress_fn, verbose
        self._pruned_model = model
        self.kernels: list = []
        self._epoch, self._report_cache = 0, None

    # ------------------------------------------------------------ training hooks
    @property
    def pruned_model(self) -> keras.Model:
        return self._pruned_model or self.model

    def on_train_begin(self, logs=None):
        self.kernels = prunable_kernels(self.pruned_model)
        self.targets = layer_targets([int(np.prod(v.shape)) for v in self.kernels], self.target, self.max_fraction)
        self.thresholds = [0.0] * len(self.kernels)
        self.masks, self._old_constraints = [], []
        for var in self.kernels:
            w = keras.ops.convert_to_numpy(var)
            # Resumed from a pruned checkpoint: its zeros stay pruned.
            mask = keras.Variable((w != 0).astype("float32"), trainable=False, name=f"{var.name}_mask")
            self.masks.append(mask)
            self._old_constraints.append(var.constraint)
            var.constraint = _Mask(mask)
        steps = (self.params or {}).get("steps") or 1
        self._total_steps = max(1, (self.params or {}).get("epochs", 1) * steps)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch * ((self.params or {}).get("steps") or 0) + batch + 1
        if step % self.every == 0:
            self.update(self.progress(step))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["kept_fraction"] = self.kept_fraction()

    def on_train_end(self, logs=None):
        for var, old in zip(self.kernels, self._old_constraints, strict=True):
            var.constraint = old
        if self.verbose:
            print(format_report(self.report()))

    # ------------------------------------------------------------ pruning
    def progress(self, step: int) -> float:
        if self.progress_fn is not None:
            return float(self.progress_fn())
        return step / self._total_steps

    def update(self, progress: float) -> None:
        """Raises each layer's threshold to the fraction due at ``progress``; masks, zeroes."""
        due = ramp(progress, self.start, self.end)
        for i, (var, mask) in enumerate(zip(self.kernels, self.masks, strict=True)):
            keep = keras.ops.convert_to_numpy(mask).astype(bool)
            w = np.abs(keras.ops.convert_to_numpy(var))
            extra = int(math.floor(self.targets[i] * due * w.size)) - int(w.size - keep.sum())
            if extra <= 0:
                continue
            alive = w[keep]
            threshold = float(np.partition(alive, extra - 1)[extra - 1])
            self.thresholds[i] = max(self.thresholds[i], threshold)
            keep &= w > self.thresholds[i]
            mask.assign(keep.astype("float32"))
            var.assign(keras.ops.convert_to_numpy(var) * keep)
        self._report_cache = None

    def kept_fraction(self) -> float:
        kept = sum(float(np.count_nonzero(keras.ops.convert_to_numpy(m))) for m in self.masks)
        total = sum(int(np.prod(m.shape)) for m in self.masks)
        return kept / max(1, total)

    def report(self) -> dict:
        """Kept fraction per layer and overall, thresholds, and measured sizes (bytes)."""
        if self._report_cache is None:
            self._report_cache = sparsity_report(self.pruned_model, self.kernels, self.thresholds)
            self._report_cache["target"] = self.target
        return self._report_cache


def sparsity_report(model: keras.Model, kernels: Sequence | None = None, thresholds=None) -> dict:
    """Measures how sparse ``model`` is and what that saves on disk.

    Returns a JSON-able dict: ``layers`` (per kernel: weights, kept fraction, threshold),
    ``kept_fraction`` (over the prunable kernels), ``kept_fraction_all`` (over all
    weights), ``dense_bytes`` (float32 of all weights), ``csr_bytes`` (the kernels stored
    as float32 CSR matrices, built and measured with scipy, plus the other weights dense),
    ``weights_file_bytes`` and ``weights_gzip_bytes`` (a file of the model's own weights,
    an uncompressed ``.npz`` without optimizer state, raw and gzip-compressed at level 9).
    """
    from scipy import sparse

    kernels = prunable_kernels(model) if kernels is None else list(kernels)
    kernel_ids = {id(v) for v in kernels}
    layers, csr_bytes, kept_total, prunable_total = {}, 0, 0, 0
    for i, var in enumerate(kernels):
        w = keras.ops.convert_to_numpy(var).astype(np.float32)
        matrix = sparse.csr_matrix(w.reshape(-1, w.shape[-1]))
        csr_bytes += matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
        kept = int(np.count_nonzero(w))
        kept_total, prunable_total = kept_total + kept, prunable_total + w.size
        layers[var.path] = {
            "weights": int(w.size),
            "kept_fraction": kept / w.size,
            "threshold": float(thresholds[i]) if thresholds is not None else None,
        }
    other = [v for v in model.weights if id(v) not in kernel_ids]
    other_count = sum(int(np.prod(v.shape)) for v in other)
    all_count = prunable_total + other_count
    with tempfile.TemporaryDirectory(prefix="koocr-sparsity-") as tmp:
        file = os.path.join(tmp, "weights.npz")  # not save_weights: that adds optimizer state
        np.savez(file, *[keras.ops.convert_to_numpy(v) for v in model.weights])
        with open(file, "rb") as fh:
            raw = fh.read()
    return {
        "layers": layers,
        "kept_fraction": kept_total / max(1, prunable_total),
        "kept_fraction_all": (kept_total + other_count) / max(1, all_count),
        "dense_bytes": 4 * all_count,
        "csr_bytes": int(csr_bytes + 4 * other_count),
        "weights_file_bytes": len(raw),
        "weights_gzip_bytes": len(gzip.compress(raw, compresslevel=9)),
    }


def format_report(report: dict) -> str:
    """The report as a few lines of text for the training log."""
    lines = ["adaptive drop weight: kept fraction per layer (threshold)"]
    for name, row in report["layers"].items():
        thr = f" (|w| <= {row['threshold']:.3g} dropped)" if row.get("threshold") else ""
        lines.append(f"  {name:<40} {row['kept_fraction']:7.2%} of {row['weights']:>8}{thr}")
    lines.append(
        f"  overall: {report['kept_fraction']:.2%} of conv/dense weights kept "
        f"({report['kept_fraction_all']:.2%} of all); dense {report['dense_bytes']:,} B, "
        f"CSR {report['csr_bytes']:,} B, weights file {report['weights_file_bytes']:,} B, "
        f"gzip {report['weights_gzip_bytes']:,} B"
    )
    return "\n".join(lines)
