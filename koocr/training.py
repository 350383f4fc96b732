"""Training loop pieces: compile, callbacks, validation with whole-syllable accuracy.

Every epoch writes weights + config to ``<log_dir>/checkpoint`` (atomic) and a Keras
``BackupAndRestore`` state, so a killed run resumes at the epoch where it stopped.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from koocr import data as kdata
from koocr.optimizers import get_optimizer


@dataclass
class TrainConfig:
    """The knobs of ``KoOCR.train`` (also ``train.py`` flags)."""

    epochs: int = 10
    lr: float = 0.001
    data_path: str = "./data"
    val_path: str | None = "./val_data"
    patch_size: int | None = 10  # patch files shuffled together in memory
    batch_size: int = 128
    optimizer: str = "adabound"
    final_lr: float = 0.1  # AdaBound: the SGD learning rate its bounds converge to
    lr_schedule: str = "constant"  # or "cosine": decays to 1 % over all epochs
    warmup_epochs: float = 0.0  # linear warm-up, in epochs (cosine schedule only)
    weight_decay: float | None = None
    label_smoothing: float = 0.0
    sources: tuple[str, ...] | None = None  # only these patch sources (printed, clova, ...)
    log_dir: str = "logs"
    steps_per_epoch: int | None = None  # None: one pass over the training patches
    max_val_samples: int | None = 20000  # validation cost bound per epoch
    seed: int = 0
    verbose: int = 1
    # none | mirrored (all local GPUs) | multiworker (hosts in TF_CONFIG); see koocr.distribute
    strategy: str = "none"
    # mixed_float16 on GPU / mixed_bfloat16 on CPU; heads stay float32
    mixed_precision: bool = False


def make_schedule(cfg: TrainConfig, steps_per_epoch: int):
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        total = max(1, cfg.epochs * steps_per_epoch)
        warmup = int(cfg.warmup_epochs * steps_per_epoch)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else cfg.lr,
            decay_steps=max(1, total - warmup),
            alpha=0.01,
            warmup_target=cfg.lr if warmup else None,
            warmup_steps=warmup,
        )
    raise ValueError(f"lr_schedule must be 'constant' or 'cosine'. Received: {cfg.lr_schedule!r}")


def head_loss(cfg: TrainConfig, reduction: str | None = "sum_over_batch_size") -> keras.losses.Loss:
    """The loss of each head: sparse cross-entropy, label-smoothed if ``cfg`` asks."""
    if cfg.label_smoothing:
        # Keras' sparse loss has no smoothing; the categorical one does, on one-hot targets.
        return _SmoothedSparseCE(cfg.label_smoothing, reduction=reduction)
    return keras.losses.SparseCategoricalCrossentropy(reduction=reduction)


def compile_model(model: keras.Model, cfg: TrainConfig, steps_per_epoch: int) -> None:
    """Sparse cross-entropy and accuracy for every head."""
    names = model.output_names
    loss = head_loss(cfg)
    opt_kwargs = {"weight_decay": cfg.weight_decay} if cfg.weight_decay else {}
    model.compile(
        optimizer=get_optimizer(
            cfg.optimizer, make_schedule(cfg, steps_per_epoch), final_lr=cfg.final_lr, **opt_kwargs
        ),
        loss={n: loss for n in names},
        metrics={n: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for n in names},
    )


@keras.saving.register_keras_serializable(package="koocr")
class _SmoothedSparseCE(keras.losses.Loss):
    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_sparse_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        n = keras.ops.shape(y_pred)[-1]
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), n)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.smoothing)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


class ValidationCallback(keras.callbacks.Callback):
    """Per-head and whole-syllable accuracy on held-out patches, added to the epoch logs.

    Listed first among the callbacks so CSV, TensorBoard and checkpoints see its keys.
    """

    def __init__(self, images: np.ndarray, targets: dict[str, np.ndarray], batch_size: int = 512):
        super().__init__()
        self.images, self.targets, self.batch_size = images, targets, batch_size

    def evaluate(self) -> dict[str, float]:
        if getattr(self, "_forward_of", None) is not self.model:
            shape = (None, *self.images.shape[1:], 1)
            self._forward = tf.function(
                lambda x: self.model(x, training=False),
                input_signature=[tf.TensorSpec(shape, tf.float32)],
            )
            self._forward_of = self.model
        forward = self._forward
        names = self.model.output_names
        correct = {n: 0 for n in names}
        all_correct = 0
        loss = 0.0
        for b in range(0, len(self.images), self.batch_size):
            x = self.images[b : b + self.batch_size][..., None].astype(np.float32)
            out = forward(tf.constant(x))
            out = out if isinstance(out, (list, tuple)) else [out]
            ok = np.ones(len(x), bool)
            for name, probs in zip(names, out, strict=True):
                probs = probs.numpy()
                truth = self.targets[name][b : b + self.batch_size]
                hit = probs.argmax(1) == truth
                correct[name] += int(hit.sum())
                ok &= hit
                loss -= float(np.log(np.clip(probs[np.arange(len(x)), truth], 1e-7, 1)).sum())
            all_correct += int(ok.sum())
        n = max(1, len(self.images))
        logs = {f"val_{k}_accuracy": v / n for k, v in correct.items()}
        logs["val_syllable_accuracy"] = all_correct / n
        logs["val_loss"] = loss / n
        return logs

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and len(self.images):
            start = time.time()
            logs.update(self.evaluate())
            if self.params.get("verbose", 1):
                summary = ", ".join(f"{k}={v:.4f}" for k, v in logs.items() if k.startswith("val_"))
                print(f"\nepoch {epoch + 1}: {summary} ({time.time() - start:.0f}s)")


class CheckpointCallback(keras.callbacks.Callback):
    """Saves weights + config each epoch (and the best by ``monitor``) through ``save_fn``."""

    def __init__(self, save_fn: Callable[[str, dict], None], log_dir: str, monitor: str | None):
        super().__init__()
        self.save_fn, self.log_dir, self.monitor = save_fn, log_dir, monitor
        self.best = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        info = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        self.save_fn(os.path.join(self.log_dir, "checkpoint"), info)
        value = logs.get(self.monitor) if self.monitor else None
        if value is not None and value > self.best:
            self.best = float(value)
            self.save_fn(os.path.join(self.log_dir, "best"), info)


def validation_callback(
    cfg: TrainConfig, targets: kdata.TargetFn, image_size: int
) -> ValidationCallback | None:
    """A :class:`ValidationCallback` on ``cfg.val_path`` patches, or None without any."""
    if not cfg.val_path:
        return None
    val_paths = kdata.patches.list_patches(cfg.val_path, cfg.sources)
    if not val_paths:
        return None
    images, labels, _ = kdata.load_arrays(val_paths)
    if images.shape[1] != image_size:
        raise ValueError(f"Validation patches are {images.shape[1]}px, model expects {image_size}px")
    if cfg.max_val_samples and len(labels) > cfg.max_val_samples:
        pick = np.random.default_rng(cfg.seed).choice(len(labels), cfg.max_val_samples, replace=False)
        images, labels = images[pick], labels[pick]
    return ValidationCallback(images, targets(labels))


def fit(
    model: keras.Model,
    cfg: TrainConfig,
    targets: kdata.TargetFn,
    save_fn: Callable[[str, dict], None],
    image_size: int,
    extra_callbacks: list | None = None,
) -> keras.callbacks.History:
    """Compiles ``model`` and fits it on patches, resuming from ``<log_dir>/backup``.

    ``cfg.strategy`` other than ``none`` runs :func:`koocr.distribute.fit` instead (build
    ``model`` in that strategy's scope: ``KoOCR.train`` does).
    """
    if cfg.strategy != "none":
        from koocr import distribute  # imports this module

        strategy = distribute.get_strategy(cfg.strategy)
        return distribute.fit(model, cfg, targets, save_fn, image_size, strategy, extra_callbacks)
    keras.utils.set_random_seed(cfg.seed)
    train = kdata.PatchStream(
        cfg.data_path, targets, cfg.patch_size, cfg.sources, cfg.seed, image_size=image_size
    )
    steps = cfg.steps_per_epoch or train.steps(cfg.batch_size)
    compile_model(model, cfg, steps)
    callbacks: list = []
    monitor = "val_syllable_accuracy"
    validation = validation_callback(cfg, targets, image_size)
    if validation is not None:
        callbacks.append(validation)
    if not callbacks:
        monitor = None  # no validation data: no "best" checkpoint, only the last
    os.makedirs(cfg.log_dir, exist_ok=True)
    callbacks += [
        CheckpointCallback(save_fn, cfg.log_dir, monitor),
        keras.callbacks.BackupAndRestore(os.path.join(cfg.log_dir, "backup")),
        keras.callbacks.CSVLogger(os.path.join(cfg.log_dir, "training.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(cfg.log_dir, "fit", time.strftime("%Y%m%d-%H%M%S"))),
        keras.callbacks.TerminateOnNaN(),
        *(extra_callbacks or []),
    ]
    return model.fit(
        train.dataset(cfg.batch_size),
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=cfg.verbose,
        shuffle=False,  # the patch stream shuffles; Keras cannot shuffle a generator
    )
