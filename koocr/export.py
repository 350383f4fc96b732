"""Export a KoOCR network for deployment, and run the exports (LiteRT, ONNX Runtime).

Formats (Keras 3 ``model.export``):

* ``tf_saved_model``: a SavedModel folder (TF Serving, ``tf.saved_model.load``);
* ``litert``: ``model.tflite``; ``quantize="dynamic"`` stores int8 weights, ``"int8"``
  runs int8 kernels, calibrated on glyphs rendered from the repository's fonts
  (input and outputs stay float32: raw 0..255 glyphs in, probabilities out);
* ``onnx``: ``model.onnx`` (optional: ``pip install tf2onnx onnxruntime``), quantized
  with ONNX Runtime's dynamic / static (QDQ) quantizer.

Every export folder also holds the model's ``config.json``, so the preprocessing
(``image_size``, ``margin``, ``placement``) and the heads are known to its reader.
The network's input is the normalised glyph, float32 ``(N, S, S, 1)`` in 0..255
(:meth:`KoOCR.preprocess`); its outputs are one softmax per head.

Example:
    >>> ocr.export("exports/compact48-int8", format="litert", quantize="int8")  # doctest: +SKIP
    'exports/compact48-int8/model.tflite'
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

import keras
import numpy as np

from koocr import hangul, patches
from koocr import preprocess as kpreprocess
from koocr import weights as kweights
from koocr.config import ModelConfig, atomic_write_text
from koocr.patches import atomic_write_bytes

FORMATS = ("tf_saved_model", "litert", "onnx")
QUANTIZE = (None, "dynamic", "int8")
BACKENDS = ("keras", "litert", "onnx")
FILES = {"litert": "model.tflite", "onnx": "model.onnx"}
# What each format writes into its folder besides config.json: a later export of the same
# format may replace exactly these (see check_export_folder).
WRITES = {
    "tf_saved_model": frozenset({"saved_model.pb", "fingerprint.pb", "variables", "assets"}),
    "litert": frozenset({FILES["litert"]}),
    "onnx": frozenset({FILES["onnx"]}),
}
ONNX_HINT = "ONNX export/inference needs the optional packages: pip install tf2onnx onnxruntime"


def calibration_glyphs(config: ModelConfig, n: int = 200, seed: int = 0) -> np.ndarray:
    """Normalised uint8 ``(n, S, S)`` glyphs of KS X 1001 syllables rendered from shipped fonts.

    The int8 calibration set: activation ranges come from the same kind of input the model
    sees in use.
    """
    from koocr.fonts import load_manifest, render_glyph

    fonts = load_manifest(split="train") or load_manifest()
    rng = np.random.default_rng(seed)
    chars = hangul.load_charset("ks2350")
    place = kpreprocess.Placement(*config.placement) if config.placement else None
    out = []
    while len(out) < n:
        font = fonts[int(rng.integers(len(fonts)))]
        char = chars[int(rng.integers(len(chars)))]
        if font.covers(char):
            glyph = render_glyph(font, char, size=int(rng.integers(32, 72)))
            out.append(kpreprocess.normalize(glyph, config.image_size, config.margin, place))
    return np.stack(out)


def has_features(model: keras.Model) -> bool:
    """Whether ``model`` has the pooled-features layer (:data:`koocr.networks.POOL_LAYER`).

    Networks with ``fc_link="flatten"`` (or ``""``) have none: their heads read the
    flattened feature map, so there is no ``(N, C)`` feature vector to export.
    """
    from koocr.networks import POOL_LAYER

    return any(layer.name == POOL_LAYER for layer in model.layers)


def check_features(model: keras.Model, config: ModelConfig) -> None:
    """Raises ValueError unless ``model`` has pooled features (:func:`has_features`) to give
    for ``features=True``."""
    if not has_features(model):
        from koocr.networks import POOL_LAYER

        raise ValueError(
            f"features=True needs a network with a {POOL_LAYER!r} layer (pooled features); this one has "
            f"none (fc_link={config.fc_link!r}). Received: features=True"
        )


def check_export_folder(path: str, format: str) -> None:
    """Raises ValueError unless ``path`` is absent, empty or an earlier ``format`` export.

    An export writes its files (:data:`WRITES`) and ``config.json`` over what is there.
    In a weights folder that would replace the weights' ``config.json`` (their checksum
    and training notes) and their shipped LiteRT copy (``model.tflite``, maybe int8, by a
    float one), so a folder holding weights (:data:`koocr.weights.FOLDER_FILES`), a
    ``config.json`` an export did not write, or any other file is refused. An earlier
    export of the same format (its files and a ``config.json`` that
    :func:`koocr.weights.read_config` reads without a weights checksum) is replaced
    whole; one of another format is refused, since its ``config.json`` would change under it.
    """
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise ValueError(f"Cannot export to {path!r}: it is a file, not a folder")
    meta, exported_config = {}, True
    if os.path.lexists(os.path.join(path, kweights.CONFIG_FILE)):
        try:
            _, meta = kweights.read_config(path)  # weights_sha256 / extra: a weights folder's
        except (ValueError, TypeError):  # unreadable, or not a KoOCR config
            exported_config = False
    # What a weights folder holds and no export writes (an export writes model.tflite too).
    weights_only = kweights.FOLDER_FILES - {kweights.CONFIG_FILE, LITERT_FILE}
    weights = patches.entries_besides(path, lambda e: e.name not in weights_only)
    if weights or meta:
        raise ValueError(
            f"Cannot export to {path!r}: it holds KoOCR weights ({weights or 'a config.json with their checksum'}), "
            "whose config.json and LiteRT copy the export would overwrite. Choose a new or empty folder"
        )
    own = WRITES[format] | {kweights.CONFIG_FILE}
    others = patches.entries_besides(path, lambda e: e.name in own)
    if others or not exported_config:
        raise ValueError(
            f"Cannot export to {path!r}: it holds files that are not a {format} export "
            f"({others or 'a config.json that no export wrote'}), and exporting writes over them. "
            "Choose a new or empty folder"
        )


def check_calibration(calibration, image_size: int) -> np.ndarray:
    """``calibration`` as float32 ``(N, S, S)`` glyphs on the 0..255 scale, or ValueError.

    Takes :meth:`KoOCR.preprocess`'s output (uint8 ``(N, S, S)``, ``S`` the model's
    ``image_size``), also with a channel axis ``(N, S, S, 1)``. Each glyph's values are
    read as :func:`koocr.preprocess.to_gray` reads any image (what ``predict`` does): a
    glyph with max <= 1, or a float one with max <= :data:`koocr.preprocess.FLOAT_OVERSHOOT`,
    is 0..1 and scaled to 0..255. The network always gets 0..255 input, so calibrating on
    0..1 glyphs as they are would quantize it for the wrong range (1.8 % top-1 agreement
    measured). Without this check a wrong size or rank failed deep inside the converter
    and an empty set silently gave a float32 model.
    """
    s = image_size
    expected = f"normalised glyphs of shape (N, {s}, {s}) with N >= 1 (see KoOCR.preprocess)"
    try:
        arr = np.asarray(calibration)
    except ValueError as err:  # a ragged list
        raise ValueError(f"calibration must be {expected}. Received: {err}") from err
    if arr.dtype == object or arr.dtype.kind not in "uifb":
        raise ValueError(f"calibration must be {expected}, numeric. Received dtype={arr.dtype}")
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1:] != (s, s) or not len(arr):
        raise ValueError(f"calibration must be {expected}. Received shape {np.shape(calibration)}")
    if arr.min() < 0:
        raise ValueError(
            f"calibration values must lie in 0..255 (or 0..1). Received a minimum of {arr.min()}"
        )
    glyphs = []
    for i, glyph in enumerate(arr):
        try:
            glyphs.append(kpreprocess.to_gray(glyph))
        except ValueError as err:  # NaN or infinite values
            raise ValueError(f"calibration[{i}]: {err}") from err
    return np.stack(glyphs)


def export(
    model: keras.Model,
    config: ModelConfig,
    path: str | os.PathLike,
    format: str = "tf_saved_model",
    quantize: str | None = None,
    calibration: np.ndarray | None = None,
    features: bool = False,
) -> str:
    """Writes ``model`` in ``format`` into the folder ``path`` (+ ``config.json``).

    The export is made in a temp folder and moved into ``path`` once it succeeded, so a
    failed export leaves no folder (or half-written files) behind.

    Args:
        model: a float32 KoOCR network.
        config: its :class:`ModelConfig`, saved beside the export.
        path: output folder: new, empty or an earlier export of the same ``format``,
            which is replaced. A weights folder or a folder of other files is refused
            (ValueError; see :func:`check_export_folder`).
        format: ``tf_saved_model``, ``litert`` or ``onnx``.
        quantize: None, ``dynamic`` (int8 weights) or ``int8`` (int8 weights and
            activations; LiteRT and ONNX only).
        calibration: normalised glyphs ``(N, S, S)`` (uint8 0..255, as
            :meth:`KoOCR.preprocess` returns, or float 0..1) for ``int8`` only; default
            :func:`calibration_glyphs`. Checked by :func:`check_calibration`.
        features: add the pooled features (the ``"pool"`` layer, ``(N, C)``) as a last
            output after the heads, for ``read()``'s segment classifier; the network must
            have that layer (see :func:`has_features`).

    Returns:
        The exported artifact: the SavedModel folder, or the ``.tflite`` / ``.onnx`` file.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}. Received: format={format!r}")
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {QUANTIZE}. Received: quantize={quantize!r}")
    if quantize and format == "tf_saved_model":
        raise ValueError(
            f"quantize={quantize!r} needs format='litert' or 'onnx'; a SavedModel stays float32"
        )
    if calibration is not None and quantize != "int8":
        raise ValueError(
            f"calibration is used only by quantize='int8'. Received: quantize={quantize!r}"
        )
    if features:
        check_features(model, config)
    path = os.fspath(path)
    check_export_folder(path, format)
    if quantize == "int8":
        calibration = check_calibration(
            calibration_glyphs(config) if calibration is None else calibration, config.image_size
        )
    if format == "onnx":
        try:
            import onnxruntime  # noqa: F401
            import tf2onnx  # noqa: F401
        except ImportError as err:
            raise ImportError(ONNX_HINT) from err
    created = not os.path.lexists(path)
    stage = tempfile.mkdtemp(prefix="koocr-export-")
    try:
        _export_files(model, config, stage, format, quantize, calibration, features)
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(stage):  # only WRITES[format]: check_export_folder allowed these
            dst = os.path.join(path, name)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)  # a SavedModel's variables/: move() would nest it inside
            shutil.move(os.path.join(stage, name), dst)
        atomic_write_text(os.path.join(path, kweights.CONFIG_FILE), config.to_json())
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return path if format == "tf_saved_model" else os.path.join(path, FILES[format])


