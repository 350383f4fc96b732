"""Exports match the Keras network: float within 1e-4, int8 on top-1 for >= 99 % of glyphs."""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from koocr import decode, patches
from koocr import export as kexport
from koocr.preprocess import normalize
from model import KoOCR

CHARS = ["가", "나", "다", "한", "글", "국", "어", "문"]
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason=kexport.ONNX_HINT)


def _glyphs(render, copies, seed):
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in CHARS:
        for _ in range(copies):
            dx, dy = rng.integers(-5, 6, 2)
            images.append(
                normalize(render(c, size=int(rng.integers(34, 46)), offset=(8 + dx, 6 + dy)), 32)
            )
            labels.append(c)
    return np.array(images), labels


@pytest.fixture(scope="module")
def trained(render, tmp_path_factory):
    """A tiny model trained a few epochs on 8 rendered syllables (confident, like a real one)."""
    folder = tmp_path_factory.mktemp("export_data")
    images, labels = _glyphs(render, 24, seed=0)
    patches.write_patches(folder / "data", "printed", images, labels, patch_size=256)
    ocr = KoOCR(network_type="compact", image_size=32, fc_link="GAP", network_args={"width": 0.25})
    ocr.train_glyphs = images
    ocr.train(
        epochs=4,
        lr=0.01,
        data_path=str(folder / "data"),
        val_path=None,
        batch_size=32,
        optimizer="adam",
        patch_size=None,
        log_dir=str(folder / "logs"),
        verbose=0,
    )
    return ocr


@pytest.fixture(scope="module")
def test_glyphs(render):
    return _glyphs(render, 15, seed=1)[0]  # 120 glyphs


def _keras_probs(ocr, glyphs):
    return ocr.probabilities(glyphs)


def _assert_float_parity(got, want):
    assert len(got) == len(want) == 3
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4)


def test_saved_model_parity(trained, test_glyphs, tmp_path):
    path = trained.export(tmp_path / "sm")
    assert (
        json.loads((tmp_path / "sm" / "config.json").read_text(encoding="utf-8"))["image_size"]
        == 32
    )
    loaded = tf.saved_model.load(path)  # keep it alive: serve() reads its variables
    served = loaded.serve(tf.constant(test_glyphs[..., None], tf.float32))
    _assert_float_parity([np.asarray(o) for o in served], _keras_probs(trained, test_glyphs))


@pytest.mark.parametrize("fmt", ["litert", pytest.param("onnx", marks=needs_onnx)])
def test_float_export_and_backend_parity(trained, test_glyphs, tmp_path, fmt):
    file = trained.export(tmp_path / fmt, format=fmt)
    assert os.path.isfile(file) and os.path.isfile(tmp_path / fmt / "config.json")
    want = _keras_probs(trained, test_glyphs)
    _assert_float_parity(kexport.load_runner(file)(test_glyphs[..., None].astype(np.float32)), want)
    _assert_float_parity(trained.probabilities(test_glyphs, batch_size=50, backend=fmt), want)
    assert trained.predict(test_glyphs[:5], n=3, backend=fmt) == trained.predict(
        test_glyphs[:5], n=3
    )
    assert trained.predict(test_glyphs[0], n=3, backend=fmt) == trained.predict(test_glyphs[0], n=3)


