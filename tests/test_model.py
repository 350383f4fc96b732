import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from koocr import decode, patches
from koocr.preprocess import normalize
from model import KoOCR

TINY = {"network_type": "compact", "image_size": 32, "network_args": {"width": 0.25}}


@pytest.fixture(scope="module")
def ocr():
    return KoOCR(**TINY)


def test_adversarial_flag_keeps_the_plain_network():
    """The discriminator is a training-time wrapper: the model itself is unchanged."""
    plain = KoOCR(**TINY)
    adv = KoOCR(**TINY, adversarial_learning=True)
    assert adv.config.adversarial_learning
    assert [w.shape for w in adv.model.weights] == [w.shape for w in plain.model.weights]


def test_heads_and_attributes(ocr):
    assert ocr.model.output_names == ["initial", "medial", "final"]
    assert [o.shape[-1] for o in ocr.model.outputs] == [19, 21, 28]
    assert len(ocr.charset) == 2350
    single = KoOCR(**TINY, split_components=False, charset=["가", "나", "다"])
    assert single.model.outputs[0].shape[-1] == 3


def test_predict_input_variants(ocr, render, tmp_path):
    glyph = render("한")
    path = tmp_path / "han.png"
    Image.fromarray(glyph).save(path)
    ref = ocr.predict(glyph, n=4)
    assert len(ref) == 4 and all(len(s) == 1 for s in ref)
    rgb = np.stack([glyph] * 3, -1)
    rgba = np.dstack([rgb, np.full_like(glyph, 255)])
    for variant in (str(path), path, Image.fromarray(glyph), rgb, rgba, glyph[..., None], glyph / 255.0):
        assert ocr.predict(variant, n=4) == ref
    batch = ocr.predict(np.stack([glyph, glyph]), n=3)
    assert batch == [ref[:3], ref[:3]]
    assert ocr.predict(np.stack([rgb, rgb]), n=2) == [ref[:2], ref[:2]]
    assert ocr.predict([glyph, Image.fromarray(glyph)], n=2) == [ref[:2], ref[:2]]
    pairs = ocr.predict(glyph, n=3, return_probs=True)
    assert [s for s, _ in pairs] == ref[:3]
    assert all(0 <= p <= 1 for _, p in pairs) and pairs[0][1] >= pairs[1][1] >= pairs[2][1]
    restricted = ocr.predict(glyph, n=50, charset="ks2350")
    assert len(restricted) == 50 and all(s in set(ocr.charset) for s in restricted)


def test_predict_n_is_respected(ocr, render):
    for n in (1, 2, 7, 30):
        assert len(ocr.predict(render("가"), n=n)) == n


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 8)), "empty"),
        (np.zeros((1, 1)), "too small"),
        (np.full((9, 9), np.nan), "NaN"),
        (np.zeros((2, 2, 8, 8, 1)), "shape"),
        ("does/not/exist.png", "Cannot read"),
        ([], "empty"),
    ],
)
def test_predict_bad_input(ocr, bad, match):
    with pytest.raises(ValueError, match=match):
        ocr.predict(bad)


def test_predict_bad_n(ocr, render):
    with pytest.raises(ValueError, match="n=0"):
        ocr.predict(render("가"), n=0)


def test_save_load_round_trip(ocr, render, tmp_path):
    folder = ocr.save(tmp_path / "w")
    cfg = json.loads((tmp_path / "w" / "config.json").read_text(encoding="utf-8"))
    assert cfg["network_type"] == "compact" and cfg["image_size"] == 32 and "weights_sha256" in cfg
    again = KoOCR(weights=folder)
    x = np.stack([render(c) for c in "가나다"])
    assert again.predict(x, n=5, return_probs=True) == ocr.predict(x, n=5, return_probs=True)
    with pytest.warns(UserWarning, match="image_size=64 ignored"):
        KoOCR(weights=folder, image_size=64)


