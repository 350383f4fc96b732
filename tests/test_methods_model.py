"""Network-side methods: DirectMap, in-network augmentation, iterative refinement."""

import json
import warnings

import keras
import numpy as np
import pytest

import train
from koocr import methods, networks, patches
from koocr.config import ModelConfig
from koocr.hangul import COMPONENT_SIZES
from koocr.preprocess import normalize
from model import KoOCR

SPLIT = dict(COMPONENT_SIZES)
FLAGS = {
    "direct_map": {"direct_map": True},
    "augmentation": {"data_augmentation": True},
    "refinement": {"iterative_refinement": True, "refinement_t": 3},
}
FLAGS["all"] = {k: v for flags in FLAGS.values() for k, v in flags.items()}
NETS = {"compact": {"width": 0.25}, "fire": {"width": 0.125}}
CHARS = "가나다한"


def _ocr(net="compact", flags=(), **kw):
    return KoOCR(network_type=net, image_size=32, network_args=NETS[net], **dict(flags), **kw)


def _planes(image: np.ndarray, **kw) -> np.ndarray:
    """(H, W) ink image -> (H, W, 9) DirectMap output."""
    out = methods.DirectMap(**kw)(image[None, :, :, None].astype("float32"))
    return keras.ops.convert_to_numpy(out)[0]


@pytest.fixture(scope="module")
def data(render, tmp_path_factory):
    folder = tmp_path_factory.mktemp("methods_data")
    images = [normalize(render(c, offset=(6 + i % 5, 6)), 32) for i, c in enumerate(CHARS * 4)]
    patches.write_patches(folder, "printed", np.array(images), list(CHARS * 4), patch_size=64)
    return str(folder), np.array(images[:4])


def _train(ocr, data, tmp_path):
    ocr.train(epochs=1, lr=1e-3, data_path=data[0], val_path=None, batch_size=8, steps_per_epoch=2,
              optimizer="adam", patch_size=None, log_dir=str(tmp_path / "logs"), verbose=0)


# ---------------------------------------------------------------------------- DirectMap


def test_direct_map_vertical_stroke_lights_horizontal_planes():
    image = np.zeros((12, 12))
    image[:, 5:8] = 1.0  # a vertical stroke: edges at x = 4.5 and 7.5
    out = _planes(image)
    np.testing.assert_array_equal(out[..., 0], image)
    planes = out[1:-1, :, 1:]  # rows 0 and -1 see the zero padding above / below
    assert planes.min() >= 0
    np.testing.assert_allclose(planes[..., [1, 2, 3, 5, 6, 7]], 0, atol=1e-6)
    np.testing.assert_allclose(planes[:, 4:6, 0], 1, atol=1e-6)  # into the ink: 0 degrees
    np.testing.assert_allclose(planes[:, 7:9, 4], 1, atol=1e-6)  # and from the right: 180
    assert planes[..., 0].sum() == pytest.approx(planes[..., 4].sum())


