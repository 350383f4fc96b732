"""Adversarial feature learning guided by printed data (Zhang, Liang & Liu 2018).

Printed glyphs are writer-independent; handwriting varies by writer. A small
discriminator reads the network's pooled features and tells handwritten-source samples
from printed-source ones, while the feature extractor, trained to classify, is also
trained to fool it through a gradient reversal layer: features of a handwritten glyph are
pulled towards those of its printed form (DANN-style, one optimizer, one step):

    d       = D(GRL(pool(x)))                   D: Dense(hidden, relu) -> Dense(1, sigmoid)
    loss    = sum_heads CE + BCE(is_printed, d)
    dBCE/dfeatures reaches the extractor as  -ratio * dBCE/dfeatures

The discriminator is a training-time wrapper (:func:`adversarial_model`) that shares the
plain network's layers: saving, predicting and exporting see exactly the plain network,
with the same weights file as without the method. Its accuracy is logged as
``source_accuracy`` (0.5-ish when the features no longer reveal the source; the share of
the majority source is the chance level).

Example:
    >>> from koocr.networks import build_network
    >>> plain = build_network("compact", 32, {"syllable": 3}, width=0.25)
    >>> adversarial_model(plain, ratio=0.15).output_names
    ['syllable', 'source']
"""

from __future__ import annotations

import keras
from keras import ops

from koocr.data import SOURCE_TARGET
from koocr.networks import FEATURES_LAYER, POOL_LAYER


def reverse_gradient(x, ratio: float):
    """Identity forward; the gradient flowing back is multiplied by ``-ratio``."""

    @ops.custom_gradient
    def _reverse(x):
        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow passes it positionally, JAX by keyword
                (upstream,) = args
            return ops.multiply(upstream, ops.cast(-ratio, upstream.dtype))

        return ops.multiply(x, ops.cast(1.0, x.dtype)), grad

    return _reverse(x)


@keras.saving.register_keras_serializable(package="koocr")
class GradientReversal(keras.layers.Layer):
    """Gradient reversal layer (Ganin & Lempitsky 2015): identity, gradient x ``-ratio``.

    Works on the TensorFlow and JAX backends (``keras.ops.custom_gradient``).
    """

    def __init__(self, ratio: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.ratio = float(ratio)

    def call(self, inputs):
        return reverse_gradient(inputs, self.ratio)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


def pooled_features(model: keras.Model):
    """The symbolic tensor the discriminator reads: layer ``pool``, else GAP of ``features``."""
    names = {layer.name for layer in model.layers}
    if POOL_LAYER in names:
        return model.get_layer(POOL_LAYER).output
    if FEATURES_LAYER in names:
        features = model.get_layer(FEATURES_LAYER).output
        return keras.layers.GlobalAveragePooling2D(name="adversarial_gap")(features)
    raise ValueError(
        f"adversarial_learning needs a layer named {POOL_LAYER!r} or {FEATURES_LAYER!r} in "
        f"the network. Received a model {model.name!r} without either."
    )


def adversarial_model(model: keras.Model, ratio: float = 0.15, hidden: int = 128) -> keras.Model:
    """``model``'s outputs plus a discriminator output named ``"source"`` (1 = printed).

    The wrapper shares ``model``'s layers (training it trains ``model``); only the
    discriminator's ``Dense`` layers are its own. Train it, then keep using ``model``.

    Args:
        model: a functional KoOCR network (see :mod:`koocr.networks`).
        ratio: gradient reversal weight (the seed's ``adversarial_ratio``).
        hidden: units of the discriminator's hidden layer.
    """
    if ratio < 0:
        raise ValueError(f"adversarial_ratio must be >= 0. Received: adversarial_ratio={ratio}")
    x = GradientReversal(ratio, name="gradient_reversal")(pooled_features(model))
    x = keras.layers.Dense(hidden, activation="relu", name="discriminator_hidden")(x)
    source = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=SOURCE_TARGET)(x)
    return keras.Model(model.inputs, [*model.outputs, source], name=f"{model.name}_adversarial")
