"""Hybrid learning: cross-entropy plus a discrimination loss for similar classes.

Kim, Choi & Lee (2016) trained Hangul recognisers (SERI95, PE92) with a hybrid
objective that adds to the usual softmax loss a term aimed at the classes a sample is
confused with. Here that term is a hinge on the log-probability margin between the true
class and its strongest competitors, per head: for a sample with probabilities ``p`` over
``C`` classes and true class ``y``,

    s_j     = log(max(p_j, 1e-7))
    K       = the k classes j != y with the largest p_j     (k = min(top_k, C - 1))
    L_hyb   = (1/k) * sum_{j in K} max(0, margin - (s_y - s_j))
    loss    = CE(y, p) + weight * L_hyb                     (CE label-smoothed if asked)

``L_hyb`` is zero once the true class is at least ``exp(margin)`` times as likely as each
of its k closest rivals, so it only acts on confusable samples (e.g. ㅐ vs ㅔ, or syllables
that differ in one stroke) and leaves easy ones to the cross-entropy. In split mode each
jamo head gets its own term.

Example:
    >>> import numpy as np
    >>> loss = HybridLoss(weight=1.0, margin=1.0, top_k=1, reduction=None)
    >>> p = np.array([[0.5, 0.4, 0.1]], "float32")
    >>> round(float(loss(np.array([0]), p)[0] - loss.cross_entropy(np.array([0]), p)[0]), 4)
    0.7769
"""

from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-7


def margin_loss(y_true, y_pred, margin: float = 1.0, top_k: int = 3):
    """Per-sample ``L_hyb`` of the module docstring: (B,) from int labels and (B, C) probabilities."""
    n = int(y_pred.shape[-1])
    k = min(int(top_k), n - 1)
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    if k < 1:  # one class: nothing to confuse it with
        return ops.zeros(ops.shape(labels), dtype=y_pred.dtype)
    log_p = ops.log(ops.clip(y_pred, EPSILON, 1.0))
    one_hot = ops.one_hot(labels, n, dtype=log_p.dtype)
    true = ops.sum(log_p * one_hot, axis=-1)
    # The true class drops out of the ranking (log p >= log 1e-7 > -1e4).
    rivals, _ = ops.top_k(log_p - 1e4 * one_hot, k)
    return ops.mean(ops.relu(margin - (true[:, None] - rivals)), axis=-1)


@keras.saving.register_keras_serializable(package="koocr")
class HybridLoss(keras.losses.Loss):
    """Sparse cross-entropy + ``weight`` x the similar-class margin loss (module docstring).

    Args:
        weight: factor of the margin term (0: plain cross-entropy).
        margin: wanted ``log p_true - log p_rival`` in nats (1.0: e times as likely).
        top_k: rivals per sample and head.
        label_smoothing: smoothing of the cross-entropy term (not of the margin term).
    """

    def __init__(
        self,
        weight: float = 0.1,
        margin: float = 1.0,
        top_k: int = 3,
        label_smoothing: float = 0.0,
        name: str = "hybrid_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.weight, self.margin, self.top_k = float(weight), float(margin), int(top_k)
        self.label_smoothing = float(label_smoothing)

    def cross_entropy(self, y_true, y_pred):
        n = ops.shape(y_pred)[-1]
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if self.label_smoothing:
            return keras.losses.categorical_crossentropy(
                ops.one_hot(labels, n), y_pred, label_smoothing=self.label_smoothing
            )
        return keras.losses.sparse_categorical_crossentropy(labels, y_pred)

    def call(self, y_true, y_pred):
        ce = self.cross_entropy(y_true, y_pred)
        if not self.weight:
            return ce
        return ce + self.weight * margin_loss(y_true, y_pred, self.margin, self.top_k)

    def get_config(self):
        return {
            **super().get_config(),
            "weight": self.weight,
            "margin": self.margin,
            "top_k": self.top_k,
            "label_smoothing": self.label_smoothing,
        }
