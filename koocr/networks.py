"""Network builders: pure functions ``build_<name>(input_shape, heads, **hparams)``.

Every network is one flat functional graph with named layers:

* input ``"image"``: float32 ``(batch, S, S, 1)``, 0..255, white background, dark ink;
* ``"rescale"``: ``x * -1/255 + 1`` so ink is 1 and background 0;
* optional (``methods=``, see :mod:`koocr.methods`): ``"augment_*"`` random affine layers
  (training only), then ``"direct_map"`` (9 channels into the first conv);
* ``"features"``: the last conv activation, fed straight into the head's pooling
  (Grad-CAM and direct CAM look it up by this name);
* ``"pool"`` (GAP / GWAP / GWOAP) or ``"flatten"``, then ``"dropout"``;
* one softmax ``Dense`` per head, named after the head, in float32;
* optional iterative refinement: ``"refine_key"``, ``"refine_query"`` and
  ``"refine_attention"`` re-weight the features and the same head runs again; the
  outputs are the last step's (same names and shapes).

A model with one head has one output tensor; with several it has a list of outputs in
the order of ``heads`` (compile with a loss dict keyed by head name).

Example:
    >>> model = build_network("compact", 48, {"initial": 19, "medial": 21, "final": 28})
    >>> [tuple(o.shape) for o in model.outputs]
    [(None, 19), (None, 21), (None, 28)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import keras

from koocr.config import check_settings
from koocr.layers import GlobalWeightedAveragePooling2D, GlobalWeightedOutputAveragePooling2D
from koocr.methods import (
    DirectMap,
    Methods,
    SpatialAttention,
    apply_input_methods,
    apply_refinement,
)

FEATURES_LAYER = "features"
# PyTorch-like 0.9 instead of Keras' 0.99: moving statistics catch up within tens of steps,
# so short CPU runs (and the learnability test) evaluate with sensible BN statistics.
BN_MOMENTUM = 0.9
POOL_LAYER = "pool"
FC_LINKS = ("flatten", "GAP", "GWAP", "GWOAP")

# Smallest input side each network accepts. Custom nets use 'same' pooling, so any side
# >= min works; below it a Hangul syllable is unreadable or the backbone's feature map
# would vanish. keras.applications minimums are the ones Keras itself enforces.
MIN_IMAGE_SIZE = {
    "melnyk": 16,
    "fire": 16,
    "afl": 16,
    "compact": 16,
    "vgg16": 32,
    "mobilenet": 32,
    "inception-resnet": 75,
}


# --------------------------------------------------------------------------- helpers


def _regularizer(l2: float):
    return keras.regularizers.L2(l2) if l2 else None


def _channels(filters: int, width: float) -> int:
    return max(1, int(round(filters * width)))


def _check_heads(heads: Mapping[str, int]) -> None:
    if not isinstance(heads, Mapping) or not heads:
        raise ValueError(
            f"heads must be a non-empty mapping name -> num_classes. Received: heads={heads!r}"
        )
    for name, n in heads.items():
        if not isinstance(name, str) or not isinstance(n, int) or n < 1:
            raise ValueError(
                f"Each head needs a str name and a positive int size. Received: {name!r}: {n!r}"
            )


def _check_input_shape(network: str, input_shape) -> None:
    shape = tuple(input_shape)
    min_size = MIN_IMAGE_SIZE[network]
    if (
        len(shape) != 3
        or shape[2] != 1
        or shape[0] != shape[1]
        or not isinstance(shape[0], int)
        or shape[0] < min_size
    ):
        raise ValueError(
            f"Network {network!r} needs input_shape (S, S, 1) with integer S >= {min_size}. "
            f"Received: input_shape={shape}"
        )


def _image_input(
    input_shape, methods: Methods | None = None
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    # White background / dark ink in, ink = 1 / background = 0 out: zero padding then
    # matches the background and activations are sparse.
    x = keras.layers.Rescaling(scale=-1.0 / 255, offset=1.0, name="rescale")(inputs)
    # Augmentation (training only) and DirectMap (9 channels) sit inside the network, so
    # predict / export keep feeding (N, S, S, 1) glyphs.
    return inputs, apply_input_methods(x, methods or Methods())


def apply_conv_bn(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    activation: str | None = "relu",
    l2: float = 1e-4,
    output_name: str | None = None,
):
    """Conv (no bias, he_normal, L2) -> BatchNorm -> activation (named ``output_name``)."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        use_bias=False,  # BN's beta is the bias
        kernel_initializer="he_normal",
        kernel_regularizer=_regularizer(l2),
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activation is None:
        return x
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.1, name=output_name or f"{name}_act")(x)
    return keras.layers.Activation(activation, name=output_name or f"{name}_act")(x)


