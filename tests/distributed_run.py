"""One training process for ``test_distribute.py``: a tiny model, a few SGD steps, weights to .npz.

    python tests/distributed_run.py MODE DATA LOG_DIR OUT.npz [EPOCHS]

MODE: ``reference`` (the custom loop under the default strategy, one process),
``mirrored`` (2 logical CPU devices) or ``multiworker`` (cluster from ``TF_CONFIG``).
Writes the weights after each epoch to ``OUT-e<epoch>.npz`` and at the end to ``OUT.npz``;
prints one JSON line: the epochs this run trained.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = {"network_type": "compact", "image_size": 32, "network_args": {"width": 0.25, "dropout": 0.0}}
STEPS, BATCH = 2, 8
# Small: one SGD step on this net amplifies float round-off ~100x at lr=0.01 (batch-8 BN).
LR = 0.001


def main(mode: str, data: str, log_dir: str, out: str, epochs: int = 1) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from koocr import data as kdata
    from koocr import distribute, training
    from model import KoOCR

    if mode == "multiworker":
        distribute.get_strategy(mode)  # before any other TensorFlow op

    keras.utils.set_random_seed(0)  # same initial weights in every process
    ocr = KoOCR(**TINY)

    class SaveEachEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            np.savez(f"{out[:-4]}-e{epoch + 1}.npz", *self.model.get_weights())
    kw = dict(
        data_path=data,
        val_path=None,
        batch_size=BATCH,
        optimizer="sgd",
        steps_per_epoch=STEPS,
        patch_size=None,
        log_dir=log_dir,
        verbose=0,
    )
    if mode == "reference":
        cfg = training.TrainConfig(epochs=epochs, lr=LR, **kw)
        save = lambda path, info: ocr.save(path, extra=info)  # noqa: E731
        history = distribute.fit(
            ocr.model, cfg, kdata.jamo_targets, save, 32, tf.distribute.get_strategy(), [SaveEachEpoch()]
        )
    else:
        history = ocr.train(epochs=epochs, lr=LR, strategy=mode, callbacks=[SaveEachEpoch()], **kw)
    np.savez(out, *ocr.model.get_weights())
    print(json.dumps({"epochs": history.epoch}))


if __name__ == "__main__":
    main(*sys.argv[1:5], *[int(a) for a in sys.argv[5:6]])
