"""Training loop pieces: compile, callbacks, validation with whole-syllable accuracy.

Every epoch writes weights + config to ``<log_dir>/checkpoint`` (atomic) and a Keras
``BackupAndRestore`` state, so a killed run resumes at the epoch where it stopped.

Training methods (all off by default): hybrid learning (:mod:`koocr.hybrid`, a loss),
adversarial feature learning (:mod:`koocr.adversarial`, a training-time wrapper around
the network), adaptive drop weight (:mod:`koocr.pruning`, a callback) and a wall-clock
budget (:mod:`koocr.timebudget`, a callback that replaces the epoch-based schedule).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from koocr import data as kdata
from koocr.config import check_settings, is_int
from koocr.hybrid import HybridLoss
from koocr.optimizers import get_optimizer
from koocr.timebudget import TimeBudget


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
    # Hybrid learning (koocr.hybrid): weight of the similar-class margin loss added to each
    # head's cross-entropy; 0 = plain cross-entropy.
    hybrid_loss: float = 0.0
    hybrid_margin: float = 1.0  # wanted log p(true) - log p(rival), nats
    hybrid_top_k: int = 3  # rivals per sample and head
    # Adversarial feature learning (KoOCR(adversarial_learning=True), koocr.adversarial):
    # how strongly the features are pushed to hide printed vs handwritten (gradient reversal).
    adversarial_ratio: float = 0.15
    # Adaptive drop weight (koocr.pruning): overall fraction of conv/dense weights removed
    # by drop_weight_end; 0 = off.
    drop_weight: float = 0.0
    drop_weight_start: float = 0.1  # fraction of training (steps or budget) before pruning
    drop_weight_end: float = 0.7  # every layer at its target from here on, then fine-tuning
    drop_weight_every: int = 50  # steps between threshold raises
    # Wall-clock budget in seconds (koocr.timebudget): warm-up + cosine learning rate on
    # elapsed time instead of lr_schedule, stop when spent; epochs is then an upper bound.
    time_budget_s: float | None = None

    def __post_init__(self):
        def whole(value, optional=False):
            return optional if value is None else is_int(value)

        optional = "None or an integer >= 1"
        # name -> (valid?, what is expected). epochs 0 trained nothing and still reported
        # checkpoints; batch_size -1 hung the patch stream and 0 failed inside tf.data.
        check_settings(vars(self), {
            "epochs": (whole(self.epochs), "an integer >= 1"),
            "batch_size": (whole(self.batch_size), "an integer >= 1"),
            "patch_size": (whole(self.patch_size, True), optional),
            "steps_per_epoch": (whole(self.steps_per_epoch, True), optional),
            "max_val_samples": (whole(self.max_val_samples, True), optional),
            "lr": (self.lr > 0, "> 0"),
            "final_lr": (self.final_lr > 0, "> 0"),
            "warmup_epochs": (self.warmup_epochs >= 0, ">= 0"),
            "weight_decay": (self.weight_decay is None or self.weight_decay >= 0, "None or >= 0"),
            "label_smoothing": (0 <= self.label_smoothing < 1, "in [0, 1)"),
            "hybrid_loss": (self.hybrid_loss >= 0, ">= 0"),
            "hybrid_margin": (self.hybrid_margin > 0, "> 0"),
            "hybrid_top_k": (self.hybrid_top_k >= 1, ">= 1"),
            "adversarial_ratio": (self.adversarial_ratio >= 0, ">= 0"),
            "drop_weight": (0 <= self.drop_weight < 0.95, "in [0, 0.95)"),
            "drop_weight_every": (self.drop_weight_every >= 1, ">= 1"),
            "time_budget_s": (self.time_budget_s is None or self.time_budget_s > 0, "None or > 0"),
            "drop_weight_start": (
                0 <= self.drop_weight_start <= self.drop_weight_end <= 1,
                "0 <= drop_weight_start <= drop_weight_end <= 1",
            ),
        })


def check_methods(cfg: TrainConfig, adversarial: bool = False) -> None:
    """Raises for method / strategy combinations that cannot train.

    The distributed loop (:func:`koocr.distribute.fit`) has no per-batch callbacks, no
    compiled ``Model.optimizer`` and no multi-output wrapper, so adversarial learning,
    adaptive drop weight and the time budget need ``strategy="none"`` (mixed precision
    works); hybrid learning is a loss and works everywhere.
    """
    if cfg.strategy == "none":
        return
    used = [
        name
        for name, on in (
            ("adversarial_learning", adversarial),
            ("drop_weight", cfg.drop_weight),
            ("time_budget_s", cfg.time_budget_s),
        )
        if on
    ]
    if used:
        raise ValueError(
            f"{', '.join(used)} need strategy='none' (one process, one device). "
            f"Received: strategy={cfg.strategy!r}"
        )


def parse_duration(text: str | float) -> float:
    """Seconds from ``600``, ``'90s'``, ``'10m'``, ``'1.5h'`` or ``'1h30m'``.

    Raises:
        ValueError: naming the text, for anything else or a duration <= 0.
    """
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        number = r"(\d+(?:\.\d*)?)"
        clean = str(text).strip().lower()
        # A bare number is seconds; after a unit it needs its own ('1h30' was 1 h 30 s).
        parts = re.fullmatch(number, clean) or re.fullmatch(rf"(?:{number}h)?(?:{number}m)?(?:{number}s)?", clean)
        if not parts or not any(parts.groups()):
            raise ValueError(
                f"Expected a duration such as 600, 90s, 10m, 1.5h or 1h30m (every number after the first "
                f"with its unit). Received: {text!r}"
            )
        *hm, sec = (float(g) if g else 0.0 for g in parts.groups())
        h, m = hm if hm else (0.0, 0.0)
        seconds = 3600 * h + 60 * m + sec
    if seconds <= 0:
        raise ValueError(f"A time budget must be > 0 seconds. Received: {text!r}")
    return seconds


def make_schedule(cfg: TrainConfig, steps_per_epoch: int):
    if cfg.lr_schedule == "constant" or cfg.time_budget_s:  # TimeBudget sets the rate
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
    """The loss of each head: sparse cross-entropy, label-smoothed if ``cfg`` asks, plus the
    similar-class margin term of :class:`koocr.hybrid.HybridLoss` if ``cfg.hybrid_loss``."""
    if cfg.hybrid_loss:
        return HybridLoss(
            cfg.hybrid_loss, cfg.hybrid_margin, cfg.hybrid_top_k, cfg.label_smoothing, reduction=reduction
        )
    if cfg.label_smoothing:
        # Keras' sparse loss has no smoothing; the categorical one does, on one-hot targets.
        return _SmoothedSparseCE(cfg.label_smoothing, reduction=reduction)
    return keras.losses.SparseCategoricalCrossentropy(reduction=reduction)


def compile_model(model: keras.Model, cfg: TrainConfig, steps_per_epoch: int) -> None:
    """Sparse cross-entropy (see :func:`head_loss`) and accuracy for every head.

    An output named ``"source"`` (the adversarial discriminator) gets binary cross-entropy
    and binary accuracy instead, logged as ``source_loss`` / ``source_accuracy``.
    """
    names = model.output_names
    loss = head_loss(cfg)
    opt_kwargs = {"weight_decay": cfg.weight_decay} if cfg.weight_decay else {}
    if cfg.optimizer.lower() == "adabound":  # final_lr refers to the peak rate, not a warm-up's 0
        opt_kwargs["base_learning_rate"] = cfg.lr
    source = kdata.SOURCE_TARGET
    model.compile(
        optimizer=get_optimizer(
            cfg.optimizer, make_schedule(cfg, steps_per_epoch), final_lr=cfg.final_lr, **opt_kwargs
        ),
        loss={n: keras.losses.BinaryCrossentropy() if n == source else loss for n in names},
        metrics={
            n: [
                keras.metrics.BinaryAccuracy(name="accuracy")
                if n == source
                else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            ]
            for n in names
        },
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
    ``model`` is the network to evaluate when it differs from the one being fit (the
    plain network inside an adversarial training wrapper).
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: dict[str, np.ndarray],
        batch_size: int = 512,
        model: keras.Model | None = None,
    ):
        super().__init__()
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.eval_model = model

    def evaluate(self) -> dict[str, float]:
        model = self.eval_model or self.model
        if getattr(self, "_forward_of", None) is not model:
            shape = (None, *self.images.shape[1:], 1)
            self._forward = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec(shape, tf.float32)],
            )
            self._forward_of = model
        forward = self._forward
        names = model.output_names
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

    def __init__(self, save_fn: Callable[[str, dict], None], log_dir: str, monitor: str | None, resuming: bool = False):
        super().__init__()
        self.save_fn, self.log_dir, self.monitor = save_fn, log_dir, monitor
        self.best = -math.inf
        if resuming and monitor:  # best/ so far stays unless an epoch beats it
            self.best = _saved_extra(log_dir, "best", monitor, -math.inf)

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
        warnings.warn(
            f"No validation patches in {cfg.val_path!r}"
            + (f" for sources {list(cfg.sources)}" if cfg.sources else "")
            + ": training without validation, so no 'best' checkpoint is kept",
            stacklevel=2,
        )
        return None
    images, labels, _ = kdata.load_arrays(val_paths)
    if images.shape[1] != image_size:
        raise ValueError(f"Validation patches are {images.shape[1]}px, model expects {image_size}px")
    if cfg.max_val_samples and len(labels) > cfg.max_val_samples:
        pick = np.random.default_rng(cfg.seed).choice(len(labels), cfg.max_val_samples, replace=False)
        images, labels = images[pick], labels[pick]
    try:
        y = targets(labels)
    except ValueError as err:  # a label outside a single-softmax charset: name its patch
        try:
            kdata.check_patch_labels(val_paths, targets)
            where = f"{os.fspath(cfg.val_path)!r}: {err}"
        except ValueError as named:
            where = str(named)
        raise ValueError(
            f"validation patch {where}; train with --charset all (or a charset "
            "file that holds it), or leave that patch out of --val_path"
        ) from None
    return ValidationCallback(images, y)


class _BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' backup, with a clear error when the backup belongs to another model."""

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except ValueError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{self.backup_dir!r} holds the backup of an interrupted run whose network or "
                f"optimizer differs from this one ({first}). To resume it, repeat that run's "
                "settings; to start afresh, use another log_dir or delete that backup folder"
            ) from err