def test_missing_and_corrupt_weights(ocr, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        KoOCR(weights=str(tmp_path / "nowhere"))
    folder = ocr.save(tmp_path / "bad")
    with open(os.path.join(folder, "model.weights.h5"), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0" * 64)
    with pytest.raises(ValueError, match="model.weights.h5"):
        KoOCR(weights=folder)


def _tiny_patches(render, folder, chars, copies, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in chars:
        for _ in range(copies):
            dx, dy = rng.integers(-5, 6, 2)
            fs = int(rng.integers(34, 46))
            images.append(normalize(render(c, size=fs, offset=(8 + dx, 6 + dy)), size))
            labels.append(c)
    patches.write_patches(folder, "printed", np.array(images), labels, patch_size=64)
    return np.array(images), labels


def test_learnability_and_resume(render, tmp_path):
    """A few syllables rendered from a shipped font are learned; a stopped run resumes."""
    chars = ["가", "나", "다", "한", "글"]
    _tiny_patches(render, tmp_path / "data", chars, 64)
    val_x, val_y = _tiny_patches(render, tmp_path / "val", chars, 8, seed=1)
    ocr = KoOCR(network_type="compact", image_size=32, fc_link="GAP", network_args={"width": 0.5})
    kw = dict(
        data_path=str(tmp_path / "data"),
        val_path=str(tmp_path / "val"),
        batch_size=32,
        optimizer="adam",
        log_dir=str(tmp_path / "logs"),
        verbose=0,
        patch_size=2,
        lr_schedule="cosine",
    )
    history = ocr.train(epochs=16, lr=0.005, **kw)
    assert history.history["val_syllable_accuracy"][-1] >= 0.9
    pred = ocr.predict(val_x, n=1, charset=chars)
    assert np.mean([p[0] == y for p, y in zip(pred, val_y, strict=True)]) >= 0.9

    # Resume: a run killed after epoch 2 continues from epoch 3 in a fresh process-like object.
    kw["log_dir"] = str(tmp_path / "logs2")
    first = KoOCR(network_type="compact", image_size=32, fc_link="GAP", network_args={"width": 0.5})
    with pytest.raises(_Stop):
        first.train(epochs=4, lr=0.003, callbacks=[_StopAfter(2)], **kw)
    saved = json.loads((tmp_path / "logs2" / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["extra"]["epoch"] == 2
    again = KoOCR(network_type="compact", image_size=32, fc_link="GAP", network_args={"width": 0.5})
    h2 = again.train(epochs=4, lr=0.003, **kw)
    assert h2.epoch == [2, 3]
    saved = json.loads((tmp_path / "logs2" / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["extra"]["epoch"] == 4
    rows = (tmp_path / "logs2" / "training.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]


class _Stop(Exception):
    pass


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise _Stop(f"simulated interruption after epoch {self.n}")


def test_predict_tta_averages_three_placements(ocr, render):
    glyphs = np.stack([render(c) for c in "한글"])
    margins = ocr.tta_margins()
    assert margins == pytest.approx((0.04, 0.1, 0.16))
    views = [ocr.preprocess(glyphs, m)[0] for m in margins]
    assert not np.array_equal(views[0], views[2])  # the margins really move the glyph
    mean = [np.mean(h, axis=0) for h in zip(*(ocr.probabilities(v, backend="keras") for v in views), strict=True)]
    expected = decode.top_n_split(mean, 3)
    got = ocr.predict(glyphs, n=3, return_probs=True, tta=True, backend="keras")
    assert [[s for s, _ in row] for row in got] == [[s for s, _ in row] for row in expected]
    np.testing.assert_allclose([[p for _, p in row] for row in got], [[p for _, p in row] for row in expected], rtol=1e-5)
    single = ocr.predict(glyphs[0], n=3, tta=True, backend="keras")
    assert single == [s for s, _ in got[0]]
    fixed = KoOCR(**TINY, placement=(4, 4, 24))
    with pytest.raises(ValueError, match="placement"):
        fixed.predict(glyphs[0], tta=True)
