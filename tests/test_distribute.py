"""Distributed training matches one process; mixed precision keeps float32 heads.

The multi-worker and mirrored runs are subprocesses (``tests/distributed_run.py``): a
cluster from ``TF_CONFIG`` and logical CPU devices must be set before TensorFlow starts.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from koocr import distribute, patches
from koocr.preprocess import normalize
from model import KoOCR

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "distributed_run.py")
TIMEOUT = 300
TINY = {"network_type": "compact", "image_size": 32, "network_args": {"width": 0.25}}


@pytest.fixture(scope="module")
def tiny_data(render, tmp_path_factory):
    """40 glyphs of 5 syllables as one patch file: 5 global batches of 8."""
    folder = tmp_path_factory.mktemp("dist_data")
    chars = "가나다한글" * 8
    images = [normalize(render(c, offset=(8 + i % 5, 6)), 32) for i, c in enumerate(chars)]
    patches.write_patches(folder, "printed", np.array(images), list(chars), patch_size=64)
    return str(folder)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(mode, data, log_dir, out, epochs=1, tf_config=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the same CPU run on every machine
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    cmd = [sys.executable, RUNNER, mode, data, str(log_dir), str(out), str(epochs)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, stderr_too=False):
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"{proc.args[2]} run timed out after {TIMEOUT}s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, f"{proc.args[2]} run failed:\n{stderr[-3000:]}"
    result = json.loads(stdout.strip().splitlines()[-1])
    return (result, stderr) if stderr_too else result


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in f.files]


def _assert_same_training(got, want, initial):
    moved = max(float(np.abs(w - i).max()) for w, i in zip(want, initial, strict=True))
    assert moved > 2e-4, "the reference did not train: the comparison would be vacuous"
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5)


def test_multiworker_matches_one_process(tiny_data, tmp_path):
    """Two workers on 127.0.0.1 end with the weights of one process on the global batch."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    logs = tmp_path / "logs"  # one log_dir, as on a shared filesystem
    procs = [
        _start("multiworker", tiny_data, logs, tmp_path / f"w{i}.npz",
               tf_config={"cluster": cluster, "task": {"type": "worker", "index": i}})
        for i in range(2)
    ]
    ref = _start("reference", tiny_data, tmp_path / "ref", tmp_path / "ref.npz")
    runs = [_finish(p) for p in [*procs, ref]]
    assert all(r["epochs"] == [0] for r in runs)
    w0, w1, want = (_weights(tmp_path / f) for f in ("w0.npz", "w1.npz", "ref.npz"))
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(0)
    initial = KoOCR(**{**TINY, "network_args": {"width": 0.25, "dropout": 0.0}}).model.get_weights()
    _assert_same_training(w0, want, initial)
    # The chief writes the checkpoint; worker 1 only its own backup state.
    saved = json.loads((logs / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["extra"]["epoch"] == 1
    assert (logs / "backup" / "checkpoint").is_file()
    assert (logs / "backup" / "worker-1" / "checkpoint").is_file()
    assert sorted(os.listdir(logs)) == ["backup", "checkpoint", "training.csv"]


def test_mirrored_matches_one_process(tiny_data, tmp_path):
    """2 logical CPU devices end an epoch with the weights of one process on the global batch."""
    ref = _start("reference", tiny_data, tmp_path / "ref", tmp_path / "ref.npz")
    mirrored = _start("mirrored", tiny_data, tmp_path / "logs", tmp_path / "m.npz")
    assert _finish(mirrored)["epochs"] == [0] and _finish(ref)["epochs"] == [0]
    keras.utils.set_random_seed(0)
    initial = KoOCR(**{**TINY, "network_args": {"width": 0.25, "dropout": 0.0}}).model.get_weights()
    _assert_same_training(_weights(tmp_path / "m.npz"), _weights(tmp_path / "ref.npz"), initial)
    saved = json.loads((tmp_path / "logs" / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["extra"]["epoch"] == 1


def test_custom_loop_resumes_exactly(tiny_data, tmp_path):
    """A run stopped after epoch 1 and started again ends with the weights of a straight run."""
    straight = _start("reference", tiny_data, tmp_path / "a", tmp_path / "a.npz", epochs=2)
    first = _start("reference", tiny_data, tmp_path / "b", tmp_path / "b1.npz", epochs=1)
    assert _finish(first)["epochs"] == [0]
    done, stderr = _finish(_start("reference", tiny_data, tmp_path / "b", tmp_path / "b0.npz", epochs=1), True)
    assert done["epochs"] == [] and "nothing to train" in stderr  # a finished run rerun says so
    again = _start("reference", tiny_data, tmp_path / "b", tmp_path / "b2.npz", epochs=2)
    assert _finish(again)["epochs"] == [1]  # resumed from <log_dir>/backup
    assert _finish(straight)["epochs"] == [0, 1]
    for a, b in zip(_weights(tmp_path / "a.npz"), _weights(tmp_path / "b2.npz"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(_weights(tmp_path / "a-e1.npz")[0], _weights(tmp_path / "a.npz")[0])


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy='tpu'"):
        distribute.get_strategy("tpu")


def test_mixed_precision_keeps_float32_heads_and_restores_policy():
    ocr = KoOCR(**TINY)
    mixed = distribute.build_model(ocr._build, ocr.model, distribute.get_strategy("none"), True)
    assert keras.config.dtype_policy().name == "float32"
    assert mixed.get_layer("stem_conv").dtype_policy.name == distribute.mixed_precision_policy()
    assert mixed.get_layer("stem_conv").compute_dtype in ("float16", "bfloat16")
    for head in ("initial", "medial", "final"):
        assert mixed.get_layer(head).dtype_policy.name == "float32"
    out = mixed(np.full((2, 32, 32, 1), 255.0, np.float32), training=False)
    assert all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in out)
    np.testing.assert_allclose(sum(np.asarray(o).sum(1) for o in out) / 3, 1.0, rtol=1e-5)


def test_train_mixed_precision(tiny_data, tmp_path):
    ocr = KoOCR(**TINY)
    history = ocr.train(
        epochs=1, lr=0.01, mixed_precision=True, data_path=tiny_data, val_path=None,
        batch_size=8, steps_per_epoch=2, log_dir=str(tmp_path), verbose=0,
    )
    assert np.isfinite(history.history["loss"][0])
    assert ocr.model.dtype_policy.name == "float32"  # weights copied back into the float32 model
    assert keras.config.dtype_policy().name == "float32"
    again = KoOCR(weights=str(tmp_path / "checkpoint"))
    for a, b in zip(again.model.get_weights(), ocr.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
