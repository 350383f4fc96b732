"""Train for a wall-clock budget instead of a step count.

A run given "60 minutes" cannot know in advance how many steps it will make (the machine,
the network and the method all change the speed). :class:`TimeBudget` therefore anneals
the learning rate on *elapsed time*: linear warm-up over the first ``warmup`` fraction of
the budget, then a cosine decay to ``alpha * lr`` that reaches its floor exactly when the
budget is spent, and stops training there. This makes runs of different methods
comparable under one CPU-time budget (the ablation in the README) and lets a GPU job
end in time for its results to be copied back.

The callback has no TensorFlow dependency: it works on every Keras backend. On JAX the
trainer re-reads optimizer state only at epoch starts, so there the learning rate moves
once per epoch (use short epochs); on TensorFlow and torch it moves every
``update_every`` batches.
"""

from __future__ import annotations

import math
import time

import keras


def time_fraction_lr(frac: float, lr: float, warmup: float = 0.05, alpha: float = 0.01) -> float:
    """The learning rate at ``frac`` (elapsed / budget, clipped to [0, 1]) of the budget."""
    frac = min(max(frac, 0.0), 1.0)
    if warmup > 0 and frac < warmup:
        return lr * max(frac / warmup, 0.01)
    span = max(1e-9, 1.0 - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * (frac - warmup) / span))
    return lr * (alpha + (1.0 - alpha) * cosine)


class TimeBudget(keras.callbacks.Callback):
    """Warm-up + cosine learning rate over ``budget_s`` seconds of training, then stop.

    Args:
        budget_s: Seconds of training (time spent before ``on_train_begin`` is not counted).
        lr: Peak learning rate.
        warmup: Fraction of the budget spent warming up linearly.
        alpha: Final learning rate as a fraction of ``lr``.
        elapsed_s: Seconds already spent (a resumed run continues its schedule).
        update_every: Batches between learning-rate updates (not on JAX: per epoch there).
    """

    def __init__(
        self,
        budget_s: float,
        lr: float,
        warmup: float = 0.05,
        alpha: float = 0.01,
        elapsed_s: float = 0.0,
        update_every: int = 20,
    ):
        super().__init__()
        if budget_s <= 0:
            raise ValueError(f"budget_s must be > 0. Received: budget_s={budget_s}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0. Received: lr={lr}")
        self.budget_s = float(budget_s)
        self.lr = float(lr)
        self.warmup = float(warmup)
        self.alpha = float(alpha)
        self.update_every = max(1, int(update_every))
        self._offset = float(elapsed_s)
        self._start = None
        self.steps = 0
        self.stopped_by_budget = False

    @property
    def elapsed_s(self) -> float:
        if self._start is None:
            return self._offset
        return self._offset + time.monotonic() - self._start

    def _set_lr(self) -> None:
        value = time_fraction_lr(self.elapsed_s / self.budget_s, self.lr, self.warmup, self.alpha)
        self.model.optimizer.learning_rate.assign(value)

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self._set_lr()

    def on_epoch_begin(self, epoch, logs=None):
        self._set_lr()

    def on_train_batch_begin(self, batch, logs=None):
        if keras.backend.backend() != "jax" and batch % self.update_every == 0:
            self._set_lr()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.elapsed_s >= self.budget_s:
            self.stopped_by_budget = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["elapsed_s"] = self.elapsed_s