def _resuming(log_dir: str) -> bool:
    """Whether ``log_dir`` holds the backup of an interrupted run (Keras deletes it when a run ends)."""
    return os.path.isfile(os.path.join(log_dir, "backup", "training_metadata.json"))


def _saved_extra(log_dir: str, which: str, key: str, default, kind: type = float):
    """``kind(extra[key])`` of ``<log_dir>/<which>/config.json``, or ``default``."""
    try:
        with open(os.path.join(log_dir, which, "config.json"), encoding="utf-8") as fh:
            return kind(json.load(fh)["extra"][key])
    except (OSError, ValueError, KeyError, TypeError):
        return default


def check_resume(cfg: TrainConfig, resuming: bool) -> None:
    """Refuses to resume with another optimizer; warns that a finished run's log_dir is reused."""
    if resuming:
        before = _saved_extra(cfg.log_dir, "checkpoint", "optimizer", None, str)
        if before is not None and before != cfg.optimizer:  # Keras would only warn and start it afresh
            raise ValueError(
                f"{cfg.log_dir!r} holds the backup of an interrupted run with optimizer={before!r}, not "
                f"{cfg.optimizer!r}. To resume it, repeat that run's settings; to start afresh, use another "
                "log_dir or delete its backup folder"
            )
    elif os.path.isfile(os.path.join(cfg.log_dir, "checkpoint", "config.json")):
        warnings.warn(
            f"{cfg.log_dir!r} holds the checkpoint of a finished run (epoch "
            f"{int(_saved_extra(cfg.log_dir, 'checkpoint', 'epoch', 0))}); this run starts afresh and replaces "
            "its checkpoint/ and best/ (training.csv gets its rows after the old ones). Use another "
            "log_dir to keep both",
            stacklevel=4,
        )