def apply_fire_module(
    x, squeeze: int, expand: int, name: str, l2: float = 1e-4, output_name: str | None = None
):
    """Fire module (SqueezeNet; with BN as in Li et al. 2018).

    1x1 squeeze to ``squeeze`` channels, then 1x1 and 3x3 expands of ``expand``
    channels each, concatenated (``2 * expand`` channels out). BN + ReLU after the
    concat equals per-branch BN + ReLU (both are per-channel) with fewer layers.
    """
    s = apply_conv_bn(x, squeeze, 1, f"{name}_squeeze", l2=l2)
    e1 = keras.layers.Conv2D(
        expand,
        1,
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=_regularizer(l2),
        name=f"{name}_expand1x1",
    )(s)
    e3 = keras.layers.Conv2D(
        expand,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=_regularizer(l2),
        name=f"{name}_expand3x3",
    )(s)
    x = keras.layers.Concatenate(name=f"{name}_concat")([e1, e3])
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=output_name or f"{name}_relu")(x)


def apply_head(
    features,
    fc_link: str,
    heads: Mapping[str, int],
    dropout: float,
    l2: float = 0.0,
    refinement_t: int = 1,
) -> list:
    """Pools ``features`` and adds one softmax Dense per head.

    Args:
        features: 4D feature tensor (the ``"features"`` layer output).
        fc_link: ``"flatten"`` (or ``""``), ``"GAP"``, ``"GWAP"`` or ``"GWOAP"``;
            case-insensitive.
        heads: Ordered mapping head name -> number of classes.
        dropout: Dropout rate before the heads (0 disables it).
        l2: L2 factor for the pooling and Dense kernels (0 disables it).
        refinement_t: steps of iterative refinement (:func:`koocr.methods.apply_refinement`);
            every step reuses this head, the outputs are the last step's. The head layers'
            first call is step 0, so CAMs (``koocr.cam``) explain step 0.

    Returns:
        List of output tensors in the order of ``heads``.
    """
    _check_heads(heads)
    link = (fc_link or "flatten").lower() if isinstance(fc_link, str) else fc_link
    reg = _regularizer(l2)
    if link == "flatten":
        pool = keras.layers.Flatten(name="flatten")
    elif link == "gap":
        pool = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)
    elif link == "gwap":
        pool = GlobalWeightedAveragePooling2D(kernel_regularizer=reg, name=POOL_LAYER)
    elif link == "gwoap":
        pool = GlobalWeightedOutputAveragePooling2D(kernel_regularizer=reg, name=POOL_LAYER)
    else:
        raise ValueError(
            f"Unknown fc_link. Expected one of {FC_LINKS} (case-insensitive) or ''. "
            f"Received: fc_link={fc_link!r}"
        )
    drop = keras.layers.Dropout(dropout, name="dropout") if dropout else None
    dense = [
        # float32 so softmax stays stable under a mixed_float16 policy.
        keras.layers.Dense(n, activation="softmax", kernel_regularizer=reg, dtype="float32", name=head)
        for head, n in heads.items()
    ]

    def classify(feature_map) -> list:
        x = pool(feature_map)
        x = drop(x) if drop is not None else x
        return [layer(x) for layer in dense]

    return apply_refinement(features, classify(features), classify, refinement_t, reg)


