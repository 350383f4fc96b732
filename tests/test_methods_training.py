"""Training methods: adversarial learning, hybrid loss, adaptive drop weight, time budget."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from koocr import data as kdata
from koocr import distribute, hybrid, patches, training
from koocr import weights as kweights
from koocr.adversarial import GradientReversal
from koocr.preprocess import normalize
from koocr.pruning import layer_targets, prunable_kernels
from model import KoOCR

CHARS = "가나다한"
TINY = {"network_type": "compact", "image_size": 32, "network_args": {"width": 0.25}}


@pytest.fixture(scope="module")
def data(render, tmp_path_factory):
    """Printed and clova (handwriting-style) patches of 4 syllables, plus printed validation."""
    root = tmp_path_factory.mktemp("methods")
    for source, shift in (("printed", 0), ("clova", 3)):
        images = [normalize(render(c, offset=(8 + shift + i % 3, 6)), 32) for c in CHARS for i in range(6)]
        labels = [c for c in CHARS for _ in range(6)]
        patches.write_patches(root / "data", source, np.array(images), labels, patch_size=12)
    val = [normalize(render(c, offset=(9, 7)), 32) for c in CHARS]
    patches.write_patches(root / "val", "printed", np.array(val), list(CHARS))
    return root


def _ocr(split: bool, **kw) -> KoOCR:
    keras.utils.set_random_seed(0)
    return KoOCR(**TINY, split_components=split, charset=list(CHARS), **kw)


def _train(ocr, data, log_dir, epochs=1, steps=3, **kw):
    args = dict(data_path=str(data / "data"), val_path=None, batch_size=8, steps_per_epoch=steps,
                optimizer="adam", patch_size=None, log_dir=str(log_dir), verbose=0)
    return ocr.train(epochs=epochs, lr=1e-3, **{**args, **kw})


def _round_trip(ocr, render, folder):
    x = np.stack([render(c) for c in "가한"])
    again = KoOCR(weights=ocr.save(folder))
    assert again.predict(x, n=3, return_probs=True) == ocr.predict(x, n=3, return_probs=True)
    return again


# ---------------------------------------------------------------- adversarial learning


@pytest.mark.parametrize("split", [True, False])
def test_adversarial_trains_saves_plain_network(split, data, render, tmp_path):
    ocr = _ocr(split, adversarial_learning=True)
    history = _train(ocr, data, tmp_path / "logs", val_path=str(data / "val"), adversarial_ratio=0.3)
    acc = history.history["source_accuracy"][-1]
    assert 0.0 <= acc <= 1.0 and "val_syllable_accuracy" in history.history
    assert ocr.model.output_names == (["initial", "medial", "final"] if split else ["syllable"])
    again = _round_trip(ocr, render, tmp_path / "w")
    # The same weights file loads into a network built without the method.
    plain = _ocr(split)
    kweights.load_weights(plain.model, str(tmp_path / "w"))
    for a, b in zip(plain.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    saved = json.loads((tmp_path / "logs" / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["adversarial_learning"] and "source_accuracy" in saved["extra"]


def test_adversarial_needs_both_sources_and_one_process(data, tmp_path):
    ocr = _ocr(True, adversarial_learning=True)
    with pytest.raises(ValueError, match="printed_"):
        _train(ocr, data, tmp_path / "logs", sources=("printed",))
    with pytest.raises(ValueError, match="strategy='none'.*mirrored"):
        _train(ocr, data, tmp_path / "logs", strategy="mirrored")


def test_source_targets_come_from_file_prefixes(data):
    stream = kdata.PatchStream(str(data / "data"), kdata.jamo_targets, None, with_source=True)
    _, y = next(stream.batches(48, shuffle=False))
    assert sorted(y) == ["final", "initial", "medial", "source"]
    assert y["source"].tolist() == [0] * 24 + [1] * 24  # clova_* sorts before printed_*


def test_gradient_reversal_gradient():
    x = tf.Variable(np.random.default_rng(0).normal(size=(3, 5)).astype("float32"))
    upstream = tf.constant(np.arange(15, dtype="float32").reshape(3, 5))
    with tf.GradientTape(persistent=True) as tape:
        reversed_ = GradientReversal(0.15)(x)
        plain = tf.identity(x)
        loss_reversed = tf.reduce_sum(reversed_ * upstream)
        loss_plain = tf.reduce_sum(plain * upstream)
    np.testing.assert_array_equal(reversed_.numpy(), x.numpy())
    np.testing.assert_allclose(
        tape.gradient(loss_reversed, x).numpy(), -0.15 * tape.gradient(loss_plain, x).numpy(), rtol=1e-6
    )


# ---------------------------------------------------------------- hybrid learning


def test_hybrid_loss_by_hand():
    p = np.array([[0.5, 0.4, 0.1], [0.1, 0.2, 0.7]], "float32")
    y = np.array([0, 2])
    got = hybrid.HybridLoss(weight=2.0, margin=1.0, top_k=2, reduction=None)(y, p).numpy()
    # sample 0: rivals 0.4 (hinge 1 - log(0.5/0.4)) and 0.1 (1 - log 5 < 0: no hinge)
    # sample 1: rivals 0.2 and 0.1, log(0.7/0.2) = 1.25 > 1: margin satisfied
    want = [-np.log(0.5) + 2.0 * (1 - np.log(0.5 / 0.4)) / 2, -np.log(0.7)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    confident = np.array([[0.9, 0.05, 0.05]], "float32")
    assert float(hybrid.margin_loss(np.array([0]), confident, margin=1.0, top_k=2)[0]) == 0.0


@pytest.mark.parametrize("split", [True, False])
def test_hybrid_trains(split, data, render, tmp_path):
    ocr = _ocr(split)
    history = _train(ocr, data, tmp_path / "logs", hybrid_loss=0.5, hybrid_top_k=2)
    assert np.isfinite(history.history["loss"][-1])
    _round_trip(ocr, render, tmp_path / "w")


def test_hybrid_in_the_distributed_step(data, tmp_path):
    """The custom (mirrored / multiworker) step uses the same per-head loss."""
    ocr = _ocr(True)
    cfg = training.TrainConfig(epochs=1, lr=1e-3, data_path=str(data / "data"), val_path=None,
                               batch_size=8, steps_per_epoch=2, optimizer="sgd", patch_size=None,
                               log_dir=str(tmp_path / "logs"), verbose=0, hybrid_loss=0.5)
    assert isinstance(training.head_loss(cfg, reduction=None), hybrid.HybridLoss)
    save = lambda path, info: ocr.save(path, extra=info)  # noqa: E731
    history = distribute.fit(ocr.model, cfg, kdata.jamo_targets, save, 32, tf.distribute.get_strategy())
    assert np.isfinite(history.history["loss"][-1])


# ---------------------------------------------------------------- adaptive drop weight


class _SnapshotZeros(keras.callbacks.Callback):
    """Records which kernel entries are zero once the pruning ramp is over."""

    def __init__(self, net, at_step):
        super().__init__()
        self.net, self.at_step, self.step, self.zeros = net, at_step, 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.at_step:
            self.zeros = [v.numpy() == 0 for v in prunable_kernels(self.net)]
            self.values = [v.numpy().copy() for v in prunable_kernels(self.net)]


@pytest.mark.parametrize("split", [True, False])
def test_drop_weight(split, data, render, tmp_path):
    ocr = _ocr(split)
    probe = _SnapshotZeros(ocr.model, at_step=4)  # ramp ends at 0.5 of 8 steps
    _train(ocr, data, tmp_path / "logs", epochs=2, steps=4, callbacks=[probe], drop_weight=0.5,
           drop_weight_start=0.0, drop_weight_end=0.5, drop_weight_every=1)
    kernels = prunable_kernels(ocr.model)
    assert all(v.constraint is None for v in kernels)  # the model is plain again
    total = sum(v.numpy().size for v in kernels)
    kept = sum(np.count_nonzero(v.numpy()) for v in kernels) / total
    assert abs(kept - 0.5) < 0.02
    moved = False
    for v, zero, before in zip(kernels, probe.zeros, probe.values, strict=True):
        assert np.all(v.numpy()[zero] == 0)  # pruned weights stayed exactly zero for 4 steps
        moved |= not np.array_equal(v.numpy(), before)
    assert moved, "no training step after the snapshot: the check would be vacuous"
    saved = json.loads((tmp_path / "logs" / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    report = saved["extra"]["drop_weight"]
    assert abs(report["kept_fraction"] - kept) < 1e-9
    assert report["csr_bytes"] > 0  # at 50 % kept, CSR (value + int32 index) is no smaller
    assert 0 < report["weights_gzip_bytes"] < report["weights_file_bytes"]
    assert len(report["layers"]) == len(kernels)
    again = _round_trip(ocr, render, tmp_path / "w")
    assert sum(np.count_nonzero(v.numpy()) for v in prunable_kernels(again.model)) == round(kept * total)


def test_layer_targets_average_to_the_target():
    sizes = [72, 2304, 9216, 36864, 540]
    targets = layer_targets(sizes, 0.6)
    assert abs(np.dot(sizes, targets) / sum(sizes) - 0.6) < 1e-6
    assert np.all(np.diff(np.array(targets)[np.argsort(sizes)]) >= 0)  # bigger layers lose more
    assert max(targets) <= 0.95
    with pytest.raises(ValueError, match="drop_weight"):
        training.TrainConfig(drop_weight=0.99)


# ---------------------------------------------------------------- time budget


def test_time_budget_stops_and_checkpoints(data, tmp_path):
    ocr = _ocr(True)
    history = _train(ocr, data, tmp_path / "logs", epochs=1000, steps=100_000, time_budget_s=3,
                     lr_schedule="cosine")
    assert history.epoch == [0]  # stopped inside the first (huge) epoch
    saved_dir = tmp_path / "logs" / "checkpoint"
    saved = json.loads((saved_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["extra"]["stopped_by_budget"] and 3 <= saved["extra"]["elapsed_s"] < 30
    assert saved["extra"]["lr"] < 1e-3 * 0.5  # annealed on elapsed time, not on the epochs
    final = KoOCR(weights=str(saved_dir))
    for a, b in zip(final.model.get_weights(), ocr.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_methods_that_need_one_process():
    ocr = _ocr(True)
    for kw in ({"drop_weight": 0.5}, {"time_budget_s": 10}):
        with pytest.raises(ValueError, match="strategy='none'"):
            ocr.train(epochs=1, strategy="multiworker", **kw)
    assert training.parse_duration("1h30m") == 5400 and training.parse_duration("90s") == 90
    assert train.parse_args(["--time_budget", "10m"]).time_budget == "10m"
    with pytest.raises(ValueError, match="10x"):
        training.parse_duration("10x")
    assert training.parse_duration("600") == training.parse_duration("10m") == 600
    for ambiguous in ("1h30", "2m30"):  # '1h30' was read as 1 h 30 s
        with pytest.raises(ValueError, match="with its unit"):
            training.parse_duration(ambiguous)


def test_train_script_with_method_flags(data, render, tmp_path):
    argv = [
        "--network=compact", "--image_size=32", "--width=0.25", "--optimizer=adam",
        f"--data_path={data / 'data'}", f"--val_path={data / 'val'}", f"--log_dir={tmp_path / 'logs'}",
        "--batch_size=8", "--steps_per_epoch=3", "--epochs=2", "--verbose=0", "--patch_size=20",
        "--adversarial_learning", "--adversarial_ratio=0.2", "--hybrid_loss=0.1",
        "--drop_weight=0.3", "--drop_weight_start=0", "--drop_weight_end=0.5", "--drop_weight_every=1",
    ]
    assert train.main(argv) == 0
    trained = KoOCR(weights=str(tmp_path / "logs" / "checkpoint"))
    assert trained.config.adversarial_learning and len(trained.predict(render("가"), n=3)) == 3
    extra = json.loads((tmp_path / "logs" / "checkpoint" / "config.json").read_text(encoding="utf-8"))["extra"]
    assert extra["epoch"] == 2 and "stopped_by_budget" not in extra
    assert abs(extra["drop_weight"]["kept_fraction"] - 0.7) < 0.02 and "source_accuracy" in extra


def test_train_script_time_budget_stops_and_checkpoints(data, tmp_path):
    argv = [
        "--network=compact", "--image_size=32", "--width=0.25", "--optimizer=adam",
        f"--data_path={data / 'data'}", f"--val_path={data / 'val'}", f"--log_dir={tmp_path / 'logs'}",
        "--batch_size=8", "--steps_per_epoch=5", "--verbose=0", "--patch_size=20", "--time_budget=4s",
    ]  # fmt: skip
    assert train.main(argv) == 0
    extra = json.loads((tmp_path / "logs" / "checkpoint" / "config.json").read_text(encoding="utf-8"))["extra"]
    assert extra["stopped_by_budget"] and 4 <= extra["elapsed_s"] < 60
    assert extra["epoch"] >= 1 and extra["lr"] < 1e-3 * 0.5
