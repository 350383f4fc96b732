"""train.py with the seed's flags, and every architecture through train / save / load / predict."""

import numpy as np
import pytest

import train
from koocr import patches
from koocr.preprocess import normalize
from model import KoOCR


def _patches(render, folder, size, chars="가나다라", copies=2):
    images = [normalize(render(c), size) for c in chars for _ in range(copies)]
    labels = [c for c in chars for _ in range(copies)]
    patches.write_patches(folder, "printed", np.array(images), labels, patch_size=4)


def test_seed_command_runs(render, tmp_path):
    """The seed's README command, on tiny 96 px patches and a saved Melnyk-net."""
    _patches(render, tmp_path / "data", 96)
    _patches(render, tmp_path / "val", 96, copies=1)
    weights = KoOCR(network_type="melnyk", image_size=96).save(tmp_path / "start")
    argv = [
        "--learning_rate=0.00003", "--optimizer=adabound", "--image_size=96",
        f"--weights={weights}", "--fc_link=GWAP", "--batch_size=128", "--epochs=2",
        "--patch_size=20", f"--data_path={tmp_path / 'data'}", f"--val_path={tmp_path / 'val'}",
        f"--log_dir={tmp_path / 'logs'}", "--verbose=0",
    ]
    assert train.main(argv) == 0
    trained = KoOCR(weights=str(tmp_path / "logs" / "checkpoint"))
    assert trained.config.network_type == "melnyk" and trained.config.image_size == 96
    assert len(trained.predict(render("가"), n=3)) == 3


@pytest.mark.parametrize(
    "network, size, fc_link",
    [
        ("melnyk", 32, "GWOAP"),
        ("fire", 32, "GAP"),
        ("efficient-net", 32, "flatten"),
        ("afl", 32, "GWAP"),
        ("compact", 32, "GWAP"),
        ("VGG16", 32, "GAP"),
        ("mobilenet", 32, "GWAP"),
        pytest.param("inception-resnet", 75, "GAP", marks=pytest.mark.slow),  # ~1 min on 2 cores
    ],
)
def test_every_network_trains_saves_loads_predicts(network, size, fc_link, render, tmp_path):
    _patches(render, tmp_path / "data", size)
    ocr = KoOCR(network_type=network, image_size=size, fc_link=fc_link)
    ocr.train(epochs=1, lr=1e-3, data_path=str(tmp_path / "data"), val_path=None, batch_size=4,
              steps_per_epoch=2, optimizer="adam", log_dir=str(tmp_path / "logs"), verbose=0)
    x = np.stack([render(c) for c in "가나"])
    again = KoOCR(weights=ocr.save(tmp_path / "w"))
    assert again.predict(x, n=3, return_probs=True) == ocr.predict(x, n=3, return_probs=True)