def _model(inputs, outputs: list, name: str) -> keras.Model:
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=name)


# -------------------------------------------------------------------------- networks


def build_melnyk(
    input_shape,
    heads: Mapping[str, int],
    fc_link: str = "GWAP",
    dropout: float = 0.5,
    width: float = 1.0,
    l2: float = 1e-4,
    methods: Methods | None = None,
) -> keras.Model:
    """Melnyk-net (Melnyk, You & Li 2020), 15 conv layers; 96 px -> 6x6x448 features.

    Stages of 3x3 conv-BN-ReLU: 64-64 | 96-64-96 | 128-96-128 | 256-192-256 |
    448-256-448, separated by 3x3/2 'same' average pooling; dropout 0.5; GWAP.

    Args:
        input_shape: ``(S, S, 1)``, S >= 16 (96 as published).
        heads: Ordered mapping head name -> number of classes.
        fc_link: See :func:`apply_head`.
        dropout: Dropout before the heads.
        width: Channel multiplier (1.0 = published; small values for tests).
        l2: L2 factor on every kernel.
        methods: DirectMap / augmentation / refinement (:class:`koocr.methods.Methods`).
    """
    _check_input_shape("melnyk", input_shape)
    _check_heads(heads)
    stages = [(64, 64), (96, 64, 96), (128, 96, 128), (256, 192, 256), (448, 256, 448)]
    methods = methods or Methods()
    inputs, x = _image_input(input_shape, methods)
    for s, stage in enumerate(stages, start=1):
        if s > 1:
            x = keras.layers.AveragePooling2D(3, 2, padding="same", name=f"pool{s - 1}")(x)
        for i, filters in enumerate(stage, start=1):
            last = s == len(stages) and i == len(stage)
            x = apply_conv_bn(
                x,
                _channels(filters, width),
                3,
                f"block{s}_{i}",
                l2=l2,
                output_name=FEATURES_LAYER if last else None,
            )
    outputs = apply_head(x, fc_link, heads, dropout, l2, methods.refinement_t)
    return _model(inputs, outputs, "melnyk")


def build_fire(
    input_shape,
    heads: Mapping[str, int],
    fc_link: str = "GWAP",
    dropout: float = 0.5,
    width: float = 1.0,
    l2: float = 1e-4,
    methods: Methods | None = None,
) -> keras.Model:
    """Fire-module network after Li et al. 2018 (the seed's ``efficient-net``).

    conv3x3 64 | pool | fire(16,64) x2 | pool | fire(32,128) x2 | pool |
    fire(48,192) x2, fire(64,256) x2 -> 512 features at S/8.

    Args:
        input_shape: ``(S, S, 1)``, S >= 16.
        heads: Ordered mapping head name -> number of classes.
        fc_link: See :func:`apply_head`.
        dropout: Dropout before the heads.
        width: Channel multiplier.
        l2: L2 factor on every kernel.
        methods: DirectMap / augmentation / refinement (:class:`koocr.methods.Methods`).
    """
    _check_input_shape("fire", input_shape)
    _check_heads(heads)
    c = functools.partial(_channels, width=width)
    stages = [
        [(16, 64), (16, 64)],
        [(32, 128), (32, 128)],
        [(48, 192), (48, 192), (64, 256), (64, 256)],
    ]
    methods = methods or Methods()
    inputs, x = _image_input(input_shape, methods)
    x = apply_conv_bn(x, c(64), 3, "stem", l2=l2)
    n_fire = sum(len(stage) for stage in stages)
    k = 0
    for s, stage in enumerate(stages, start=1):
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{s}")(x)
        for squeeze, expand in stage:
            k += 1
            x = apply_fire_module(
                x,
                c(squeeze),
                c(expand),
                f"fire{k}",
                l2=l2,
                output_name=FEATURES_LAYER if k == n_fire else None,
            )
    outputs = apply_head(x, fc_link, heads, dropout, l2, methods.refinement_t)
    return _model(inputs, outputs, "fire")


