"""Pickle patches: the on-disk training data format, read without trusting the file.

A patch is a pickled ``dict``::

    {"image": uint8 array (N, S, S), white (255) background,
     "label": numpy array of N one-syllable str}

and its file name says where the samples come from: ``printed_*.pickle``,
``handwritten_*.pickle`` or ``clova_*.pickle``. This is the format of the 2021 seed
project, whose patches (float32 0-255 images, possibly ``(N, S, S, 1)``, labels as a
list) still load and come back normalised.

``pickle.load`` runs whatever a file tells it to, so :func:`load_patch` uses an
unpickler that only resolves the handful of numpy globals an array needs.

Example:
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> images = np.full((2, 8, 8), 255, np.uint8)
    >>> paths = write_patches(folder, "printed", images, ["가", "나"])
    >>> load_patch(paths[0])["label"].tolist()
    ['가', '나']
    >>> summarize(folder)["samples"]
    {'printed': 2}
"""

from __future__ import annotations

import codecs
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from koocr.hangul import is_syllable

try:  # numpy >= 2 (and 1.26, which ships the alias for forward compatibility)
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - older numpy
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

SOURCES = ("printed", "handwritten", "clova")
PICKLE_PROTOCOL = 4  # readable by every Python 3.8+, like the seed's patches

# What pickles of uint8 / float32 / '<U1' / object-of-str arrays reference, under numpy
# 1.x (``numpy.core``) and 2.x (``numpy._core``) spellings, protocols 2-5.
# ``_codecs.encode`` is how protocol 2 stores bytes. Resolved here, never imported.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED_GLOBALS[(f"{_core}.multiarray", "scalar")] = _multiarray.scalar
    _ALLOWED_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _numeric._frombuffer


class PatchError(ValueError):
    """A patch file that is unsafe, corrupt or not in the expected format."""


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PatchError(
                f"{self._path}: refusing to load global '{module}.{name}'; a patch may "
                "only contain numpy arrays of images and labels"
            ) from None


def source_of(path: str | os.PathLike) -> str:
    """'printed', 'handwritten' or 'clova' from the file name prefix, else 'unknown'."""
    name = os.path.basename(os.fspath(path))
    for source in SOURCES:
        if name.startswith(f"{source}_"):
            return source
    return "unknown"


def _normalize(images, labels, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Checks a patch's arrays; returns uint8 (N, S, S) images and '<U1' labels."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise PatchError(
            f"{where}: images must be square, shaped (N, S, S) or (N, S, S, 1). "
            f"Received: shape={images.shape}"
        )
    if images.dtype.kind not in "iuf":
        raise PatchError(f"{where}: images must be numeric 0-255. Received: dtype={images.dtype}")
    if images.dtype != np.uint8:
        if images.dtype.kind == "f":
            finite = np.isfinite(images).all(axis=(1, 2))
            if not finite.all():
                index = int(np.argmin(finite))
                raise PatchError(f"{where}: image {index} contains NaN or infinity")
        if images.size and (images.min() < 0 or images.max() > 255):
            raise PatchError(
                f"{where}: image values must lie in 0-255. "
                f"Received: min={images.min()}, max={images.max()}"
            )
        images = (np.rint(images) if images.dtype.kind == "f" else images).astype(np.uint8)

    if isinstance(labels, str | bytes):
        raise PatchError(
            f"{where}: labels must be a list or array of syllables, not one string. "
            f"Received: {labels[:20]!r}"
        )
    labels = list(np.asarray(labels, dtype=object).reshape(-1)) if labels is not None else []
    if len(labels) != len(images):
        raise PatchError(f"{where}: {len(images)} images but {len(labels)} labels; they must match")
    for index, label in enumerate(labels):
        if not is_syllable(label):
            raise PatchError(
                f"{where}: label {index} must be one Hangul syllable (U+AC00-U+D7A3). "
                f"Received: {label!r}"
            )
    return np.ascontiguousarray(images), np.array(labels, dtype="<U1").reshape(len(labels))