@pytest.fixture(scope="module")
def shipped_and_glyphs():
    """The shipped model and 300 normalised glyphs from held-out printed fonts."""
    from koocr import hangul
    from koocr.fonts import load_manifest, render_glyph
    from model import KoOCR as _KoOCR

    if "compact48" not in _KoOCR.pretrained_models():
        pytest.skip("pretrained/compact48 is not shipped in this checkout")
    ocr = _KoOCR(weights="compact48")
    rng = np.random.default_rng(0)
    ks = hangul.ks2350()
    fonts = load_manifest(split="test", style="printed")
    raw = [
        render_glyph(f, c, 48)
        for f in fonts
        for c in rng.choice(ks, 300 // len(fonts), replace=False)
    ]
    return ocr, ocr.preprocess(raw)[0]


@pytest.mark.parametrize("fmt", ["litert", pytest.param("onnx", marks=needs_onnx)])
@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_quantized_top1_agreement(shipped_and_glyphs, tmp_path, fmt, quantize):
    """Quantised exports of the trained model agree with Keras on >= 99 % of unseen glyphs.

    (A tiny model trained for a few steps has too many near-ties for this to be stable.)
    """
    ocr, glyphs = shipped_and_glyphs
    float_file = ocr.export(tmp_path / "float", format=fmt)
    file = ocr.export(tmp_path / quantize, format=fmt, quantize=quantize)
    assert os.path.getsize(file) < os.path.getsize(float_file)
    top1 = lambda probs: [r[0][0] for r in decode.top_n_split(probs, 1)]  # noqa: E731
    want = top1(ocr.probabilities(glyphs))
    got = top1(kexport.load_runner(file)(glyphs[..., None].astype(np.float32)))
    agreement = np.mean([a == b for a, b in zip(got, want, strict=True)])
    assert agreement >= 0.99, (
        f"{fmt} {quantize}: top-1 agrees on {agreement:.1%} of {len(want)} glyphs"
    )


def test_bad_arguments(trained, tmp_path):
    with pytest.raises(ValueError, match="format='pt'"):
        trained.export(tmp_path, format="pt")
    with pytest.raises(ValueError, match="quantize='int4'"):
        trained.export(tmp_path, format="litert", quantize="int4")
    with pytest.raises(ValueError, match="SavedModel stays float32"):
        trained.export(tmp_path, quantize="int8")
    with pytest.raises(ValueError, match="backend='tvm'"):
        trained.predict(np.full((32, 32), 255, np.uint8), backend="tvm")


def test_int8_with_own_calibration_samples(trained, tmp_path):
    file = trained.export(
        tmp_path / "cal", format="litert", quantize="int8", calibration=trained.train_glyphs
    )
    assert os.path.isfile(file) and os.path.getsize(file) > 0


@pytest.mark.parametrize("fmt", ["litert", pytest.param("onnx", marks=needs_onnx)])
def test_int8_calibration_on_float_glyphs_with_a_channel(trained, test_glyphs, tmp_path, fmt):
    """(N, S, S, 1) calibration failed in the converter; float 0..1 glyphs were taken as
    they are and gave a broken int8 model (1.8 % top-1 agreement on the shipped one)."""
    calibration = trained.train_glyphs[..., None] / 255.0
    file = trained.export(tmp_path / fmt, format=fmt, quantize="int8", calibration=calibration)
    top1 = lambda probs: [r[0][0] for r in decode.top_n_split(probs, 1)]  # noqa: E731
    got = top1(kexport.load_runner(file)(test_glyphs[..., None].astype(np.float32)))
    want = top1(trained.probabilities(test_glyphs, backend="keras"))
    assert np.mean([g == w for g, w in zip(got, want, strict=True)]) >= 0.9


def test_calibration_is_read_as_predict_reads_images(trained):
    """0..1 floats and a channel axis give the same 0..255 glyphs as preprocess()'s uint8."""
    glyphs = trained.train_glyphs[:10]
    want = kexport.check_calibration(glyphs, 32)
    assert want.shape == (10, 32, 32) and want.dtype == np.float32
    np.testing.assert_array_equal(want, glyphs)
    np.testing.assert_allclose(
        kexport.check_calibration(glyphs[..., None] / 255.0, 32), want, atol=1e-3
    )
    np.testing.assert_array_equal(kexport.check_calibration(list(glyphs), 32), want)


@pytest.mark.parametrize("fmt", ["litert", "onnx"])  # refused before ONNX is even imported
@pytest.mark.parametrize(
    "calibration, message",
    [
        (
            np.zeros((4, 48, 48), np.uint8),
            r"shape \(N, 32, 32\) with N >= 1.*Received shape \(4, 48, 48\)",
        ),
        (np.zeros((0, 32, 32), np.uint8), r"Received shape \(0, 32, 32\)"),  # was a float32 model
        (np.zeros((4, 32, 32, 3), np.uint8), r"Received shape \(4, 32, 32, 3\)"),
        (np.zeros((32, 32), np.uint8), r"Received shape \(32, 32\)"),
        ([np.zeros((32, 32)), np.zeros((24, 24))], "calibration must be normalised glyphs"),
        (np.full((2, 32, 32), np.nan), r"calibration\[0\]: Image contains NaN"),
        (np.full((2, 32, 32), -1.0), "calibration values must lie in 0..255"),
        (np.array([["a"]]), "Received dtype=<U1"),
    ],
)
def test_bad_int8_calibration_is_refused_before_any_folder_is_made(
    trained, tmp_path, fmt, calibration, message
):
    with pytest.raises(ValueError, match=message):
        trained.export(tmp_path / "x", format=fmt, quantize="int8", calibration=calibration)
    assert not os.path.exists(tmp_path / "x")


def test_calibration_without_int8_is_refused(trained, tmp_path):
    """It used to be ignored silently (a wrong-size set too)."""
    for quantize in (None, "dynamic"):
        with pytest.raises(
            ValueError,
            match=f"calibration is used only by quantize='int8'. Received: quantize={quantize!r}",
        ):
            trained.export(
                tmp_path / "x", format="litert", quantize=quantize, calibration=trained.train_glyphs
            )
    assert not os.path.exists(tmp_path / "x")


def test_a_failed_export_leaves_no_folder_and_keeps_an_earlier_export(
    trained, tmp_path, monkeypatch
):
    """The folder (and ONNX's model.float.onnx) used to be made before the conversion failed."""
    earlier = trained.export(tmp_path / "old", format="litert")
    with open(earlier, "rb") as fh:
        content = fh.read()

    def fail(model, config, folder, *args):
        with open(os.path.join(folder, kexport.FILES["litert"]), "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("converter failed")

    monkeypatch.setattr(kexport, "_export_files", fail)
    for folder in (tmp_path / "new", tmp_path / "deeper" / "new", tmp_path / "old"):
        with pytest.raises(RuntimeError, match="converter failed"):
            trained.export(folder, format="litert")
    assert sorted(os.listdir(tmp_path)) == ["old"]
    with open(earlier, "rb") as fh:
        assert fh.read() == content


def test_export_refuses_a_weights_folder(trained, tmp_path):
    """Exporting into the folder of the loaded weights replaced their config.json (checksum,
    notes) and their LiteRT copy (int8 by float), silently damaging the shipped folder."""
    folder = trained.save(str(tmp_path / "m"), extra={"note": "keep"}, litert=True)
    before = {name: (tmp_path / "m" / name).read_bytes() for name in os.listdir(folder)}
    for fmt in kexport.FORMATS:
        with pytest.raises(
            ValueError, match=r"holds KoOCR weights \(litert.json, model.weights.h5\)"
        ):
            trained.export(folder, format=fmt)
    assert {name: (tmp_path / "m" / name).read_bytes() for name in os.listdir(folder)} == before
    assert KoOCR(weights=folder).litert_file is not None
    # Its config.json alone (with the weights checksum) is refused as well.
    os.makedirs(tmp_path / "c")
    shutil.copyfile(os.path.join(folder, "config.json"), tmp_path / "c" / "config.json")
    with pytest.raises(
        ValueError, match="holds KoOCR weights \\(a config.json with their checksum\\)"
    ):
        trained.export(tmp_path / "c", format="litert")


def test_export_replaces_only_an_earlier_export_of_its_format(trained, tmp_path):
    for fmt in ("tf_saved_model", "litert"):
        first = trained.export(tmp_path / fmt, format=fmt)
        assert trained.export(tmp_path / fmt, format=fmt) == first  # a re-export replaces it
    assert sorted(os.listdir(tmp_path / "litert")) == ["config.json", "model.tflite"]
    assert sorted(os.listdir(tmp_path / "tf_saved_model")) == [
        "assets",
        "config.json",
        "fingerprint.pb",
        "saved_model.pb",
        "variables",
    ]
    assert (
        tf.saved_model.load(str(tmp_path / "tf_saved_model")).serve(tf.zeros((1, 32, 32, 1)))
        is not None
    )
    with pytest.raises(ValueError, match=r"not a onnx export \(model.tflite\)"):
        trained.export(
            tmp_path / "litert", format="onnx"
        )  # its config.json describes model.tflite too
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text('{"name": "my app"}')
    with pytest.raises(
        ValueError, match="not a litert export \\(a config.json that no export wrote\\)"
    ):
        trained.export(tmp_path / "mine", format="litert")
    assert (tmp_path / "mine" / "config.json").read_text() == '{"name": "my app"}'
    (tmp_path / "litert" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not a litert export \(notes.txt\)"):
        trained.export(tmp_path / "litert", format="litert")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="it is a file, not a folder"):
        trained.export(tmp_path / "file", format="litert")


def test_flatten_network_runs_on_litert(test_glyphs, tmp_path):
    """predict(backend="litert") asked the export for the pooled features, which a network
    with fc_link="flatten" does not have: 'No such layer: pool' on every such network."""
    ocr = KoOCR(
        network_type="compact", image_size=32, fc_link="flatten", network_args={"width": 0.25}
    )
    glyphs = test_glyphs[:20]
    want = ocr.probabilities(glyphs, backend="keras")
    got = ocr.probabilities(glyphs, backend="litert")
    assert len(got) == len(want) == len(ocr.heads)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4)
    assert ocr.predict(glyphs[:3], n=2, backend="litert") == ocr.predict(
        glyphs[:3], n=2, backend="keras"
    )
    with pytest.raises(
        ValueError, match="features=True needs a network with a 'pool' layer.*fc_link='flatten'"
    ):
        kexport.export(ocr.model, ocr.config, tmp_path / "f", "litert", features=True)
    assert not os.path.exists(tmp_path / "f")
    for backend in ("keras", "litert"):  # 'No such layer: pool' / 'None has no features output'
        with pytest.raises(ValueError, match="features=True needs a network with a 'pool' layer.*fc_link='flatten'"):
            ocr.probabilities(glyphs, backend=backend, features=True)


def test_shipped_litert_copy_serves_auto_backend(trained, test_glyphs, tmp_path):
    """save(litert=True) ships model.tflite; backend='auto' runs it for any batch size."""
    folder = trained.save(str(tmp_path / "m"), litert=True)
    assert os.path.isfile(os.path.join(folder, kexport.LITERT_FILE))
    ocr = KoOCR(weights=folder)
    assert ocr.litert_file == os.path.join(folder, kexport.LITERT_FILE)
    want = trained.predict(test_glyphs[:40], n=3, backend="keras")
    assert ocr.predict(test_glyphs[0], n=3) == want[0]
    runner = ocr._runners["litert"]
    assert runner[1] is None  # the shipped file, not a fresh export in a temp folder
    # 40 images span several LiteRT chunks (the last one shorter).
    assert len(test_glyphs[:40]) % kexport.LITERT_CHUNK
    assert ocr.predict(test_glyphs[:40], n=3) == want
    assert ocr._forward is None and ocr._forward_features is None  # Keras never ran
    with pytest.raises(ValueError, match="backend must be 'auto'"):
        ocr.predict(test_glyphs[0], backend="fast")


def test_shipped_litert_copy_carries_pooled_features(trained, test_glyphs, tmp_path):
    """read()'s segment classifier reads the pooled features from the LiteRT copy too."""
    folder = trained.save(str(tmp_path / "m"), litert=True)
    ocr = KoOCR(weights=folder)
    glyphs = test_glyphs[:20]
    got = ocr.probabilities(glyphs, features=True)
    assert ocr._forward_features is None  # served by LiteRT
    want = ocr.probabilities(glyphs, features=True, backend="keras")
    assert len(got) == len(want) == len(ocr.heads) + 1
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4)
    assert len(ocr.probabilities(glyphs)) == len(ocr.heads)  # features only when asked
    with pytest.raises(ValueError, match="features=True needs backend='keras' or 'litert'"):
        ocr.probabilities(glyphs, features=True, backend="onnx")