def build_afl(
    input_shape,
    heads: Mapping[str, int],
    fc_link: str = "GWAP",
    dropout: float = 0.5,
    width: float = 1.0,
    l2: float = 1e-4,
    methods: Methods | None = None,
) -> keras.Model:
    """Nine 3x3 conv-BN-LeakyReLU blocks, 96 x3 | pool | 128 x3 | pool | 256 x3 | pool.

    The last max-pool sits before the last LeakyReLU (they commute), so the
    ``"features"`` activation (S/8) feeds the head directly.

    Args:
        input_shape: ``(S, S, 1)``, S >= 16.
        heads: Ordered mapping head name -> number of classes.
        fc_link: See :func:`apply_head`.
        dropout: Dropout before the heads.
        width: Channel multiplier.
        l2: L2 factor on every kernel.
        methods: DirectMap / augmentation / refinement (:class:`koocr.methods.Methods`).
    """
    _check_input_shape("afl", input_shape)
    _check_heads(heads)
    methods = methods or Methods()
    inputs, x = _image_input(input_shape, methods)
    for s, filters in enumerate((96, 128, 256), start=1):
        for i in range(1, 4):
            name = f"block{s}_{i}"
            x = apply_conv_bn(x, _channels(filters, width), 3, name, activation=None, l2=l2)
            if i == 3:
                x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{s}")(x)
            act = FEATURES_LAYER if (s, i) == (3, 3) else f"{name}_act"
            x = keras.layers.LeakyReLU(negative_slope=0.1, name=act)(x)
    outputs = apply_head(x, fc_link, heads, dropout, l2, methods.refinement_t)
    return _model(inputs, outputs, "afl")


def build_compact(
    input_shape,
    heads: Mapping[str, int],
    fc_link: str = "GWAP",
    dropout: float = 0.3,
    width: float = 1.0,
    l2: float = 5e-5,
    methods: Methods | None = None,
) -> keras.Model:
    """The default shipped network: a small Fire-module net for 48-64 px input.

    stem conv3x3 32 | pool | fire(16,64) | pool | fire(32,128) x2 | pool |
    fire(48,192) | conv1x1 256 ``"features"`` (S/8) | head. About 0.34 M parameters
    without the heads (0.35 M with the 3 jamo heads, 0.93 M with 2350 syllables);
    ~28 MMAC per 48 px image, ~49 MMAC at 64 px (see :func:`count_macs`).

    Args:
        input_shape: ``(S, S, 1)``, S >= 16 (48 or 64 intended; S/8 features).
        heads: Ordered mapping head name -> number of classes.
        fc_link: See :func:`apply_head`.
        dropout: Dropout before the heads.
        width: Channel multiplier.
        l2: L2 factor on every kernel.
        methods: DirectMap / augmentation / refinement (:class:`koocr.methods.Methods`).
    """
    _check_input_shape("compact", input_shape)
    _check_heads(heads)
    c = functools.partial(_channels, width=width)
    methods = methods or Methods()
    inputs, x = _image_input(input_shape, methods)
    # Stride-1 stem: strokes are 2-4 px wide at 48 px, a strided stem would alias them.
    x = apply_conv_bn(x, c(32), 3, "stem", l2=l2)
    x = keras.layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    # One fire module at S/2: the 3x3 expands there cost the most MACs per channel.
    x = apply_fire_module(x, c(16), c(64), "fire1", l2=l2)
    x = keras.layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = apply_fire_module(x, c(32), c(128), "fire2", l2=l2)
    x = apply_fire_module(x, c(32), c(128), "fire3", l2=l2)
    x = keras.layers.MaxPooling2D(2, padding="same", name="pool3")(x)
    x = apply_fire_module(x, c(48), c(192), "fire4", l2=l2)
    # 1x1 mix of the two expand branches: the heads (and CAM) see one feature space.
    x = apply_conv_bn(x, c(256), 1, "head_conv", l2=l2, output_name=FEATURES_LAYER)
    outputs = apply_head(x, fc_link, heads, dropout, l2, methods.refinement_t)
    return _model(inputs, outputs, "compact")


