"""Data-parallel training over several devices or hosts, and mixed precision.

``strategy="mirrored"`` trains on every local GPU (``tf.distribute.MirroredStrategy``);
``strategy="multiworker"`` on several hosts (``tf.distribute.MultiWorkerMirroredStrategy``,
cluster from ``TF_CONFIG``). Keras 3 ``Model.fit`` fails under MultiWorkerMirroredStrategy
("unsupported type PerReplica"), so both use the custom step below: ``strategy.run`` over
``distribute_datasets_from_function``, with the losses of ``compile_model`` (sparse CE
per head, summed) averaged over the *global* batch.

Every worker reads the same shuffled stream of global batches and keeps its slice of each
(dropping the ragged last batch of each patch group), and batch normalisation is
synchronised across replicas, so N workers compute the same update as one process on the
global batch (up to float round-off; dropout masks are drawn per replica, so with
dropout the runs agree in distribution only). The chief writes ``<log_dir>/checkpoint``
(and ``best``) each epoch; the other workers write theirs to a temp dir, as collective
reads need every worker to take part. Each worker keeps a ``tf.train.CheckpointManager`` state (model + optimizer + epoch)
in ``<log_dir>/backup`` (chief) or ``<log_dir>/backup/worker-<i>``, and a restarted run
resumes from it.

Example (two hosts; see README)::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python train.py --strategy multiworker
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from koocr import data as kdata
from koocr import training
from koocr.optimizers import get_optimizer

STRATEGIES = ("none", "mirrored", "multiworker")
_STRATEGY_CACHE: dict[str, tf.distribute.Strategy] = {}


def get_strategy(name: str) -> tf.distribute.Strategy:
    """``none`` -> the default strategy, ``mirrored`` / ``multiworker`` -> one shared instance.

    A MultiWorkerMirroredStrategy may be created once per process, before any other
    TensorFlow op (it configures the collective runtime), so instances are cached: call
    this first in a multi-worker program.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    if name == "none":
        return tf.distribute.get_strategy()
    if name not in _STRATEGY_CACHE:
        if name == "mirrored":
            # All local GPUs; without any, all logical CPUs (tests split the CPU into two).
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            _STRATEGY_CACHE[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
        else:
            try:
                _STRATEGY_CACHE[name] = tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as err:
                raise RuntimeError(
                    "The multiworker strategy must be created before TensorFlow runs anything: "
                    "call koocr.distribute.get_strategy('multiworker') first (before KoOCR(...))."
                ) from err
    return _STRATEGY_CACHE[name]


def mixed_precision_policy() -> str:
    """``mixed_float16`` on GPU (tensor cores), ``mixed_bfloat16`` on CPU (no loss scaling)."""
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(name: str | None):
    """Sets the global Keras dtype policy inside the block and restores the previous one."""
    previous = keras.config.dtype_policy()
    if name:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def task() -> tuple[str | None, int]:
    """(task type, index) of this process from ``TF_CONFIG``; (None, 0) without a cluster."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief() -> bool:
    """True for the process that writes checkpoints: ``chief``, or worker 0 without a chief."""
    kind, index = task()
    if kind is None or kind == "chief":
        return True
    cluster = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec().as_dict()
    return kind == "worker" and index == 0 and "chief" not in cluster


def build_model(
    build_fn: Callable[[], keras.Model],
    source: keras.Model,
    strategy: tf.distribute.Strategy,
    mixed_precision: bool = False,
) -> keras.Model:
    """Rebuilds ``build_fn()`` inside ``strategy.scope()`` (and a mixed policy) with ``source``'s weights.

    Variables must be created in the scope of the strategy that trains them; the heads
    stay float32 under a mixed policy (``networks`` gives them ``dtype="float32"``).
    """
    with dtype_policy(mixed_precision_policy() if mixed_precision else None), strategy.scope():
        model = build_fn()
    model.set_weights(source.get_weights())
    return model


def _layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def _check_in_sync(strategy, value: float, what: str) -> None:
    """Raises on every worker if ``value`` differs between workers (else training would diverge)."""
    gather = lambda: tf.distribute.get_replica_context().all_gather(  # noqa: E731
        tf.constant([value], tf.float64), axis=0
    )
    values = strategy.experimental_local_results(strategy.run(gather))[0].numpy()
    if values.min() != values.max():
        raise RuntimeError(
            f"Workers disagree on {what} ({sorted(set(values.tolist()))}). Start every worker "
            "with the same seed and weights, and the same <log_dir>/backup state."
        )


def _dataset_fn(stream: kdata.PatchStream, global_batch: int, skip: int = 0):
    example = stream.targets(np.array(["가"]))
    size = stream.image_size
    signature = (
        tf.TensorSpec((None, size, size, 1), tf.float32),
        {k: tf.TensorSpec((None,), tf.int32) for k in example},
    )

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = ctx.get_per_replica_batch_size(global_batch)
        local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        first = ctx.input_pipeline_id * local * per_replica

        def generate():
            seen = 0
            while True:  # every worker draws the same global batches and keeps its slice
                for x, y in stream.batches(global_batch):
                    if len(x) < global_batch:
                        continue
                    seen += 1
                    if seen <= skip:  # resuming: the batches of the finished epochs
                        continue
                    for r in range(local):  # local replicas take consecutive elements
                        s = slice(first + r * per_replica, first + (r + 1) * per_replica)
                        yield x[s], {k: v[s] for k, v in y.items()}

        return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)

    return dataset_fn


def _make_step(model, optimizer, loss_fn, strategy, global_batch: int):
    names = list(model.output_names)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            out = out if isinstance(out, (list, tuple)) else [out]
            per_example = tf.add_n([loss_fn(y[n], o) for n, o in zip(names, out, strict=True)])
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:  # L2: counted once per global step, not once per replica
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        all_ok = tf.ones_like(y[names[0]], tf.bool)
        hits = {}
        for n, o in zip(names, out, strict=True):
            ok = tf.equal(tf.argmax(o, -1, output_type=tf.int32), y[n])
            hits[f"{n}_accuracy"] = tf.reduce_sum(tf.cast(ok, tf.float32))
            all_ok &= ok
        hits["syllable_accuracy"] = tf.reduce_sum(tf.cast(all_ok, tf.float32))
        return loss, hits

    @tf.function
    def step(iterator):
        loss, hits = strategy.run(replica_step, args=next(iterator))
        total = lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)  # noqa: E731
        return total(loss), {k: total(v) / global_batch for k, v in hits.items()}

    return step


def fit(
    model: keras.Model,
    cfg: training.TrainConfig,
    targets: kdata.TargetFn,
    save_fn: Callable[[str, dict], None],
    image_size: int,
    strategy: tf.distribute.Strategy,
    extra_callbacks: list | None = None,
) -> keras.callbacks.History:
    """Trains ``model`` (built in ``strategy.scope()``) with the custom distributed step.

    Same data, losses, checkpoints and logs as :func:`koocr.training.fit`; extra callbacks
    get the epoch hooks only (no per-batch hooks; no TensorBoard).
    """
    keras.utils.set_random_seed(cfg.seed)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise ValueError(
            f"batch_size must be a multiple of the {replicas} replicas. Received: batch_size={cfg.batch_size}"
        )
    stream = kdata.PatchStream(
        cfg.data_path, targets, cfg.patch_size, cfg.sources, cfg.seed, image_size=image_size
    )
    steps = cfg.steps_per_epoch or max(1, stream.num_samples // cfg.batch_size)
    for layer in _layers(model):  # batch statistics over the global batch, as in one process
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    with strategy.scope():
        optimizer = get_optimizer(
            cfg.optimizer,
            training.make_schedule(cfg, steps),
            final_lr=cfg.final_lr,
            **({"weight_decay": cfg.weight_decay} if cfg.weight_decay else {}),
        )
        if model.dtype_policy.name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        loss_fn = training.head_loss(cfg, reduction=None)
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)

    chief = is_chief()
    kind, index = task()
    os.makedirs(cfg.log_dir, exist_ok=True)
    backup_dir = os.path.join(cfg.log_dir, "backup")
    if not chief:
        backup_dir = os.path.join(backup_dir, f"{kind}-{index}")
    state = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(state, backup_dir, max_to_keep=1)
    resuming = manager.latest_checkpoint is not None
    if chief:
        training.check_resume(cfg, resuming)
    if resuming:
        state.restore(manager.latest_checkpoint).expect_partial()
    start = int(epoch_var.numpy())
    if chief and start >= cfg.epochs:  # the backup stays after a run, so a larger --epochs goes on
        warnings.warn(
            f"{cfg.log_dir!r} holds a run that has trained {start} epochs, and epochs={cfg.epochs}: nothing to "
            "train. Raise --epochs to go on with it, or use another log_dir for a new run",
            stacklevel=2,
        )
    _check_in_sync(strategy, float(start), "the epoch to resume from")
    _check_in_sync(strategy, float(sum(np.sum(w, dtype=np.float64) for w in model.get_weights())), "the initial weights")

    write_dir = cfg.log_dir if chief else tempfile.mkdtemp(prefix="koocr-worker-")
    callbacks: list = []
    validation = training.validation_callback(cfg, targets, image_size) if chief else None
    if validation is not None:
        callbacks.append(validation)
    record = training.run_record(cfg)
    callbacks.append(
        training.CheckpointCallback(
            lambda path, info: save_fn(path, {**info, **record}),
            write_dir,
            "val_syllable_accuracy" if validation else None,
            resuming,
        )
    )
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(cfg.log_dir, "training.csv"), append=True))
    history = keras.callbacks.History()
    callbacks += [keras.callbacks.TerminateOnNaN(), *(extra_callbacks or []), history]
    callbacks = keras.callbacks.CallbackList(
        callbacks, model=model, verbose=cfg.verbose, epochs=cfg.epochs, steps=steps
    )

    step = _make_step(model, optimizer, loss_fn, strategy, cfg.batch_size)
    iterator = iter(strategy.distribute_datasets_from_function(_dataset_fn(stream, cfg.batch_size, start * steps)))
    model.stop_training = False
    callbacks.on_train_begin()
    try:
        for epoch in range(start, cfg.epochs):
            callbacks.on_epoch_begin(epoch)
            sums: dict[str, float] = {}
            progress = keras.utils.Progbar(steps, verbose=cfg.verbose if chief else 0)
            for i in range(steps):
                loss, hits = step(iterator)
                logs = {"loss": float(loss), **{k: float(v) for k, v in hits.items()}}
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                progress.update(i + 1, list(logs.items()))
            logs = {k: v / steps for k, v in sums.items()}
            epoch_var.assign(epoch + 1)
            manager.save()
            callbacks.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callbacks.on_train_end()
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    return history