def run_record(cfg: TrainConfig) -> dict:
    """What every checkpoint records of its run: the optimizer (a resume with another one
    is refused) and the settings (hybrid loss, time budget ...)."""
    settings = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(cfg).items()
        if isinstance(v, (str, int, float, bool, tuple, type(None)))
    }
    return {"optimizer": cfg.optimizer, "settings": settings}


def _spent_before(log_dir: str) -> float:
    """Budget seconds a killed run had spent (its last checkpoint), if it left a backup."""
    return _saved_extra(log_dir, "checkpoint", "elapsed_s", 0.0) if _resuming(log_dir) else 0.0


class _KeepLearningRate(keras.callbacks.Callback):
    """After a resume, a constant learning rate is the one asked for now: Keras' backup
    restores the interrupted run's (a schedule is rebuilt from the settings anyway)."""

    def __init__(self, lr: float, verbose: int):
        super().__init__()
        self.lr, self.verbose = lr, verbose

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return
        restored = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if not math.isclose(restored, self.lr, rel_tol=1e-6):
            optimizer.learning_rate = self.lr
            if self.verbose:
                print(f"Resuming with learning rate {self.lr:g} (the interrupted run used {restored:g})")


def fit(
    model: keras.Model,
    cfg: TrainConfig,
    targets: kdata.TargetFn,
    save_fn: Callable[[str, dict], None],
    image_size: int,
    extra_callbacks: list | None = None,
    adversarial: bool = False,
) -> keras.callbacks.History:
    """Compiles ``model`` and fits it on patches, resuming from ``<log_dir>/backup``.

    ``cfg.strategy`` other than ``none`` runs :func:`koocr.distribute.fit` instead (build
    ``model`` in that strategy's scope: ``KoOCR.train`` does).

    ``adversarial=True`` fits :func:`koocr.adversarial.adversarial_model` around ``model``
    (``extra_callbacks`` then see that wrapper as ``self.model``); checkpoints, validation
    and pruning always work on ``model`` itself. ``cfg.drop_weight`` adds
    :class:`koocr.pruning.AdaptiveDropWeight` (its report goes into the checkpoints'
    ``extra["drop_weight"]``); ``cfg.time_budget_s`` adds :class:`koocr.timebudget.TimeBudget`,
    and a run it stops mid-epoch still ends with that epoch's checkpoint.
    """
    check_methods(cfg, adversarial)
    if cfg.strategy != "none":
        from koocr import distribute  # imports this module

        strategy = distribute.get_strategy(cfg.strategy)
        return distribute.fit(model, cfg, targets, save_fn, image_size, strategy, extra_callbacks)
    keras.utils.set_random_seed(cfg.seed)
    train = kdata.PatchStream(
        cfg.data_path,
        targets,
        cfg.patch_size,
        cfg.sources,
        cfg.seed,
        image_size=image_size,
        with_source=adversarial,
    )
    steps = cfg.steps_per_epoch or train.steps(cfg.batch_size)
    resuming = _resuming(cfg.log_dir)
    check_resume(cfg, resuming)
    if resuming:  # go on with the pass over the data the interrupted run had reached, not the first
        done = int(_saved_extra(cfg.log_dir, "checkpoint", "epoch", 0))
        train.skip_passes(done * steps * cfg.batch_size // train.num_samples)
    trainer = model
    if adversarial:
        from koocr import adversarial as kadv  # imports koocr.networks

        found = {kdata.patches.source_of(p) == "printed" for p in train.paths}
        if found != {True, False}:
            raise ValueError(
                "adversarial_learning needs printed_*.pickle and handwritten_ / clova_ patches "
                f"in data_path. Received only {'printed' if True in found else 'handwritten'} "
                f"ones in {cfg.data_path!r}"
            )
        trainer = kadv.adversarial_model(model, cfg.adversarial_ratio)
    compile_model(trainer, cfg, steps)
    callbacks: list = []
    monitor = "val_syllable_accuracy"
    validation = validation_callback(cfg, targets, image_size)
    if validation is not None:
        validation.eval_model = model
        callbacks.append(validation)
    if not callbacks:
        monitor = None  # no validation data: no "best" checkpoint, only the last
    os.makedirs(cfg.log_dir, exist_ok=True)
    budget = pruner = None
    if cfg.time_budget_s:
        budget = TimeBudget(cfg.time_budget_s, cfg.lr, elapsed_s=_spent_before(cfg.log_dir))
        callbacks.append(budget)  # before the checkpoints: they record lr and elapsed_s
    if cfg.drop_weight:
        from koocr.pruning import AdaptiveDropWeight

        pruner = AdaptiveDropWeight(
            cfg.drop_weight,
            model=model,
            start=cfg.drop_weight_start,
            end=cfg.drop_weight_end,
            every=cfg.drop_weight_every,
            progress_fn=(lambda: budget.elapsed_s / budget.budget_s) if budget else None,
            verbose=cfg.verbose,
        )

    record = run_record(cfg)

    def save(path: str, info: dict) -> None:
        info = {**info, **record}
        if pruner is not None:
            info = {**info, "drop_weight": pruner.report()}
        if budget is not None:
            info = {**info, "stopped_by_budget": budget.stopped_by_budget}
        save_fn(path, info)

    checkpoints = CheckpointCallback(save, cfg.log_dir, monitor, resuming)
    callbacks += [
        checkpoints,
        _BackupAndRestore(os.path.join(cfg.log_dir, "backup")),
        # a time budget sets the rate itself at every step
        *([_KeepLearningRate(cfg.lr, cfg.verbose)] if resuming and not cfg.time_budget_s else []),
        # after the restore (a resumed run keeps its zeros pruned), before the CSV log
        *([pruner] if pruner is not None else []),
        keras.callbacks.CSVLogger(os.path.join(cfg.log_dir, "training.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(cfg.log_dir, "fit", time.strftime("%Y%m%d-%H%M%S"))),
        keras.callbacks.TerminateOnNaN(),
        *(extra_callbacks or []),
    ]
    dataset = train.dataset(cfg.batch_size)
    if not isinstance(trainer.output, (list, tuple)):  # one head: Keras wants y, not {name: y}
        (name,) = trainer.output_names
        dataset = dataset.map(lambda x, y: (x, y[name]))
    return trainer.fit(
        dataset,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=cfg.verbose,
        shuffle=False,  # the patch stream shuffles; Keras cannot shuffle a generator
    )
