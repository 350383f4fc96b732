"""The seed's research methods that change the network: DirectMap input, in-model data
augmentation and attention-based iterative refinement (all off by default).

* **DirectMap** (Zhang, Bengio & Liu 2017): after ``"rescale"`` the ink image gets 8
  direction planes of its gradient (0, 45, ..., 315 degrees, counter-clockwise, y up),
  each gradient vector split onto its two neighbouring directions by the parallelogram
  rule, so the first conv sees 9 channels (layer ``"direct_map"``, :class:`DirectMap`).
* **Data augmentation**: random rotation / zoom / translation / shear of the ink image
  (``"augment_*"`` Keras preprocessing layers, right after ``"rescale"``), active in
  training only; at inference they are the identity.
* **Iterative refinement** (Yang et al. 2017): step 0 is the usual head (fc_link pooling,
  dropout, softmax per head) on the ``"features"`` map F; each later step projects the
  previous step's probabilities (``"refine_query"``), adds a 1x1 projection of F
  (``"refine_key"``), scores every position (``"refine_attention"``, a softmax over H x W),
  re-weights F with it and runs the *same* head again. The model outputs the last step.

All three read their switches from :class:`Methods`, built from a ``ModelConfig`` by
:func:`from_config`; the extra knobs live in ``ModelConfig.method_args``
(:data:`METHOD_ARGS`).

Example:
    >>> from koocr import networks
    >>> m = Methods(direct_map=True, augmentation=AUGMENTATION, refinement_t=3)
    >>> model = networks.build_network("compact", 48, {"syllable": 10}, methods=m)
    >>> model.get_layer("direct_map").output.shape
    (None, 48, 48, 9)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

# Default ranges for 48-96 px glyphs: a slanted or off-centre glyph stays readable.
AUGMENTATION = {
    "rotation": 5.0,  # degrees, +-
    "zoom": 0.1,  # fraction of the side, +- (aspect kept)
    "translation": 0.08,  # fraction of the side, +- in x and y
    "shear": 0.15,  # horizontal shear (slant), +- (keras.layers.RandomShear x_factor)
}
# ModelConfig.method_args keys and their defaults.
METHOD_ARGS = {
    "direct_map_trainable": False,  # learn the two 3x3 gradient filters (Sobel init)
    "direct_map_sigma": 0.0,  # Gaussian smoothing of the planes (px); 0: none, the CNN smooths
    "augmentation": AUGMENTATION,  # ranges, merged over the defaults; 0 drops that layer
}


@dataclass(frozen=True)
class Methods:
    """Which network-side methods a builder adds (the defaults add nothing).

    Attributes:
        direct_map: add the :class:`DirectMap` layer (9 input channels).
        direct_map_trainable: make its gradient filters trainable.
        direct_map_sigma: Gaussian smoothing of the 8 planes, in pixels (0: none).
        augmentation: ranges like :data:`AUGMENTATION`, or None for no augmentation.
        refinement_t: steps of iterative refinement (1: the plain head).
    """

    direct_map: bool = False
    direct_map_trainable: bool = False
    direct_map_sigma: float = 0.0
    augmentation: Mapping[str, float] | None = field(default=None, hash=False)
    refinement_t: int = 1

    def __post_init__(self):
        t = self.refinement_t
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"refinement_t must be an integer >= 1. Received: refinement_t={t!r}")
        sigma = self.direct_map_sigma
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= 10:
            raise ValueError(
                f"direct_map_sigma must be a number in [0, 10] (pixels). Received: {sigma!r}"
            )
        if self.augmentation is not None:
            unknown = sorted(set(self.augmentation) - set(AUGMENTATION))
            bad = {k: v for k, v in self.augmentation.items() if not _in_range(k, v)}
            if unknown or bad:
                raise ValueError(
                    f"augmentation takes {sorted(AUGMENTATION)}: rotation in [0, 180] degrees, "
                    "the others in [0, 1]. "
                    f"Received: augmentation={dict(self.augmentation)!r}"
                )


def _in_range(key: str, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= (180 if key == "rotation" else 1)


def from_config(config) -> Methods:
    """The :class:`Methods` of a ``ModelConfig`` (flags + ``method_args``)."""
    args = dict(getattr(config, "method_args", None) or {})
    unknown = sorted(set(args) - set(METHOD_ARGS))
    if unknown:
        raise ValueError(
            f"Unknown method_args {unknown}; expected some of {sorted(METHOD_ARGS)}"
        )
    augmentation = None
    if config.data_augmentation:
        augmentation = {**AUGMENTATION, **(args.get("augmentation") or {})}
    return Methods(
        direct_map=bool(config.direct_map),
        direct_map_trainable=bool(args.get("direct_map_trainable", False)),
        direct_map_sigma=args.get("direct_map_sigma", 0.0),
        augmentation=augmentation,
        refinement_t=config.refinement_t if config.iterative_refinement else 1,
    )


# ------------------------------------------------------------------------ input side


def apply_input_methods(x, methods: Methods):
    """Augmentation (training only), then DirectMap, on the rescaled ink image."""
    if methods.augmentation is not None:
        for layer in augmentation_layers(methods.augmentation):
            x = layer(x)
    if methods.direct_map:
        x = DirectMap(
            sigma=methods.direct_map_sigma,
            trainable=methods.direct_map_trainable,
            name="direct_map",
        )(x)
    return x


def augmentation_layers(ranges: Mapping[str, float]) -> list[keras.layers.Layer]:
    """Random affine layers for the non-zero ``ranges`` (see :data:`AUGMENTATION`).

    After ``"rescale"`` the background is 0, so uncovered pixels are filled with 0. float32
    under any dtype policy: the resampling needs no mixed precision.
    """
    r = {**AUGMENTATION, **ranges}
    common = dict(fill_mode="constant", fill_value=0.0, dtype="float32")
    layers = []
    if r["rotation"]:
        layers.append(RandomRotation(r["rotation"] / 360.0, name="augment_rotation", **common))
    if r["zoom"]:
        layers.append(RandomZoom((-r["zoom"], r["zoom"]), name="augment_zoom", **common))
    if r["translation"]:
        t = r["translation"]
        layers.append(RandomTranslation(t, t, name="augment_translation", **common))
    if r["shear"]:
        layers.append(RandomShear(x_factor=r["shear"], name="augment_shear", **common))
    return layers


class _TrainingOnly:
    """Random only under ``training=True`` (passed or inherited), like ``Dropout``.

    Keras' random image layers default to ``training=True``, meant for ``tf.data``; inside a
    network that would bake augmentation into anything that calls it without the flag,
    e.g. the SavedModel / ONNX exports.
    """

    def call(self, data, training=False):
        return super().call(data, training=training)


@keras.saving.register_keras_serializable(package="koocr")
class RandomRotation(_TrainingOnly, keras.layers.RandomRotation):
    """``keras.layers.RandomRotation``, identity unless training."""


@keras.saving.register_keras_serializable(package="koocr")
class RandomZoom(_TrainingOnly, keras.layers.RandomZoom):
    """``keras.layers.RandomZoom``, identity unless training."""


@keras.saving.register_keras_serializable(package="koocr")
class RandomTranslation(_TrainingOnly, keras.layers.RandomTranslation):
    """``keras.layers.RandomTranslation``, identity unless training."""


@keras.saving.register_keras_serializable(package="koocr")
class RandomShear(_TrainingOnly, keras.layers.RandomShear):
    """``keras.layers.RandomShear``, identity unless training, whose config reloads.

    Keras 3.15 writes a float factor ``a`` back as ``[-a, a]``, which its own constructor
    refuses (factors must lie in [0, 1]); ``a`` is written instead (the sign is random anyway).
    """

    def get_config(self):
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            config[key] = float(max(abs(v) for v in config[key]))
        return config


def _direction_matrices() -> tuple[np.ndarray, np.ndarray]:
    """(2, 8) maps (gx, gy) -> component along / across each of the 8 directions."""
    angles = np.arange(8) * np.pi / 4
    along = np.stack([np.cos(angles), np.sin(angles)])
    across = np.stack([-np.sin(angles), np.cos(angles)])
    return along.astype("float32"), across.astype("float32")


def _gaussian_kernel(sigma: float, channels: int) -> np.ndarray:
    radius = max(1, math.ceil(2 * sigma))
    t = np.arange(-radius, radius + 1, dtype="float64")
    g = np.exp(-(t**2) / (2 * sigma**2))
    k = np.outer(g, g) / np.outer(g, g).sum()
    return np.repeat(k[:, :, None, None], channels, axis=2).astype("float32")


@keras.saving.register_keras_serializable(package="koocr")
class DirectMap(keras.layers.Layer):
    """The ink image plus its 8 direction-decomposed gradient planes (Zhang et al. 2017).

    Sobel gradients ``(gx, gy)`` (x right, y up; a sharp edge of contrast 1 gives
    magnitude 1) are split onto the two directions ``k * 45`` degrees around them by the
    parallelogram rule, which in closed form is
    ``plane_k = relu(g . e_k - |g x e_k|)``: non-negative, and at most two planes are
    non-zero per pixel. Output channels: the image, then the planes for 0, 45, ..., 315
    degrees. A gradient points from background into ink, so the left edge of a vertical
    stroke lights plane 0 and its right edge plane 4 (180 degrees).

    Args:
        sigma: Gaussian smoothing of the planes in pixels (0: none).
        **kwargs: Base layer arguments; ``trainable=True`` learns the two 3x3 gradient
            filters (Sobel init), the direction split stays exact.
    """

    def __init__(self, sigma: float = 0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.sigma = float(sigma)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: 1})

    def build(self, input_shape):
        sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32") / 4
        sobel_y = -sobel_x.T  # rows grow downwards, y grows up
        self.kernel = self.add_weight(
            name="kernel",
            shape=(3, 3, 1, 2),
            initializer=keras.initializers.Constant(np.stack([sobel_x, sobel_y], -1)[:, :, None]),
        )
        self._along, self._across = _direction_matrices()
        self._smooth = _gaussian_kernel(self.sigma, 8) if self.sigma else None

    def call(self, inputs):
        grad = ops.conv(inputs, self.kernel, padding="same")  # (B, H, W, 2)
        along = ops.matmul(grad, ops.convert_to_tensor(self._along, self.compute_dtype))
        across = ops.matmul(grad, ops.convert_to_tensor(self._across, self.compute_dtype))
        planes = ops.relu(along - ops.abs(across))
        if self._smooth is not None:
            kernel = ops.convert_to_tensor(self._smooth, self.compute_dtype)
            planes = ops.depthwise_conv(planes, kernel, padding="same")
        return ops.concatenate([inputs, planes], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 9)

    def macs(self, input_shape) -> int:
        """Multiply-accumulates per image: Sobel, direction split, smoothing."""
        per_pixel = 9 * 2 + 2 * 16
        if self.sigma:
            per_pixel += int(np.prod(_gaussian_kernel(self.sigma, 1).shape[:2])) * 8
        return int(input_shape[1]) * int(input_shape[2]) * per_pixel

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


# ----------------------------------------------------------------------- refinement


@keras.saving.register_keras_serializable(package="koocr")
class SpatialAttention(keras.layers.Layer):
    """Re-weights a feature map by a softmax over its H x W positions.

    ``call([features, keys, query])`` with features ``(B, H, W, C)``, keys ``(B, H, W, A)``
    (a projection of the features) and query ``(B, A)`` (a projection of the previous
    prediction) returns ``features * H * W * a`` where
    ``a = softmax_hw(tanh(keys + query) . v)`` (:meth:`attention`). The factor ``H * W``
    makes a uniform ``a`` the identity, so any fc_link pooling (flatten, GAP, GWAP,
    GWOAP) reads the re-weighted map as it reads the plain one. ``v`` starts at 0:
    refinement starts equal to the plain head and learns where to look from there.

    Args:
        kernel_regularizer: Optional regularizer for ``v``.
        **kwargs: Base layer arguments.
    """

    def __init__(self, kernel_regularizer=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # a stable softmax under mixed precision
        super().__init__(**kwargs)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        features, keys, query = (tuple(s) for s in input_shape)
        if len(features) != 4 or len(keys) != 4 or features[1:3] != keys[1:3] or None in features[1:]:
            raise ValueError(
                "SpatialAttention needs features (B, H, W, C) and keys (B, H, W, A) of known, "
                f"equal H, W. Received: {features}, {keys}"
            )
        if len(query) != 2 or query[-1] != keys[-1]:
            raise ValueError(f"query must be (B, {keys[-1]}). Received: {query}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(keys[-1]),),
            initializer="zeros",
            regularizer=self.kernel_regularizer,
        )

    def attention(self, keys, query):
        """``(B, H, W)`` attention weights; each map sums to 1."""
        scores = ops.sum(ops.tanh(keys + query[:, None, None, :]) * self.kernel, axis=-1)
        height, width = scores.shape[1], scores.shape[2]
        if height * width == 1:  # a 1x1 map (keras.applications at their minimum size)
            return ops.ones_like(scores)
        weights = ops.softmax(ops.reshape(scores, (-1, height * width)), axis=-1)
        return ops.reshape(weights, (-1, height, width))

    def call(self, inputs):
        features, keys, query = inputs
        weights = self.attention(keys, query)
        scale = float(features.shape[1] * features.shape[2])
        return features * ops.cast(weights[..., None] * scale, features.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def macs(self, input_shape) -> int:
        """Per image: the score ``. v`` and the re-weighting (tanh, softmax ignored)."""
        features, keys, _ = input_shape
        return int(keys[1]) * int(keys[2]) * (int(keys[3]) + int(features[3]))

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


def apply_refinement(
    features,
    outputs: list,
    classify: Callable[..., list],
    steps: int,
    regularizer=None,
) -> list:
    """Runs ``steps - 1`` attention steps after ``outputs`` (step 0) and returns the last.

    One attention module and one head (``classify``: pooling -> dropout -> softmax per
    head) serve every step, as in a recurrent net: the parameters do not grow with
    ``steps``. ``"refine_key"`` projects F once; per step the concatenated probabilities of
    the previous step go through ``"refine_query"`` and ``"refine_attention"``.

    Args:
        features: the ``"features"`` map ``(B, H, W, C)``.
        outputs: step-0 softmax outputs, one per head.
        classify: the head, called on a 4D map, returning one output per head.
        steps: total steps T >= 1 (1 returns ``outputs``).
        regularizer: kernel regularizer of the attention layers.
    """
    if steps <= 1:
        return outputs
    channels = int(features.shape[-1])
    keys = keras.layers.Conv2D(
        channels, 1, use_bias=False, kernel_regularizer=regularizer, name="refine_key"
    )(features)
    query = keras.layers.Dense(channels, kernel_regularizer=regularizer, name="refine_query")
    attend = SpatialAttention(kernel_regularizer=regularizer, name="refine_attention")
    for t in range(1, steps):
        probs = outputs[0]
        if len(outputs) > 1:
            probs = keras.layers.Concatenate(name=f"refine{t}_probs")(outputs)
        outputs = classify(attend([features, keys, query(probs)]))
    return outputs