def _build_application(
    network: str, factory: Callable, input_shape, heads, fc_link, dropout, methods=None, **kw
):
    _check_input_shape(network, input_shape)
    _check_heads(heads)
    methods = methods or Methods()
    inputs, x = _image_input(input_shape, methods)
    # input_tensor grafts the backbone's layers into our graph: one flat model.
    backbone = factory(include_top=False, weights=None, input_tensor=x, **kw)
    features = keras.layers.Identity(name=FEATURES_LAYER)(backbone.output)
    outputs = apply_head(features, fc_link, heads, dropout, refinement_t=methods.refinement_t)
    return _model(inputs, outputs, network)


def build_vgg16(
    input_shape, heads, fc_link: str = "GWAP", dropout: float = 0.5, methods: Methods | None = None
) -> keras.Model:
    """``keras.applications.VGG16`` (random init, 1 channel), S >= 32, features S/32."""
    return _build_application(
        "vgg16", keras.applications.VGG16, input_shape, heads, fc_link, dropout, methods
    )


def build_mobilenet(
    input_shape, heads, fc_link: str = "GWAP", dropout: float = 0.2, methods: Methods | None = None
) -> keras.Model:
    """``keras.applications.MobileNetV3Small`` (random init, 1 channel), S >= 32."""
    return _build_application(
        "mobilenet",
        keras.applications.MobileNetV3Small,
        input_shape,
        heads,
        fc_link,
        dropout,
        methods,
        include_preprocessing=False,  # our "rescale" layer already did it
    )


def build_inception_resnet(
    input_shape, heads, fc_link: str = "GWAP", dropout: float = 0.2, methods: Methods | None = None
) -> keras.Model:
    """``keras.applications.InceptionResNetV2`` (random init, 1 channel), S >= 75."""
    return _build_application(
        "inception-resnet",
        keras.applications.InceptionResNetV2,
        input_shape,
        heads,
        fc_link,
        dropout,
        methods,
    )


NETWORKS: dict[str, Callable[..., keras.Model]] = {
    "compact": build_compact,
    "melnyk": build_melnyk,
    "fire": build_fire,
    "afl": build_afl,
    "vgg16": build_vgg16,
    "mobilenet": build_mobilenet,
    "inception-resnet": build_inception_resnet,
}
ALIASES = {
    "efficient-net": "fire",
    "efficientnet": "fire",
    "melnyk-net": "melnyk",
    "mobilenetv3": "mobilenet",
    "inception_resnet": "inception-resnet",
    "inceptionresnetv2": "inception-resnet",
}
DEFAULT_NETWORK = "compact"


def canonical_name(network_type: str) -> str:
    """Maps a network name or alias (any case) to its key in :data:`NETWORKS`."""
    key = network_type.lower().strip() if isinstance(network_type, str) else network_type
    key = ALIASES.get(key, key)
    if key not in NETWORKS:
        raise ValueError(
            f"Unknown network_type. Expected one of {sorted(NETWORKS)} "
            f"(aliases: {sorted(ALIASES)}). Received: network_type={network_type!r}"
        )
    return key


