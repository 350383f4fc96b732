"""What a resumed or repeated training run keeps: best/, the learning rate asked for, the
place in the data; and what a checkpoint holds."""

from __future__ import annotations

import json
import os

import h5py
import keras
import numpy as np
import pytest
from test_model import _Stop, _StopAfter

from koocr import data as kdata
from koocr import patches
from model import KoOCR

TINY = dict(network_type="compact", image_size=32, fc_link="GAP", network_args={"width": 0.25})


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(0)
    for name, n in (("data", 48), ("val", 16)):
        images = rng.integers(0, 256, (n, 32, 32), dtype=np.uint8)
        patches.write_patches(str(root / name), "printed", images, ["가", "나"] * (n // 2), patch_size=16)
    return root


def _kw(folders, log_dir, **extra):
    return dict(data_path=str(folders / "data"), val_path=str(folders / "val"), batch_size=8,
                steps_per_epoch=3, optimizer="adam", log_dir=str(log_dir), verbose=0, **extra)


def _extra(log_dir, which):
    with open(os.path.join(log_dir, which, "config.json"), encoding="utf-8") as fh:
        return json.load(fh)["extra"]


def test_resume_keeps_best_takes_the_new_rate_and_goes_on_in_the_data(folders, tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    with pytest.raises(_Stop):
        KoOCR(**TINY).train(epochs=4, lr=0.002, callbacks=[_StopAfter(2)], **_kw(folders, logs))
    best = json.loads((logs / "best" / "config.json").read_text(encoding="utf-8"))
    best["extra"]["val_syllable_accuracy"] = 2.0  # no resumed epoch can beat it
    (logs / "best" / "config.json").write_text(json.dumps(best), encoding="utf-8")
    skipped = []
    monkeypatch.setattr(kdata.PatchStream, "skip_passes", lambda self, n: skipped.append(n))
    ocr = KoOCR(**TINY)
    history = ocr.train(epochs=4, lr=0.0001, **_kw(folders, logs))
    assert history.epoch == [2, 3]
    # best/ stayed (the first resumed epoch used to replace it whatever its accuracy) ...
    assert _extra(logs, "best")["val_syllable_accuracy"] == 2.0
    assert _extra(logs, "checkpoint")["epoch"] == 4
    # ... the rate asked for is used (the backup restored the old one, silently) ...
    assert float(keras.ops.convert_to_numpy(ocr.model.optimizer.learning_rate)) == pytest.approx(0.0001)
    # ... and the data goes on from the pass reached: 2 epochs x 3 steps x 8 of 48 glyphs = 1 pass.
    assert skipped == [1]


def test_skipping_passes_gives_the_later_orders():
    folder_batches = lambda stream: [y["initial"].tolist() for _, y in stream.batches(8)]  # noqa: E731
    stream = kdata.PatchStream.__new__(kdata.PatchStream)  # only what batches() needs
    rng = np.random.default_rng(1)
    labels = np.array(["가", "나", "다", "라"] * 6)
    stream.paths, stream.patch_size, stream.seed, stream.with_source = ["p"], 1, 3, False
    stream.targets, stream._epoch = kdata.jamo_targets, 0
    stream._cache = (rng.integers(0, 256, (24, 32, 32), dtype=np.uint8), labels, np.array(["printed"] * 24))
    passes = [folder_batches(stream) for _ in range(3)]
    assert passes[0] != passes[1]
    stream.skip_passes(2)
    assert folder_batches(stream) == passes[2]


def test_a_finished_run_in_the_same_log_dir_is_warned_about(folders, tmp_path):
    logs = tmp_path / "logs"
    KoOCR(**TINY).train(epochs=1, lr=0.001, **_kw(folders, logs))
    with pytest.warns(UserWarning, match="holds the checkpoint of a finished run"):
        KoOCR(**TINY).train(epochs=1, lr=0.001, **_kw(folders, logs))
    # Checkpoints hold the network's weights only (Adam's state made them 2.8x larger).
    with h5py.File(logs / "checkpoint" / "model.weights.h5", "r") as fh:
        assert "optimizer" not in fh and "layers" in fh


def test_saving_through_a_link_keeps_the_link(tmp_path):
    ocr = KoOCR(**TINY)
    (tmp_path / "v1").mkdir()
    os.symlink(tmp_path / "v1", tmp_path / "current")
    for _ in range(2):
        ocr.save(tmp_path / "current")
    assert os.path.islink(tmp_path / "current")
    assert sorted(os.listdir(tmp_path)) == ["current", "v1"]  # a '.current.*.old' link was left behind
    assert sorted(os.listdir(tmp_path / "v1")) == ["config.json", "model.weights.h5"]
    KoOCR(weights=str(tmp_path / "current"))


def test_resuming_with_another_optimizer_is_refused(folders, tmp_path):
    """Keras' backup only warned and started the new optimizer afresh."""
    logs = tmp_path / "logs"
    with pytest.raises(_Stop):
        KoOCR(**TINY).train(epochs=3, lr=0.002, callbacks=[_StopAfter(1)], **_kw(folders, logs))
    assert _extra(logs, "checkpoint")["optimizer"] == "adam"
    settings = _extra(logs, "checkpoint")["settings"]  # the run's settings, hybrid loss included
    assert settings["lr"] == 0.002 and settings["batch_size"] == 8 and settings["hybrid_loss"] == 0
    kw = {**_kw(folders, logs), "optimizer": "sgd"}
    with pytest.raises(ValueError, match="interrupted run with optimizer='adam', not 'sgd'"):
        KoOCR(**TINY).train(epochs=3, lr=0.002, **kw)
    assert KoOCR(**TINY).train(epochs=3, lr=0.002, **_kw(folders, logs)).epoch == [1, 2]


def test_settings_that_used_to_break(folders, tmp_path, capsys):
    """A charset file was stored as its path (the folder loaded only from where it was
    trained); AdaBound with a warm-up refused to start; every time-budget run said
    'Resuming with learning rate ...'."""
    chars = tmp_path / "chars.txt"
    chars.write_text("가\n나\n", encoding="utf-8")
    single = {**TINY, "split_components": False, "charset": str(chars)}
    saved = KoOCR(**single).save(tmp_path / "single")
    chars.unlink()
    assert KoOCR(weights=saved).charset == ["가", "나"]
    kw = {**_kw(folders, tmp_path / "ab"), "optimizer": "adabound", "verbose": 2}
    KoOCR(**TINY).train(epochs=1, lr=0.01, lr_schedule="cosine", warmup_epochs=0.5, **kw)
    KoOCR(**TINY).train(epochs=1, lr=0.01, time_budget_s=30, **{**kw, "log_dir": str(tmp_path / "tb")})
    assert "Resuming" not in capsys.readouterr().out