def test_litert_copy_without_features_leaves_read_to_keras(trained, test_glyphs, tmp_path):
    """A LiteRT copy exported with heads only (an older save) still serves predict()."""
    folder = trained.save(str(tmp_path / "m"), litert=True)
    heads_only = kexport.export(trained.model, trained.config, str(tmp_path / "x"), "litert")
    shutil.copyfile(heads_only, os.path.join(folder, kexport.LITERT_FILE))
    meta_path = os.path.join(folder, kexport.LITERT_META)
    with open(meta_path, encoding="utf-8") as fh:
        meta = json.load(fh)
    del meta["tflite_sha256"]  # older saves did not record the copy's own checksum
    with open(meta_path, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    ocr = KoOCR(weights=folder)
    assert ocr.predict(test_glyphs[:3], n=2) == trained.predict(
        test_glyphs[:3], n=2, backend="keras"
    )
    assert ocr._forward is None
    feats = ocr.probabilities(test_glyphs[:3], features=True)
    assert ocr._forward_features is not None and len(feats) == len(ocr.heads) + 1
    with pytest.raises(ValueError, match="has no features output"):
        ocr.probabilities(test_glyphs[:3], features=True, backend="litert")


def test_stale_litert_copy_is_ignored(trained, tmp_path):
    folder = trained.save(str(tmp_path / "m"), litert=True)
    with open(os.path.join(folder, kexport.LITERT_META), "w", encoding="utf-8") as fh:
        json.dump({"weights_sha256": "0" * 64}, fh)
    with pytest.warns(UserWarning, match="not a copy of the weights"):
        ocr = KoOCR(weights=folder)
    assert ocr.litert_file is None and ocr.litert_copy is None
    assert ocr.predict(np.full((32, 32), 255, np.uint8), n=1)  # falls back to Keras
    assert ocr._forward is not None


def test_quantized_litert_copy_is_recorded_and_served(trained, test_glyphs, tmp_path):
    """save(litert="int8") ships an int8 copy; litert.json records it; auto runs it."""
    folder = trained.save(str(tmp_path / "m"), litert="int8")
    with open(os.path.join(folder, kexport.LITERT_META), encoding="utf-8") as fh:
        assert json.load(fh)["quantize"] == "int8"
    ocr = KoOCR(weights=folder)
    assert ocr.litert_quantize == "int8" and ocr.litert_copy == "int8 copy"
    want = trained.predict(test_glyphs, n=1, backend="keras")
    got = ocr.predict(test_glyphs, n=1)
    assert ocr._forward is None
    assert np.mean([g == w for g, w in zip(got, want, strict=True)]) >= 0.9
    assert len(ocr.probabilities(test_glyphs[:4], features=True)) == len(ocr.heads) + 1
    # Its heads are recomputed in float from its pooled features: no 1/256 softmax steps,
    # and from Keras's own features that recomputation is exactly the Keras heads.
    probs = ocr.probabilities(test_glyphs)
    assert any(np.any(np.abs(p * 256 - np.rint(p * 256)) > 1e-3) for p in probs)
    keras_out = trained.probabilities(test_glyphs, features=True, backend="keras")
    for got_head, want_head in zip(ocr._float_heads(keras_out[-1]), keras_out[:-1], strict=True):
        np.testing.assert_allclose(got_head, want_head, atol=1e-5)
    with pytest.raises(ValueError, match="litert must be None, a bool, 'dynamic' or 'int8'"):
        trained.save(str(tmp_path / "bad"), litert="fp16")
    assert not os.path.exists(tmp_path / "bad")  # rejected before anything was written


def test_saving_a_loaded_model_keeps_its_litert_copy(trained, test_glyphs, tmp_path):
    """save() of loaded weights keeps their LiteRT copy (elsewhere and in place); changed
    weights or litert=False write none (it used to be dropped, and predict() ran 3x slower)."""
    folder = trained.save(str(tmp_path / "m"), litert="dynamic")
    with open(os.path.join(folder, kexport.LITERT_FILE), "rb") as fh:
        shipped = fh.read()
    ocr = KoOCR(weights=folder)
    want = ocr.predict(test_glyphs[:8], n=2)
    for target in (str(tmp_path / "elsewhere"), folder):
        again = KoOCR(weights=ocr.save(target))
        assert again.litert_quantize == "dynamic"
        with open(again.litert_file, "rb") as fh:
            assert fh.read() == shipped
        assert again.predict(test_glyphs[:8], n=2) == want
        assert again._forward is None  # served by the copy, not Keras
    plain = ocr.save(str(tmp_path / "plain"), litert=False)
    assert sorted(os.listdir(plain)) == ["config.json", "model.weights.h5"]
    # The copy runs from the bytes read at load: replacing or deleting the file after that
    # reaches neither predict() nor save() (save() used to copy whatever file was there).
    late, gone = KoOCR(weights=folder), KoOCR(weights=str(tmp_path / "elsewhere"))
    trained.save(folder, litert=True)  # another float copy in its place
    os.remove(os.path.join(str(tmp_path / "elsewhere"), kexport.LITERT_FILE))
    assert late.predict(test_glyphs[:8], n=2) == gone.predict(test_glyphs[:8], n=2) == want
    for model, name in ((late, "late"), (gone, "gone")):
        with open(os.path.join(model.save(str(tmp_path / name)), kexport.LITERT_FILE), "rb") as fh:
            assert fh.read() == shipped
    # A train() that fails before its first step keeps the copy (and the weights).
    with pytest.raises(FileNotFoundError):
        late.train(epochs=1, data_path=str(tmp_path / "no_such_data"), val_path=None, verbose=0)
    assert late.litert_quantize == "dynamic"
    with open(
        os.path.join(late.save(str(tmp_path / "after_failed_train")), kexport.LITERT_FILE), "rb"
    ) as fh:
        assert fh.read() == shipped
    # Weights changed by hand: set_weights() / load_weights() retire the copy at once (it
    # used to go on answering with the old weights); a variable assigned directly is
    # caught when saving.
    new = [w * 1.01 for w in ocr.model.get_weights()]
    ocr.model.set_weights(new)
    assert ocr.litert_file is None and ocr.resolve_backend("auto") == "keras"
    assert ocr.predict(test_glyphs[:8], n=2, return_probs=True) == ocr.predict(
        test_glyphs[:8], n=2, return_probs=True, backend="keras"
    )
    again = KoOCR(weights=folder)
    again.model.load_weights(os.path.join(plain, "model.weights.h5"))
    assert again.litert_file is None
    again = KoOCR(weights=folder)
    again.model.weights[0].assign(new[0])
    with pytest.warns(UserWarning, match="the weights changed since they were loaded"):
        changed = again.save(str(tmp_path / "changed"))
    assert not os.path.exists(os.path.join(changed, kexport.LITERT_FILE))
    assert again.resolve_backend("auto") == "keras"
