"""Where a model looks: Grad-CAM per head and, for pooled heads, the direct CAM.

Both maps are computed on the ``"features"`` layer (see :mod:`koocr.networks`):

* **Grad-CAM** (Selvaraju et al. 2017): the gradient of the class logit w.r.t. the
  features, averaged over positions, weights the feature channels; ReLU of the sum.
  Works for every ``fc_link``.
* **Direct CAM** (Zhou et al. 2016, generalised to GWAP / GWOAP): the pooled vector is
  linear in the features, ``pooled = sum_hw(w * features)``, so the logit of class ``k``
  is ``sum_hw sum_c features * w * W[c, k] + b[k]`` (dropout is the identity at
  inference) and the summand is an exact per-position decomposition of the logit.

The logit is the Dense layer's pre-softmax output, computed from its input, so
gradients do not vanish on confident predictions.

Example:
    >>> targets = class_targets(ocr, ["한", "글"])  # doctest: +SKIP
    >>> maps = grad_cam(ocr.model, normalised, targets)  # {"initial": (2, S, S), ...}  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from koocr import hangul
from koocr.layers import (
    GlobalWeightedAveragePooling2D,
    GlobalWeightedOutputAveragePooling2D,
    pooling_weights,
)
from koocr.networks import FEATURES_LAYER, POOL_LAYER

_POOLS = (
    GlobalWeightedAveragePooling2D,
    GlobalWeightedOutputAveragePooling2D,
    keras.layers.GlobalAveragePooling2D,
)


def class_targets(ocr, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Per head, the class index of each true label (what the CAMs explain).

    Split models get ``initial`` / ``medial`` / ``final`` jamo indices; single-head models
    the index in ``ocr.charset``.

    Raises:
        ValueError: a label outside a single-head model's charset.
    """
    if ocr.config.split_components:
        parts = np.array([hangul.decompose(c) for c in labels], dtype=np.int64).reshape(-1, 3)
        return {name: parts[:, i] for i, name in enumerate(hangul.COMPONENT_SIZES)}
    index = {c: i for i, c in enumerate(ocr.charset)}
    missing = [c for c in labels if c not in index]
    if missing:
        raise ValueError(
            f"Labels {missing[:10]} are not in the model's charset ({len(ocr.charset)} syllables)"
        )
    return {"syllable": np.array([index[c] for c in labels], dtype=np.int64)}


def has_direct_cam(model: keras.Model) -> bool:
    """True if the features reach the heads through a linear global pooling (GAP/GWAP/GWOAP)."""
    try:
        return isinstance(model.get_layer(POOL_LAYER), _POOLS)
    except ValueError:
        return False


def _feature_model(model: keras.Model, heads: Sequence[str]) -> keras.Model:
    try:
        features = model.get_layer(FEATURES_LAYER).output
        head_inputs = [model.get_layer(h).input for h in heads]
    except ValueError as err:
        raise ValueError(
            f"CAM needs a layer named {FEATURES_LAYER!r} and Dense heads named {list(heads)}: {err}"
        ) from None
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, [features, *head_inputs], name="cam_features")


def _as_batch(images: np.ndarray) -> tf.Tensor:
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"Expected normalised images (N, S, S). Received shape {images.shape}")
    return tf.constant(images[..., None], dtype=tf.float32)


def _finish(maps: np.ndarray, size: int, upsample: bool, normalise: bool) -> np.ndarray:
    if upsample:
        maps = tf.image.resize(maps[..., None], (size, size), method="bilinear")[..., 0].numpy()
    if normalise:
        maps = np.maximum(maps, 0.0)
        peak = maps.max(axis=(1, 2), keepdims=True)
        maps = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    return maps.astype(np.float32)


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    targets: Mapping[str, np.ndarray],
    upsample: bool = True,
) -> dict[str, np.ndarray]:
    """Grad-CAM of each head for the given classes.

    Args:
        model: a KoOCR network (``"features"`` layer, Dense heads named by ``targets``).
        images: normalised uint8 (N, S, S).
        targets: head name -> (N,) class index per image (see :func:`class_targets`).
        upsample: resize the maps to (S, S); else keep the feature resolution.

    Returns:
        head name -> float32 (N, S, S) maps in [0, 1] (each map divided by its maximum).
    """
    heads = list(targets)
    sub = _feature_model(model, heads)
    x = _as_batch(images)
    with tf.GradientTape(persistent=True) as tape:
        features, *head_inputs = sub(x, training=False)
        scores = {}
        for head, inputs in zip(heads, head_inputs, strict=True):
            dense = model.get_layer(head)
            kernel = tf.convert_to_tensor(dense.kernel, dtype=tf.float32)
            logits = tf.matmul(tf.cast(inputs, tf.float32), kernel)
            one_hot = tf.one_hot(np.asarray(targets[head]), kernel.shape[-1], dtype=tf.float32)
            # Samples are independent at inference, so d(sum)/d(features) is per-sample.
            scores[head] = tf.reduce_sum(logits * one_hot)
    maps = {}
    for head in heads:
        grads = tape.gradient(scores[head], features)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1))
        maps[head] = _finish(cam.numpy(), x.shape[1], upsample, normalise=True)
    del tape
    return maps


