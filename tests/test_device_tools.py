"""Wall-clock training pieces: the time-based schedule and tools/train_device.py's round trip."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from koocr import weights as kweights
from koocr.timebudget import time_fraction_lr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_time_fraction_lr_warms_up_peaks_and_decays_to_alpha():
    lr = 0.01
    assert time_fraction_lr(0.0, lr, warmup=0.1) == pytest.approx(lr * 0.01)
    assert time_fraction_lr(0.05, lr, warmup=0.1) == pytest.approx(lr * 0.5)
    assert time_fraction_lr(0.1, lr, warmup=0.1) == pytest.approx(lr)
    assert time_fraction_lr(0.55, lr, warmup=0.1, alpha=0.0) == pytest.approx(lr * 0.5)
    assert time_fraction_lr(1.0, lr, warmup=0.1, alpha=0.02) == pytest.approx(lr * 0.02)
    assert time_fraction_lr(3.0, lr, warmup=0.1, alpha=0.02) == pytest.approx(lr * 0.02)
    values = [time_fraction_lr(f, lr, warmup=0.1) for f in np.linspace(0.1, 1.0, 50)]
    assert np.all(np.diff(values) <= 1e-12)


def test_float16_weights_file_halves_size_and_loads_into_float32(tmp_path):
    from model import KoOCR

    ocr = KoOCR(network_type="compact", image_size=32)
    full = ocr.save(str(tmp_path / "full"))
    half = kweights.save(ocr.model, ocr.config, str(tmp_path / "half"), float16=True)
    size = lambda p: os.path.getsize(os.path.join(p, kweights.WEIGHTS_FILE))  # noqa: E731
    assert size(half) < 0.6 * size(full)
    back = KoOCR(weights=half)
    for a, b in zip(ocr.model.get_weights(), back.model.get_weights(), strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    image = np.random.default_rng(0).integers(0, 255, (32, 32)).astype(np.uint8)
    np.testing.assert_allclose(ocr.probabilities(image[None])[0], back.probabilities(image[None])[0], atol=1e-2)


def test_train_device_renders_trains_in_budget_and_imports(tmp_path):
    out, saved = tmp_path / "out", tmp_path / "weights"
    cmd = [
        sys.executable, "tools/train_device.py", "--network_type", "compact", "--width", "0.25",
        "--image_size", "32", "--max_fonts", "2", "--max_chars", "12", "--workers", "1",
        "--batch_size", "16", "--steps_per_epoch", "5", "--deadline", "40", "--reserve", "8",
        "--mixed_precision", "false", "--passes", "0", "--start_after", "30", "--max_glyphs", "300", "--val_ratio", "0.2",
        "--printed_presets", "printed,freehand", "--handwriting_presets", "freehand", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    subprocess.run(cmd, cwd=ROOT, check=True, env=env, capture_output=True, timeout=300)
    info = json.loads((out / "train_info.json").read_text(encoding="utf-8"))["info"]
    assert info["train_steps"] > 0 and info["train_seconds"] <= 40
    assert info["glyphs_rendered"] >= 30 and info["backend"] == "tensorflow"
    # rendering went on while training: fresh copies filled the buffer up to --max_glyphs
    assert 30 <= info["glyphs_trained_on"] <= 300 and info["render_passes"] >= 1
    assert info["val_samples"] > 0
    assert info["argv"][info["argv"].index("--printed_presets") + 1] == "printed,freehand"
    chunks = sorted(p.name for p in out.iterdir() if p.name.startswith("weights_"))
    assert chunks and chunks[0] == "weights_000.npz"
    subprocess.run(
        [sys.executable, "tools/train_device.py", "--import_from", str(out), "--save", str(saved)],
        cwd=ROOT, check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    from model import KoOCR

    ocr = KoOCR(weights=str(saved))
    assert ocr.config.network_type == "compact" and ocr.config.image_size == 32
    assert len(ocr.predict(np.full((40, 40), 255, np.uint8), n=3)) == 3


def test_train_device_needs_no_download_stack():
    # A lent GPU machine has neither the archive readers nor the Drive client of load_data.py;
    # train_device.py's imports (rendering, presets, patch staging) must not pull them in.
    blocked = ("gdown", "py7zr", "tensorflow")
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "sys.path.insert(0, 'tools')\n"
        "import train_device, koocr.crawl, koocr.augment\n"
        "args = train_device.parse_args(['--printed_presets', 'printed,cursive'])\n"
        "print(args.printed_presets)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "printed,cursive"


def test_ablation_table_reads_summaries_and_training_speed(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import ablation

    log = tmp_path / "log.txt"
    log.write_text(
        "Epoch 1/9\n300/300 - 98s - 400ms/step - loss: 1\n300/300 - 91s - 250ms/step - loss: 1\n"
        "300/300 - 90s - 260ms/step - loss: 1\n300/300 - 50s - 160ms/step - loss: 1\n",
        encoding="utf-8",
    )
    assert ablation.train_speed(str(log)) == pytest.approx(128 / 0.255)
    assert ablation.train_speed(str(tmp_path / "missing.txt")) is None
    summary = {"sets": {"printed_clean": {"top1": 0.9652}, "handwriting": {"top1": 0.5}}}
    md = ablation.table({"baseline": {"summary": summary, "training": {"val_syllable_accuracy": 0.9}, "speed": 502.0}}, "7m")
    row = md.splitlines()[2]
    assert row.startswith("| baseline | 96.52 % | - | 50.00 % | - | 502 | 90.00 % |")