def _export_files(
    model: keras.Model,
    config: ModelConfig,
    folder: str,
    format: str,
    quantize: str | None,
    calibration: np.ndarray | None,
    features: bool,
) -> None:
    """Writes the export's files (not config.json) into the existing folder ``folder``."""
    import tensorflow as tf

    if features:
        from koocr.networks import POOL_LAYER

        heads = model.outputs if isinstance(model.outputs, list) else [model.outputs]
        model = keras.Model(model.inputs, [*heads, model.get_layer(POOL_LAYER).output])
    size = config.image_size
    signature = [tf.TensorSpec((None, size, size, 1), tf.float32, name="image")]
    target = folder if format == "tf_saved_model" else os.path.join(folder, FILES[format])
    if format == "tf_saved_model":
        model.export(target, format=format, verbose=False, input_signature=signature)
    elif format == "litert":
        options = {}
        if quantize:
            options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            options["representative_dataset"] = lambda: (
                [g[None, :, :, None].astype(np.float32)] for g in calibration
            )
            options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}
        model.export(target, format=format, verbose=False, input_signature=signature, **options)
    else:  # tf2onnx and onnxruntime: export() checked they are installed
        float_file = target if not quantize else os.path.join(folder, "model.float.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes np.object
            model.export(float_file, format=format, verbose=False, input_signature=signature)
        if quantize:
            _quantize_onnx(float_file, target, quantize, calibration)
            os.remove(float_file)


def _quantize_onnx(src: str, dst: str, quantize: str, calibration: np.ndarray | None) -> None:
    """``calibration``: :func:`check_calibration`'s glyphs (for ``int8``), as LiteRT gets them."""
    from onnxruntime import quantization as q

    if quantize == "dynamic":
        q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8)
        return

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            glyph = next(self.items, None)
            return None if glyph is None else {"image": glyph[None, :, :, None].astype(np.float32)}

    q.quantize_static(
        src,
        dst,
        Reader(),
        quant_format=q.QuantFormat.QDQ,
        activation_type=q.QuantType.QInt8,
        weight_type=q.QuantType.QInt8,
    )