@pytest.mark.parametrize("degrees", [0, 30, 45, 100, 200, 315])
def test_direct_map_is_the_parallelogram_rule(degrees):
    theta = np.deg2rad(degrees)
    rows, cols = np.mgrid[0:9, 0:9]
    image = 0.05 * (np.cos(theta) * cols - np.sin(theta) * rows)  # a ramp; y grows upwards
    planes = _planes(image)[4, 4, 1:]
    angles = np.arange(8) * np.pi / 4
    recon = np.array([planes @ np.cos(angles), planes @ np.sin(angles)])
    np.testing.assert_allclose(recon, 0.1 * np.array([np.cos(theta), np.sin(theta)]), atol=1e-6)
    lit = np.flatnonzero(planes > 1e-7)
    assert planes.min() >= -1e-7 and len(lit) <= 2  # only the two neighbouring directions
    assert set(lit) <= {int(degrees // 45) % 8, int(degrees // 45 + 1) % 8}


def test_direct_map_trainable_and_smoothing():
    fixed = _ocr(flags=FLAGS["direct_map"]).model.get_layer("direct_map")
    assert fixed.non_trainable_weights and not fixed.trainable_weights
    args = {"direct_map_trainable": True, "direct_map_sigma": 1.0}
    ocr = _ocr(flags=FLAGS["direct_map"], method_args=args)
    assert ocr.model.get_layer("direct_map").trainable_weights
    assert ocr.model.get_layer("stem_conv").kernel.shape[2] == 9
    smooth = _planes(np.pad(np.ones((4, 4)), 4), sigma=1.0)[..., 1:]
    sharp = _planes(np.pad(np.ones((4, 4)), 4))[..., 1:]
    assert smooth.min() >= 0 and smooth.max() < sharp.max() and (smooth > 1e-6).sum() > (sharp > 1e-6).sum()


# ------------------------------------------------------------------------ all methods


@pytest.mark.parametrize("heads", [SPLIT, {"syllable": 5}], ids=["split", "single"])
@pytest.mark.parametrize(
    "net, flags",
    # one keras.applications net, with all methods at once
    [(n, f) for n in ("compact", "fire") for f in FLAGS] + [("vgg16", "all")],
)
def test_outputs_keep_names_and_shapes(net, flags, heads):
    cfg = ModelConfig(network_type=net, image_size=32, **FLAGS[flags])
    build = lambda m: networks.build_network(  # noqa: E731
        net, 32, heads, fc_link="GAP", methods=m, **({} if net == "vgg16" else NETS[net])
    )
    base, model = build(None), build(methods.from_config(cfg))
    assert model.input.shape == base.input.shape == (None, 32, 32, 1)
    assert model.output_names == base.output_names == list(heads)
    assert [o.shape for o in model.outputs] == [o.shape for o in base.outputs]
    assert model.get_layer("features").output.shape == base.get_layer("features").output.shape
    out = model(np.full((2, 32, 32, 1), 128.0, "float32"), training=True)
    assert [tuple(o.shape) for o in (out if isinstance(out, list) else [out])] == [
        (2, n) for n in heads.values()
    ]


@pytest.mark.parametrize(
    "net, flags, split",
    [("compact", "direct_map", True), ("compact", "augmentation", True),
     ("compact", "refinement", True), ("fire", "all", False)],
)
def test_train_save_load_predict(net, flags, split, data, tmp_path):
    charset = list(CHARS) if not split else "ks2350"
    ocr = _ocr(net, FLAGS[flags], split_components=split, charset=charset)
    _train(ocr, data, tmp_path)
    folder = ocr.save(tmp_path / "w")
    again = KoOCR(weights=folder)
    assert again.config == ocr.config
    for a, b in zip(again.probabilities(data[1]), ocr.probabilities(data[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_script_flags_end_to_end(data, tmp_path):
    argv = ["--network_type", "compact", "--image_size", "32", "--width", "0.25",
            "--direct_map", "true", "--data_augmentation", "--iterative_refinement=yes",
            "--refinement_t", "2", "--method_args", '{"augmentation": {"shear": 0}}',
            "--epochs", "1", "--steps_per_epoch", "2", "--batch_size", "8", "--optimizer", "adam",
            f"--data_path={data[0]}", "--val_path=", f"--log_dir={tmp_path}", "--verbose=0"]
    assert train.main(argv) == 0
    saved = json.loads((tmp_path / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert saved["direct_map"] and saved["data_augmentation"] and saved["refinement_t"] == 2
    ocr = KoOCR(weights=str(tmp_path / "checkpoint"))
    names = {layer.name for layer in ocr.model.layers}
    assert {"direct_map", "augment_rotation", "refine_attention"} <= names
    assert "augment_shear" not in names
    assert len(ocr.predict(data[1][0], n=2)) == 2


def test_conflicting_arguments_warn(tmp_path):
    folder = _ocr().save(tmp_path / "w")
    with pytest.warns(UserWarning, match="direct_map=True ignored"):
        assert not KoOCR(weights=folder, direct_map=True).config.direct_map
    with pytest.warns(UserWarning, match="method_args="):
        KoOCR(weights=folder, method_args={"direct_map_sigma": 1.0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"iterative_refinement": True, "refinement_t": 0}, "refinement_t=0"),
        ({"iterative_refinement": True, "refinement_t": 2.5}, "refinement_t=2.5"),
        ({"iterative_refinement": True, "refinement_t": True}, "refinement_t=True"),
        ({"method_args": {"direct_map_smooth": 1}}, "direct_map_smooth"),
        ({"data_augmentation": True, "method_args": {"augmentation": {"zoom": 2}}}, "'zoom': 2"),
    ],
)
def test_bad_method_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _ocr(**kwargs)


# ----------------------------------------------------------------------- augmentation


def test_augmentation_is_identity_at_inference_and_random_in_training(data):
    keras.utils.set_random_seed(1)
    aug = _ocr(flags=FLAGS["augmentation"])
    keras.utils.set_random_seed(1)
    base = _ocr()
    for layer in base.model.layers:
        layer.set_weights(aug.model.get_layer(layer.name).get_weights())
    x = data[1]
    first, second = aug.probabilities(x), aug.probabilities(x)
    for a, b, c in zip(first, second, base.probabilities(x), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, atol=1e-6)
    # model.fit (a tf.function, training=True) moves the glyphs; evaluate leaves them.
    probe = keras.Model(aug.model.input, aug.model.get_layer("augment_shear").output)
    images, target = x[..., None].astype("float32"), 1 - x[..., None].astype("float32") / 255
    probe.compile(loss="mse", optimizer="sgd")
    assert probe.evaluate(images, target, verbose=0) < 1e-10
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        assert probe.fit(images, target, verbose=0).history["loss"][0] > 1e-3


# ------------------------------------------------------------------------- refinement


def test_refinement_attention_sums_to_one_and_changes_the_output():
    model = networks.build_network(
        "compact", 32, SPLIT, width=0.25, dropout=0.0, methods=methods.Methods(refinement_t=3)
    )
    step0 = keras.Model(model.input, [model.get_layer(h).output for h in SPLIT])  # 1st call
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    # v starts at 0: uniform attention, so the refined outputs start equal to step 0.
    for a, b in zip(model.predict(x, verbose=0), step0.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    attend = model.get_layer("refine_attention")
    attend.kernel.assign(np.random.default_rng(1).normal(0, 3, attend.kernel.shape))
    keys = np.random.default_rng(2).normal(size=(3, 4, 4, 64)).astype("float32")
    query = np.random.default_rng(3).normal(size=(3, 64)).astype("float32")
    weights = keras.ops.convert_to_numpy(attend.attention(keys, query))
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1, atol=1e-5)
    assert weights.min() >= 0 and weights.std() > 1e-3
    refined, first = model.predict(x, verbose=0), step0.predict(x, verbose=0)
    assert max(np.abs(a - b).max() for a, b in zip(refined, first, strict=True)) > 1e-4
    # Shared head and attention: parameters do not grow with T, MACs do.
    more = networks.build_network(
        "compact", 32, SPLIT, width=0.25, dropout=0.0, methods=methods.Methods(refinement_t=5)
    )
    assert more.count_params() == model.count_params()
    assert networks.count_macs(more) > networks.count_macs(model)


def test_refinement_t_one_is_the_plain_network():
    plain = _ocr(iterative_refinement=True, refinement_t=1).model
    base = _ocr().model
    assert [layer.name for layer in plain.layers] == [layer.name for layer in base.layers]
