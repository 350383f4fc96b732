"""Custom Keras layers: learned global pooling for the classification heads.

Both layers are registered serialisable, so ``.keras`` files that use them reload
with the default ``safe_mode``. Each starts out equal to global average pooling
(weights ``1 / (H * W)``) and learns from there.

Example:
    >>> import numpy as np
    >>> layer = GlobalWeightedAveragePooling2D()
    >>> layer(np.ones((2, 6, 6, 8), "float32")).shape
    (2, 8)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _check_spatial(layer: keras.layers.Layer, input_shape) -> tuple[int, int, int]:
    if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
        raise ValueError(
            f"{type(layer).__name__} needs a 4D input with known (H, W, C). "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return tuple(int(d) for d in input_shape[1:])


@keras.saving.register_keras_serializable(package="koocr")
class GlobalWeightedAveragePooling2D(keras.layers.Layer):
    """GWAP (Li et al. 2018): a learned weight per position and channel, then a sum.

    ``out[b, c] = sum_{h, w} kernel[h, w, c] * x[b, h, w, c]``. The kernel has shape
    ``(H, W, C)`` and starts at ``1 / (H * W)``, i.e. as global average pooling.
    Because it is linear, the class activation map of class ``k`` is
    ``kernel * x`` contracted with the head's dense column ``k`` (see
    :func:`pooling_weights`).

    Args:
        kernel_regularizer: Optional regularizer for the pooling weights.
        **kwargs: Base layer arguments (``name``, ``dtype``, ``trainable``).
    """

    def __init__(self, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        height, width, channels = _check_spatial(self, input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(height, width, channels),
            initializer=keras.initializers.Constant(1.0 / (height * width)),
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs):
        return ops.sum(inputs * self.kernel, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["kernel_regularizer"] = keras.regularizers.serialize(self.kernel_regularizer)
        return config


@keras.saving.register_keras_serializable(package="koocr")
class GlobalWeightedOutputAveragePooling2D(keras.layers.Layer):
    """GWOAP: one learned weight per channel, then a sum over positions.

    ``out[b, c] = kernel[c] * sum_{h, w} x[b, h, w, c]``; ``kernel`` has shape ``(C,)``
    and starts at ``1 / (H * W)`` (global average pooling).

    Args:
        kernel_regularizer: Optional regularizer for the pooling weights.
        **kwargs: Base layer arguments (``name``, ``dtype``, ``trainable``).
    """

    def __init__(self, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        height, width, channels = _check_spatial(self, input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(channels,),
            initializer=keras.initializers.Constant(1.0 / (height * width)),
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2)) * self.kernel

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["kernel_regularizer"] = keras.regularizers.serialize(self.kernel_regularizer)
        return config


def pooling_weights(layer: keras.layers.Layer, feature_shape=None) -> np.ndarray:
    """The ``(H, W, C)`` weights a global pooling layer gives each feature value.

    Lets CAM code treat every fc_link alike: ``pooled = sum_hw(weights * features)``.

    Args:
        layer: A GWAP, GWOAP or ``GlobalAveragePooling2D`` layer (built).
        feature_shape: ``(H, W, C)``; defaults to the layer's input shape.

    Returns:
        float32 array of shape ``(H, W, C)``.

    Example:
        >>> pool = model.get_layer("pool")
        >>> cam = np.einsum("hwc,hwc,ck->hwk", pooling_weights(pool), feats, dense_kernel)
    """
    if feature_shape is None:
        feature_shape = tuple(layer.input.shape[1:])
    height, width, channels = (int(d) for d in feature_shape)
    if isinstance(layer, GlobalWeightedAveragePooling2D):
        return np.asarray(ops.convert_to_numpy(layer.kernel), dtype="float32")
    if isinstance(layer, GlobalWeightedOutputAveragePooling2D):
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel), dtype="float32")
        return np.broadcast_to(kernel, (height, width, channels)).copy()
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        return np.full((height, width, channels), 1.0 / (height * width), dtype="float32")
    raise ValueError(
        "pooling_weights expects a GWAP, GWOAP or GlobalAveragePooling2D layer. "
        f"Received: layer={layer.name!r} ({type(layer).__name__})"
    )
