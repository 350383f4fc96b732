"""Saving and loading a model directory: ``config.json`` + ``model.weights.h5``.

A weights directory is never ambiguous about the network that reads it, and it is
replaced atomically: a crash while saving leaves the previous directory intact.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile

import keras

from koocr import patches, shipped_dir
from koocr.config import ModelConfig, atomic_write_text

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"


def pretrained_dir() -> str:
    """The repository's ``pretrained/`` folder (``koocr/pretrained/`` when installed)."""
    return shipped_dir("pretrained", "pretrained")


def list_pretrained() -> dict[str, str]:
    """Shipped models: name -> folder (every ``pretrained/*/config.json``)."""
    root = pretrained_dir()
    if not os.path.isdir(root):
        return {}
    return {
        name: os.path.join(root, name)
        for name in sorted(os.listdir(root))
        if os.path.isfile(os.path.join(root, name, CONFIG_FILE))
    }


def resolve(weights: str | os.PathLike) -> str:
    """Maps a shipped model name or a path to a weights directory, or raises.

    Raises:
        FileNotFoundError: naming the path tried and the shipped names.
    """
    path = os.fspath(weights)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_FILE)):
        return path
    shipped = list_pretrained()
    if path in shipped:
        return shipped[path]
    raise FileNotFoundError(
        f"No KoOCR weights at {path!r}: expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE}, "
        f"or a shipped model name ({sorted(shipped) or 'none shipped'})."
    )


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def halve_weights_file(path: str) -> None:
    """Rewrites a ``.weights.h5`` with float16, gzip-compressed float32 arrays (in place).

    Keras casts them back to the float32 variables on load; a 4.9 M-parameter network
    goes from 19.6 MB to 9.4 MB, and its outputs move by less than the float16 rounding.
    """
    import h5py
    import numpy as np

    def copy(src, dst):
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for key, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(key))
                continue
            data = item[()]
            if getattr(data, "dtype", None) == np.float32:
                if data.size and np.abs(data).max() > np.finfo(np.float16).max:
                    raise ValueError(f"Weight {item.name} exceeds the float16 range; save it as float32")
                data = data.astype(np.float16)
            if np.size(data) >= 4096:  # chunked gzip costs more than it saves on small arrays
                dst.create_dataset(key, data=data, compression="gzip")
            else:
                dst.create_dataset(key, data=data)

    tmp = f"{path}.half.tmp"
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        copy(src, dst)
    os.replace(tmp, path)


def _save_weights_only(model: keras.Model, file: str) -> None:
    """``model.save_weights`` without the optimizer's state, which a compiled model adds
    (a training checkpoint was 2.8 times the size of the network's weights)."""
    optimizer = getattr(model, "optimizer", None)
    try:
        from keras.src.saving import saving_lib

        skip = inspect.signature(saving_lib.save_weights_only).parameters.get("objects_to_skip")
    except (ImportError, AttributeError):  # another Keras layout: keep its default
        skip = None
    if optimizer is None or skip is None:
        model.save_weights(file)
    else:
        saving_lib.save_weights_only(model, file, objects_to_skip=[optimizer])


def save(
    model: keras.Model,
    config: ModelConfig,
    path: str | os.PathLike,
    extra: dict | None = None,
    float16: bool = False,
) -> str:
    """Writes ``config.json`` and the weights into ``path`` atomically; returns ``path``.

    ``float16=True`` stores the arrays as compressed float16 (half the size; see
    :func:`halve_weights_file`); they load into the same float32 network.
    """
    given = path = os.path.abspath(os.fspath(path))
    if os.path.islink(path):  # save into the folder it points to, and keep the link
        path = os.path.realpath(path)
    check_replaceable(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        _save_weights_only(model, os.path.join(tmp, WEIGHTS_FILE))
        if float16:
            halve_weights_file(os.path.join(tmp, WEIGHTS_FILE))
        meta = json.loads(config.to_json())
        meta["weights_sha256"] = sha256(os.path.join(tmp, WEIGHTS_FILE))
        if extra:
            meta["extra"] = extra
        atomic_write_text(os.path.join(tmp, CONFIG_FILE), json.dumps(meta, ensure_ascii=False, indent=2))
        os.chmod(tmp, patches.umask_mode(0o777))  # mkdtemp made it private (0700)
        old = None
        if os.path.exists(path):
            old = f"{tmp}.old"
            os.replace(path, old)
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return given


# What a weights folder may hold (the LiteRT copy, its checksum and the segment classifier
# of read() live beside the weights); saving replaces such a folder whole.
FOLDER_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, "model.tflite", "litert.json", "segments.npz"})


def check_replaceable(path: str) -> None:
    """Raises ValueError unless ``path`` is absent, empty or a weights folder (only :data:`FOLDER_FILES`).

    Saving swaps the whole folder, so ``save(".")`` or a folder of other files must not be
    deleted with it.
    """
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise ValueError(f"Cannot save weights to {path!r}: it is a file, not a folder")
    shown = patches.entries_besides(path, lambda e: e.name in FOLDER_FILES)
    if shown:
        raise ValueError(
            f"Cannot save weights to {path!r}: it holds files that are not KoOCR weights ({shown}), "
            "and saving replaces the whole folder. Choose a new or empty folder"
        )


def read_config(path: str) -> tuple[ModelConfig, dict]:
    """Reads ``<path>/config.json`` -> (config, metadata such as the weights checksum)."""
    cfg_path = os.path.join(path, CONFIG_FILE)
    try:
        with open(cfg_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"Cannot read model config {cfg_path!r}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"Model config {cfg_path!r} must hold a JSON object")
    meta = {k: data.pop(k) for k in ("weights_sha256", "extra") if k in data}
    return ModelConfig.from_dict(data), meta


def load_weights(model: keras.Model, path: str, expected_sha256: str | None = None) -> None:
    """Loads ``<path>/model.weights.h5`` into ``model``; one clear error if it fails."""
    file = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"Weights file missing: {file!r}")
    if expected_sha256 and sha256(file) != expected_sha256:
        raise ValueError(f"Weights file {file!r} is corrupt: its SHA-256 does not match config.json")
    try:
        model.load_weights(file)
    except Exception as err:  # noqa: BLE001 - h5py/keras raise many types for bad files
        raise ValueError(f"Cannot load weights from {file!r}: {err}") from err
