"""Network builders, heads and the GWAP / GWOAP layers: tiny shapes only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from koocr import networks
from koocr.hangul import COMPONENT_SIZES
from koocr.layers import (
    GlobalWeightedAveragePooling2D,
    GlobalWeightedOutputAveragePooling2D,
    pooling_weights,
)

SPLIT = dict(COMPONENT_SIZES)  # initial / medial / final
SINGLE = {"syllable": 7}
FC_LINKS = ["flatten", "GAP", "GWAP", "GWOAP"]
CUSTOM = ["melnyk", "fire", "afl", "compact"]
# keras.applications nets take no width knob: one fc_link each keeps the file fast.
APPLICATIONS = [("vgg16", "GAP"), ("mobilenet", "GWAP"), ("inception-resnet", "GWOAP")]


def _images(size, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (batch, size, size, 1)).astype("float32")


def _check_forward(model, heads, size):
    outputs = model(_images(size), training=False)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    assert [o.shape for o in outputs] == [(2, n) for n in heads.values()]
    for out in outputs:
        np.testing.assert_allclose(np.sum(keras.ops.convert_to_numpy(out), axis=-1), 1, atol=1e-5)
    assert model.output_names == list(heads)


def _check_graph(model, name, fc_link):
    assert model.name == name
    assert model.get_layer("rescale").input is model.inputs[0]
    features = model.get_layer(networks.FEATURES_LAYER).output
    assert len(features.shape) == 4
    if fc_link != "flatten":
        # Direct CAM needs the pooling to read the features layer itself.
        assert model.get_layer(networks.POOL_LAYER).input is features
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


@pytest.mark.parametrize("heads", [SPLIT, SINGLE], ids=["split", "single"])
@pytest.mark.parametrize("fc_link", FC_LINKS)
@pytest.mark.parametrize("name", CUSTOM)
def test_custom_networks_build_and_run(name, fc_link, heads):
    size = networks.MIN_IMAGE_SIZE[name]
    model = networks.build_network(name, size, heads, fc_link=fc_link, width=0.125)
    _check_graph(model, name, fc_link)
    _check_forward(model, heads, size)


@pytest.mark.parametrize("heads", [SPLIT, SINGLE], ids=["split", "single"])
@pytest.mark.parametrize(("name", "fc_link"), APPLICATIONS)
def test_application_networks_build_and_run(name, fc_link, heads):
    size = networks.MIN_IMAGE_SIZE[name]
    model = networks.build_network(name, size, heads, fc_link=fc_link)
    _check_graph(model, name, fc_link)
    _check_forward(model, heads, size)


def test_melnyk_matches_paper_shapes():
    model = networks.build_network("melnyk", 96, SPLIT)
    assert model.get_layer("features").output.shape == (None, 6, 6, 448)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 19), (None, 21), (None, 28)]
    assert isinstance(model.get_layer("pool"), GlobalWeightedAveragePooling2D)
    assert model.get_layer("dropout").rate == 0.5
    conv = model.get_layer("block1_1_conv")
    assert not conv.use_bias and conv.kernel_size == (3, 3)
    assert conv.kernel_regularizer.l2 == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("efficient-net", "fire"),
        ("VGG16", "vgg16"),
        ("MobileNet", "mobilenet"),
        ("inception-resnet", "inception-resnet"),
        ("Compact", "compact"),
    ],
)
def test_aliases(alias, name):
    assert networks.canonical_name(alias) == name


def test_rescale_maps_white_to_zero_and_ink_to_one():
    model = networks.build_network("compact", 16, SINGLE, width=0.125)
    rescale = keras.Model(model.input, model.get_layer("rescale").output)
    image = np.full((1, 16, 16, 1), 255.0, "float32")
    image[:, :, 1] = 0.0  # one column of ink on white
    out = keras.ops.convert_to_numpy(rescale(image))
    np.testing.assert_allclose(out[0, :, 0, 0], 0, atol=1e-6)
    np.testing.assert_allclose(out[0, :, 1, 0], 1, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        (dict(network_type="resnet-9000", image_size=48), "resnet-9000"),
        (dict(network_type="compact", image_size=8), "image_size=8"),
        (dict(network_type="inception-resnet", image_size=64), "image_size=64"),
        (dict(network_type="vgg16", image_size=31), "image_size=31"),
        (dict(network_type="compact", image_size=48.0), "image_size=48.0"),
        (dict(network_type="compact", image_size=48, fc_link="max"), "fc_link='max'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        networks.build_network(heads=SPLIT, **kwargs)


def test_bad_heads_and_input_shape():
    with pytest.raises(ValueError, match="heads"):
        networks.build_network("compact", 16, {})
    with pytest.raises(ValueError, match="-3"):
        networks.build_network("compact", 16, {"initial": -3})
    with pytest.raises(ValueError, match=r"\(48, 48, 3\)"):
        networks.build_compact((48, 48, 3), SPLIT)


def test_fc_link_is_case_insensitive_and_empty_means_flatten():
    model = networks.build_network("compact", 16, SINGLE, fc_link="", width=0.125)
    assert isinstance(model.get_layer("flatten"), keras.layers.Flatten)
    model = networks.build_network("compact", 16, SINGLE, fc_link="gwoap", width=0.125)
    assert isinstance(model.get_layer("pool"), GlobalWeightedOutputAveragePooling2D)


@pytest.mark.parametrize("fc_link", ["GWAP", "GWOAP"])
def test_save_and_load_keras_file(tmp_path, fc_link):
    model = networks.build_network("compact", 24, SPLIT, fc_link=fc_link, width=0.25)
    # Move the pooling weights off their init so the round trip is a real check.
    pool = model.get_layer("pool")
    pool.kernel.assign(np.random.default_rng(1).uniform(0, 1, pool.kernel.shape))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # default safe_mode=True
    x = _images(24, batch=3)
    for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert type(loaded.get_layer("pool")) is type(pool)


def test_predict_on_arrays_equals_predict_on_dataset():
    model = networks.build_network("compact", 16, SPLIT, width=0.125)
    x = _images(16, batch=5)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(2)
    for a, b in zip(model.predict(x, verbose=0), model.predict(dataset, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compact_budget():
    for size, max_macs in ((48, 40e6), (64, 60e6)):
        model = networks.build_network("compact", size, {"syllable": 2350})
        assert model.count_params() <= 1_000_000
        assert 15e6 <= networks.count_macs(model) <= max_macs
        assert model.get_layer("features").output.shape == (None, size // 8, size // 8, 256)


def test_count_macs_by_hand():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 64 * 9 * 1 * 4
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 16 * 9 * 4
    x = GlobalWeightedAveragePooling2D()(x)  # 16 * 4
    outputs = keras.layers.Dense(5)(x)  # 4 * 5
    assert networks.count_macs(keras.Model(inputs, outputs)) == 2304 + 576 + 64 + 20


# ------------------------------------------------------------------ pooling layers


@pytest.mark.parametrize(
    "cls", [GlobalWeightedAveragePooling2D, GlobalWeightedOutputAveragePooling2D]
)
def test_weighted_pooling_starts_as_global_average(cls):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    layer = cls()
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert layer.kernel.shape == ((3, 4, 5) if cls is GlobalWeightedAveragePooling2D else (5,))


@pytest.mark.parametrize(
    "cls", [GlobalWeightedAveragePooling2D, GlobalWeightedOutputAveragePooling2D]
)
def test_weighted_pooling_config_round_trip(cls):
    layer = cls(kernel_regularizer=keras.regularizers.L2(1e-3), name="pool", dtype="float32")
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert clone.name == "pool" and clone.kernel_regularizer.l2 == pytest.approx(1e-3)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is cls


@pytest.mark.parametrize(
    "cls",
    [
        GlobalWeightedAveragePooling2D,
        GlobalWeightedOutputAveragePooling2D,
        keras.layers.GlobalAveragePooling2D,
    ],
)
def test_pooling_weights_reproduce_the_layer(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, 3, 4)).astype("float32")
    inputs = keras.Input((3, 3, 4))
    layer = cls()
    keras.Model(inputs, layer(inputs))
    if hasattr(layer, "kernel"):
        layer.kernel.assign(rng.uniform(size=layer.kernel.shape))
    weights = pooling_weights(layer)
    expected = keras.ops.convert_to_numpy(layer(x))[0]
    np.testing.assert_allclose(np.sum(weights * x[0], axis=(0, 1)), expected, rtol=1e-5)


def test_pooling_weights_rejects_other_layers():
    with pytest.raises(ValueError, match="dense"):
        pooling_weights(keras.layers.Dense(3, name="dense"), (2, 2, 3))