LITERT_FILE = "model.tflite"  # a shipped LiteRT copy beside the weights
LITERT_META = "litert.json"  # {"weights_sha256": ...}: which weights it copies


def ship_litert(
    model: keras.Model,
    config: ModelConfig,
    folder: str,
    weights_sha256: str,
    quantize: str | None = None,
) -> str:
    """Writes a LiteRT copy of ``model`` (heads + pooled features, if pooled) into ``folder``.

    ``quantize``: None (float32), ``"dynamic"`` or ``"int8"`` (see :func:`export`).
    ``litert.json`` beside it ties the copy to the checksum of the weights it was made
    from and records the quantization.
    """
    with tempfile.TemporaryDirectory(prefix="koocr-litert-") as tmp:
        file = export(model, config, tmp, "litert", quantize=quantize, features=has_features(model))
        with open(file, "rb") as fh:
            return write_litert(folder, fh.read(), weights_sha256, quantize)


def write_litert(folder: str, data: bytes, weights_sha256: str, quantize: str | None) -> str:
    """Writes LiteRT bytes as ``folder``'s copy of the weights with ``weights_sha256``
    (``model.tflite`` + ``litert.json``, each atomically); returns the file's path."""
    import hashlib
    import json

    target = os.path.join(folder, LITERT_FILE)
    atomic_write_bytes(target, data)
    meta = {
        "weights_sha256": weights_sha256,
        "quantize": quantize,
        "tflite_sha256": hashlib.sha256(data).hexdigest(),
    }
    atomic_write_text(os.path.join(folder, LITERT_META), json.dumps(meta))
    return target