def direct_cam(
    model: keras.Model,
    images: np.ndarray,
    targets: Mapping[str, np.ndarray],
    upsample: bool = True,
    normalise: bool = True,
) -> dict[str, np.ndarray]:
    """The exact class activation map of a GAP / GWAP / GWOAP head.

    ``cam[n, h, w] = sum_c features[n, h, w, c] * pool_w[h, w, c] * W[c, k_n]``, so with
    ``upsample=False, normalise=False`` a map sums to the class logit minus its bias.

    Args:
        model: a KoOCR network whose ``"pool"`` layer is GAP, GWAP or GWOAP.
        images: normalised uint8 (N, S, S).
        targets: head name -> (N,) class index per image.
        upsample: resize to (S, S) (bilinear).
        normalise: clip negative evidence and divide each map by its maximum.

    Raises:
        ValueError: the model has no linear global pooling layer.
    """
    if not has_direct_cam(model):
        raise ValueError(
            f"Direct CAM needs a {POOL_LAYER!r} layer of type GAP, GWAP or GWOAP; "
            f"model {model.name!r} has none (fc_link flatten?). Use grad_cam instead."
        )
    pool = model.get_layer(POOL_LAYER)
    weights = pooling_weights(pool)
    heads = list(targets)
    x = _as_batch(images)
    features = np.asarray(_feature_model(model, heads)(x, training=False)[0], dtype=np.float32)
    maps = {}
    for head in heads:
        kernel = np.asarray(keras.ops.convert_to_numpy(model.get_layer(head).kernel), np.float32)
        columns = kernel[:, np.asarray(targets[head])]  # (C, N)
        cam = np.einsum("nhwc,hwc,cn->nhw", features, weights, columns)
        maps[head] = _finish(cam, x.shape[1], upsample, normalise)
    return maps


def plot_cam_grid(
    images: np.ndarray,
    titles: Sequence[str],
    maps: Mapping[str, np.ndarray],
    path: str,
    font_family: Sequence[str] | None = None,
) -> str:
    """Saves a grid PNG: one row per image, the original then each map overlaid on it.

    Args:
        images: normalised uint8 (N, S, S).
        titles: one row label per image (e.g. ``"true 한, read 헌"``).
        maps: column title -> float (N, S, S) maps in [0, 1], e.g. ``"Grad-CAM initial"``.
        path: the PNG to write.
        font_family: matplotlib font families able to draw Hangul (first match wins).

    Returns:
        ``path``.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    rows, cols = len(images), 1 + len(maps)
    rc = {"font.family": list(font_family)} if font_family else {}
    with rc_context(rc):
        fig = Figure(figsize=(1.5 * cols, 1.6 * rows + 0.4), layout="constrained")
        axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
        for r in range(rows):
            axes[r, 0].imshow(images[r], cmap="gray", vmin=0, vmax=255)
            axes[r, 0].set_ylabel(titles[r], fontsize=9)
            for c, (name, stack) in enumerate(maps.items(), start=1):
                axes[r, c].imshow(images[r], cmap="gray", vmin=0, vmax=255)
                axes[r, c].imshow(stack[r], cmap="jet", alpha=0.5, vmin=0, vmax=1)
                if r == 0:
                    axes[r, c].set_title(name, fontsize=8)
            if r == 0:
                axes[r, 0].set_title("image", fontsize=8)
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
        fig.savefig(path, dpi=100)
    return path