def load_patch(path: str | os.PathLike) -> dict:
    """Safely loads and validates one patch.

    Only numpy array globals are resolved, so a crafted pickle cannot run code.

    Returns:
        ``{"image": uint8 (N, S, S), "label": '<U1' array (N,)}``.

    Raises:
        PatchError: the file is unsafe, corrupt, truncated or malformed; the message
            names the file (and the refused global, or the bad index and label).
        FileNotFoundError: no such file.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        try:
            data = _SafeUnpickler(fh, path).load()
        except PatchError:
            raise
        except Exception as error:  # truncated or garbage bytes raise many types
            raise PatchError(
                f"{path}: corrupt or truncated patch ({type(error).__name__}: {error})"
            ) from error
    if not isinstance(data, dict) or "image" not in data or "label" not in data:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise PatchError(
            f"{path}: expected a dict with keys 'image' and 'label'. Received: {found}"
        )
    images, labels = _normalize(data["image"], data["label"], path)
    return {"image": images, "label": labels}


def entries_besides(folder: str, keep: Callable[[os.DirEntry], bool]) -> str:
    """The entries of ``folder`` that ``keep`` rejects, named for a message ('' if none).

    Saving weights and installing patches replace a whole folder: what they would lose
    with it is listed (the first five, then a count) and the replacement refused.
    """
    others = sorted(e.name for e in os.scandir(folder) if not keep(e))
    return ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: what ``open()`` / ``mkdir`` would have created.

    ``tempfile.mkstemp`` / ``mkdtemp`` make private (0600 / 0700) files and folders; those
    renamed into place must get the usual permissions instead (``0o777`` for a folder).
    """
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def atomic_write_bytes(path: str, payload: bytes) -> None:
    """Writes via a temp file in the same folder, so readers see all or nothing."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # persist the rename itself; not possible on every platform
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_patch(path: str | os.PathLike, images, labels: Sequence[str]) -> str:
    """Validates and atomically writes one patch (pickle protocol 4, '<U1' labels).

    Float 0-255 images and ``(N, S, S, 1)`` shapes are converted to uint8 (N, S, S).
    An interrupted write leaves the previous file (or none), never a truncated one.

    Returns:
        The path written.
    """
    path = os.fspath(path)
    images, labels = _normalize(images, labels, path)
    payload = pickle.dumps({"image": images, "label": labels}, protocol=PICKLE_PROTOCOL)
    atomic_write_bytes(path, payload)
    return path


def write_patches(
    folder: str | os.PathLike,
    prefix: str,
    images,
    labels: Sequence[str],
    patch_size: int = 5000,
    start_index: int = 0,
) -> list[str]:
    """Splits samples into ``<prefix>_<i>.pickle`` files of at most ``patch_size``.

    Args:
        folder: output folder (created if missing).
        prefix: file name prefix; use one of ``SOURCES`` so :func:`source_of` works.
        images, labels: all samples, validated before any file is written.
        patch_size: samples per file.
        start_index: ``i`` of the first file, to append to an existing series.

    Returns:
        The paths written, in order.
    """
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be >= 1. Received: patch_size={patch_size}")
    if not prefix or os.sep in prefix or (os.altsep and os.altsep in prefix):
        raise ValueError(f"prefix must be a plain file name prefix. Received: {prefix!r}")
    folder = os.fspath(folder)
    images, labels = _normalize(images, labels, f"{folder}/{prefix}_*.pickle")
    paths = []
    for k, begin in enumerate(range(0, len(images), int(patch_size))):
        end = begin + int(patch_size)
        path = os.path.join(folder, f"{prefix}_{start_index + k}.pickle")
        paths.append(save_patch(path, images[begin:end], labels[begin:end]))
    return paths


def _natural_key(path: str) -> list:
    # printed_2 before printed_10
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(path))]


def list_patches(
    folder: str | os.PathLike, sources: str | Iterable[str] | None = None
) -> list[str]:
    """Paths of the ``*.pickle`` patches in ``folder``, in natural order.

    Args:
        folder: the patch folder (``./data`` or ``./val_data``).
        sources: keep only these sources (``"printed"``, ``["handwritten", "clova"]``).

    Raises:
        FileNotFoundError: naming the folder, when it does not exist.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Patch folder not found: {folder!r}. Download it with `python load_data.py` "
            "or generate patches first."
        )
    if sources is not None:
        wanted = {sources} if isinstance(sources, str) else set(sources)
        unknown = wanted - {*SOURCES, "unknown"}
        if unknown:
            raise ValueError(
                f"sources must be among {(*SOURCES, 'unknown')}. Received: {sorted(unknown)}"
            )
    paths = [
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(".pickle")
        and not name.startswith(".")
        and os.path.isfile(os.path.join(folder, name))
    ]
    if sources is not None:
        paths = [p for p in paths if source_of(p) in wanted]
    return sorted(paths, key=_natural_key)


def summarize(folder: str | os.PathLike) -> dict:
    """Loads (and so validates) every patch; returns counts per source.

    Returns:
        ``{"folder", "files", "files_per_source", "samples" (per source), "total",
        "image_size" (None if empty or mixed), "image_sizes"}``.
    """
    files: dict[str, int] = {}
    samples: dict[str, int] = {}
    sizes: set[int] = set()
    paths = list_patches(folder)
    for path in paths:
        patch = load_patch(path)
        source = source_of(path)
        files[source] = files.get(source, 0) + 1
        samples[source] = samples.get(source, 0) + len(patch["label"])
        sizes.add(int(patch["image"].shape[1]))
    return {
        "folder": os.fspath(folder),
        "files": len(paths),
        "files_per_source": files,
        "samples": samples,
        "total": sum(samples.values()),
        "image_size": next(iter(sizes)) if len(sizes) == 1 else None,
        "image_sizes": sorted(sizes),
    }


def format_summary(summary: dict) -> str:
    """One readable line per source, e.g. for printing after a download."""
    lines = [
        f"{summary['folder']}: {summary['files']} files, {summary['total']} samples, "
        f"image size {summary['image_size'] or summary['image_sizes']}"
    ]
    for source in sorted(summary["samples"]):
        lines.append(
            f"  {source:<12} {summary['files_per_source'][source]:>5} files "
            f"{summary['samples'][source]:>9} samples"
        )
    return "\n".join(lines)