def build_network(
    network_type: str,
    image_size: int,
    heads: Mapping[str, int],
    fc_link: str = "GWAP",
    methods: Methods | None = None,
    **hparams,
) -> keras.Model:
    """Builds a network by name for square 1-channel ``image_size`` input.

    Args:
        network_type: A key of :data:`NETWORKS` or an alias (``"efficient-net"``,
            ``"VGG16"``, ...), case-insensitive.
        image_size: Input side S (the model takes ``(batch, S, S, 1)``).
        heads: Ordered mapping head name -> number of classes, e.g.
            ``hangul.COMPONENT_SIZES`` or ``{"syllable": 2350}``.
        fc_link: See :func:`apply_head`.
        methods: DirectMap, augmentation and iterative refinement
            (:class:`koocr.methods.Methods`; default: none). The input stays ``(S, S, 1)``
            and the outputs keep their names and shapes.
        **hparams: Passed to the builder (``dropout``, ``width``, ``l2`` ...).

    Example:
        >>> model = build_network("melnyk", 96, {"syllable": 2350})
        >>> model.get_layer("features").output.shape
        (None, 6, 6, 448)
    """
    name = canonical_name(network_type)
    min_size = MIN_IMAGE_SIZE[name]
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < min_size:
        raise ValueError(
            f"Network {name!r} needs an integer image_size >= {min_size}. "
            f"Received: image_size={image_size!r}"
        )
    def number(key: str, ok: Callable[[float], bool]) -> bool:
        value = hparams.get(key)
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and ok(value))

    check_settings(hparams, {
        "width": (number("width", lambda v: v > 0), "a number > 0"),
        "dropout": (number("dropout", lambda v: 0 <= v < 1), "a number in [0, 1)"),
    })
    shape = (image_size, image_size, 1)
    return NETWORKS[name](shape, heads, fc_link=fc_link, methods=methods, **hparams)


# ----------------------------------------------------------------------------- costs


def _spatial(shape) -> int:
    size = 1
    for d in shape[1:-1]:
        size *= int(d)
    return size


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image, from layer shapes.

    Counts Conv2D (incl. grouped), DepthwiseConv2D, SeparableConv2D, Dense, the
    GWAP / GWOAP multiplies and the method layers (DirectMap, refinement attention);
    BN, activations and pooling sums are ignored (BN folds into the conv at inference).
    A layer called several times (the heads under iterative refinement) counts once per
    call. Nested models are walked recursively.
    """
    total = 0
    for nodes in model._nodes_by_depth.values():  # every call of every layer in the graph
        for node in nodes:
            layer = node.operation
            if isinstance(layer, keras.Model):
                total += count_macs(layer)
            elif not node.is_input:
                inputs = [tuple(t.shape) for t in node.input_tensors]
                total += _layer_macs(layer, inputs, tuple(node.outputs[0].shape))
    return total


def _layer_macs(layer, inputs: list[tuple], out: tuple) -> int:
    inp = inputs[0]
    if isinstance(layer, keras.layers.SeparableConv2D):
        cin = int(inp[-1])
        kh, kw = layer.kernel_size
        depthwise = _spatial(out) * (kh * kw * cin * layer.depth_multiplier)
        return depthwise + _spatial(out) * cin * layer.depth_multiplier * int(out[-1])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _spatial(out) * kh * kw * int(out[-1])
    if isinstance(layer, keras.layers.Conv2D):
        cin = int(inp[-1]) // layer.groups
        kh, kw = layer.kernel_size
        return _spatial(out) * kh * kw * cin * int(out[-1])
    if isinstance(layer, keras.layers.Dense):
        return _spatial(inp) * int(inp[-1]) * layer.units
    if isinstance(layer, GlobalWeightedAveragePooling2D):
        return _spatial(inp) * int(inp[-1])
    if isinstance(layer, GlobalWeightedOutputAveragePooling2D):
        return int(inp[-1])
    if isinstance(layer, DirectMap):
        return layer.macs(inp)
    if isinstance(layer, SpatialAttention):
        return layer.macs(inputs)
    return 0