def shipped_litert(folder: str, weights_sha256: str) -> tuple[str, str | None, bytes] | None:
    """``(file, quantize, content)`` of the LiteRT copy in ``folder`` if it was made from
    weights with ``weights_sha256``, else None. The file is read once, here: the copy runs
    from ``content``, so a later change to the file cannot reach the loaded model."""
    import hashlib
    import json

    file, meta = os.path.join(folder, LITERT_FILE), os.path.join(folder, LITERT_META)
    if not (os.path.isfile(file) and os.path.isfile(meta)):
        return None
    try:
        with open(meta, encoding="utf-8") as fh:
            recorded = json.load(fh)
        sha, quantize = recorded.get("weights_sha256"), recorded.get("quantize")
        own = recorded.get("tflite_sha256")  # absent in copies made before it was recorded
    except (OSError, ValueError, AttributeError):
        sha = quantize = own = None
    if not weights_sha256 or sha != weights_sha256 or quantize not in QUANTIZE:
        warnings.warn(f"Ignoring {file!r}: it is not a copy of the weights beside it", stacklevel=3)
        return None
    try:
        with open(file, "rb") as fh:
            content = fh.read()
    except OSError as err:
        warnings.warn(f"Ignoring {file!r}: {err}", stacklevel=3)
        return None
    if own is not None and hashlib.sha256(content).hexdigest() != own:
        warnings.warn(
            f"Ignoring {file!r}: its checksum does not match litert.json (corrupt or replaced)",
            stacklevel=3,
        )
        return None
    return file, quantize, content


# LiteRT runs a big batch in chunks of this many images: on the 2-core dev machine,
# chunks of 16 gave ~2,900 images/s against ~2,000 for one call on 1,024 (cache effects).
LITERT_CHUNK = 16


def cpu_threads() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LiteRTRunner:
    """Runs a ``.tflite`` export: ``ai_edge_litert`` if installed, else ``tf.lite``.

    ``num_threads`` defaults to every core available (the interpreter's own default is
    one thread: twice as slow on the 2-core dev machine).
    """

    def __init__(self, file: str, num_threads: int | None = None, content: bytes | None = None):
        """``content``: the file's bytes, already read (``file`` then only names it)."""
        num_threads = num_threads or cpu_threads()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter  # noqa: N806
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
                if content is None:
                    self.interpreter = Interpreter(model_path=file, num_threads=num_threads)
                else:
                    self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
            self.runner = self.interpreter.get_signature_runner()
        except (ValueError, RuntimeError) as err:  # a truncated or foreign file
            raise ValueError(f"Cannot load the LiteRT file {file!r}: {err}") from err
        self.input = self.runner.get_input_details()
        (self.input_name,) = self.input
        outputs = self.runner.get_output_details()
        self.output_names = sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))
        self.n_outputs = len(self.output_names)

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        parts = []
        for b in range(0, len(x), LITERT_CHUNK):
            out = self.runner(**{self.input_name: x[b : b + LITERT_CHUNK]})
            parts.append([np.array(out[k]) for k in self.output_names])
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate(p) for p in zip(*parts, strict=True)]


class ONNXRunner:
    """Runs a ``.onnx`` export with ONNX Runtime (CPU)."""

    def __init__(self, file: str, num_threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(ONNX_HINT) from err
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(file, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})


def load_runner(file: str, num_threads: int | None = None, content: bytes | None = None):
    """A callable float32 ``(N, S, S, 1)`` -> list of per-head probabilities for an export
    file (``content``: a ``.tflite`` file's bytes, already read)."""
    if file.endswith(".tflite"):
        return LiteRTRunner(file, num_threads, content)
    if file.endswith(".onnx"):
        return ONNXRunner(file, num_threads)
    raise ValueError(f"Expected a .tflite or .onnx file. Received: {file!r}")
