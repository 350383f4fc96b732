"""Readers of real handwriting sets, normalised with :func:`koocr.preprocess.normalize`.

Every reader returns ``(images uint8 (N, S, S), labels list[str], stats dict)`` and only
reads its sources: nothing is moved, rewritten or deleted.

* AIHub "한국어 글자체 이미지" (:func:`read_aihub`): a label JSON (``annotations`` of
  ``{image_id, text, attributes: {type}}``) and one PNG per annotation.
* A folder of your own glyph images (:func:`read_image_folder`): each image labelled by a
  ``.txt`` file of the same name (the layout ``tools/evaluate_pretrained.py --export_chars``
  and the line sets use) or by the name of its folder (``가/001.png``).
* PE92 / SERI95 in HGU1 format (:func:`read_hgu1`, :func:`write_hgu1`)::

      header   8 bytes   b"HGU1" + 4 bytes (ignored; the writer puts zeros)
      record   2 bytes   KS X 1001 code of the syllable, as stored in EUC-KR / CP949
               1 byte    width  (1..255)
               1 byte    height (1..255)
               1 byte    type   (kept as is; not interpreted)
               1 byte    reserved
               w*h bytes grey pixels, row-major, 0xFF = background
      ...      records follow back to back until end of file

Example:
    >>> images, labels, stats = read_hgu1("data/pe92", image_size=48)  # doctest: +SKIP
    >>> images.shape, stats["samples"] == len(labels)  # doctest: +SKIP
    ((N, 48, 48), True)
"""

from __future__ import annotations

import json
import os
import struct
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from .hangul import decode_text, is_syllable
from .preprocess import Placement, normalize

AIHUB_SYLLABLE_TYPE = "글자(음절)"
# kind -> (label file, image subfolders searched in order)
AIHUB_LAYOUT = {
    "handwritten": ("handwritten_label.json", ("1_syllable", "2_syllable")),
    "printed": ("printed_label.json", ("syllable",)),
}
HGU1_MAGIC = b"HGU1"
HGU1_HEADER_SIZE = 8
_RECORD = struct.Struct(">2sBBBB")  # code, width, height, type, reserved


def _read_json(path: str):
    """A JSON file as saved by hand or by Korean Windows tools (BOM, CP949); errors name it."""
    with open(path, "rb") as fh:
        text = decode_text(fh.read())
    if text is None:
        raise ValueError(
            f"{path}: cannot decode the label file; expected UTF-8, UTF-16 with a BOM or CP949"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _index_folder(folder: str) -> dict[str, str]:
    """file name -> path for one folder, listed once (os.path.exists per file is slow on 500k files)."""
    if not os.path.isdir(folder):
        return {}
    with os.scandir(folder) as entries:
        return {e.name: e.path for e in entries if e.is_file()}


def read_aihub(
    root: str | os.PathLike,
    image_size: int = 48,
    kind: str = "handwritten",
    margin: float = 0.1,
    placement: Placement | None = None,
    label_file: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, list[str], dict]:
    """Reads the single-syllable images of AIHub "한국어 글자체 이미지".

    Args:
        root: dataset folder holding the label JSON and the image subfolders
            (``1_syllable/`` and ``2_syllable/`` for handwritten, ``syllable/`` for printed).
        image_size: side of the normalised output.
        kind: ``"handwritten"`` or ``"printed"``.
        margin: passed to :func:`koocr.preprocess.normalize`.
        placement: passed to :func:`koocr.preprocess.normalize`.
        label_file: a label JSON other than ``<root>/<kind>_label.json``.
        limit: stop after this many samples (quick looks at a big set).
        progress: show a tqdm progress bar.

    Returns:
        ``(images, labels, stats)``: uint8 (N, image_size, image_size), N syllables and
        counts: ``annotations``, ``bad_annotations`` (entries that are not JSON objects,
        or whose ``attributes`` is not one), ``duplicate_image_ids`` (annotations sharing
        an ``image_id`` with another: one file for several texts, so all are skipped),
        ``other_types`` (words / sentences), ``skipped_labels`` (text not one Hangul
        syllable), ``missing_images``, ``unreadable_images``, ``blank_images`` (no ink),
        ``files`` (images read) and ``samples``.

    Raises:
        FileNotFoundError: the label JSON does not exist.
        ValueError: unknown ``kind``, or a label JSON that cannot be decoded (UTF-8 with or
            without BOM, UTF-16 with a BOM or CP949), is not valid JSON or has no
            ``annotations`` list; each names the file.

    Example:
        >>> x, y, stats = read_aihub("data/aihub", 48)  # doctest: +SKIP
        >>> print(stats["samples"], stats["missing_images"])  # doctest: +SKIP
    """
    if kind not in AIHUB_LAYOUT:
        raise ValueError(f"kind must be one of {sorted(AIHUB_LAYOUT)}. Received: kind={kind!r}")
    root = os.fspath(root)
    default_label, subdirs = AIHUB_LAYOUT[kind]
    label_path = (
        os.fspath(label_file) if label_file is not None else os.path.join(root, default_label)
    )
    if not os.path.isfile(label_path):
        raise FileNotFoundError(
            f"AIHub label file not found: {label_path} (expected for kind={kind!r})"
        )
    meta = _read_json(label_path)
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, list):
        raise ValueError(f"{label_path}: expected a JSON object with an 'annotations' list")
    # The optional `images` list may name files differently from `<image_id>.png`.
    images_list = meta.get("images")
    file_names = {
        str(im.get("id")): im["file_name"]
        for im in (images_list if isinstance(images_list, list) else [])
        if isinstance(im, dict) and isinstance(im.get("file_name"), str) and im["file_name"]
    }
    folders = [_index_folder(os.path.join(root, d)) for d in subdirs]

    stats = {"label_file": label_path, "annotations": len(annotations), "bad_annotations": 0,
             "duplicate_image_ids": 0, "other_types": 0, "skipped_labels": 0, "missing_images": 0,
             "unreadable_images": 0, "blank_images": 0}  # fmt: skip
    good = [
        a
        for a in annotations
        if isinstance(a, dict) and isinstance(a.get("attributes") or {}, dict)
    ]
    stats["bad_annotations"] = len(annotations) - len(good)  # null, "x", attributes "글자(음절)"
    syllables = [a for a in good if (a.get("attributes") or {}).get("type") == AIHUB_SYLLABLE_TYPE]
    stats["other_types"] = len(good) - len(syllables)
    # One image_id annotated twice names one file for two texts (both would read the first
    # folder's image): which text goes with which picture is unknown, so neither is kept.
    uses = Counter(str(a.get("image_id")) for a in syllables)
    todo: list[tuple[str, str]] = []
    for ann in syllables:
        if limit is not None and len(todo) >= limit:
            break
        image_id = str(ann.get("image_id"))
        if uses[image_id] > 1:
            stats["duplicate_image_ids"] += 1
            continue
        text = unicodedata.normalize("NFC", str(ann.get("text", "")).strip())
        if not is_syllable(text):
            stats["skipped_labels"] += 1
            continue
        candidates = [f"{image_id}.png"]
        if image_id in file_names:
            candidates.insert(0, os.path.basename(file_names[image_id]))
        path = next((f[c] for c in candidates for f in folders if c in f), None)
        if path is None:
            stats["missing_images"] += 1
            continue
        todo.append((path, text))

    images, labels = _normalize_paths(
        todo, image_size, margin, placement, progress, stats, f"AIHub {kind}"
    )
    stats["files"] = stats["samples"] = len(labels)
    return images, labels, stats


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_image_folder(
    folder: str | os.PathLike,
    image_size: int = 48,
    margin: float = 0.1,
    placement: Placement | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, list[str], dict]:
    """Reads a folder of single-syllable images, searched recursively, in sorted order
    (hidden files and folders and macOS's ``__MACOSX/`` copies left in zip files are skipped).

    An image's label is the text of the ``.txt`` file of the same name beside it
    (``0001.png`` + ``0001.txt``; UTF-8, UTF-16 with a BOM or CP949), else the name of the
    nearest folder above it that is one syllable (``가/001.png``, ``가/batch1/002.png``;
    ``folder`` itself counts, so ``--images my_glyphs/가`` reads one class).
    Labels are NFC-normalised (macOS stores Korean file names decomposed). Linked folders
    are followed (each real folder once).

    Args:
        folder: the folder.
        image_size: side of the normalised output.
        margin: passed to :func:`koocr.preprocess.normalize`.
        placement: passed to :func:`koocr.preprocess.normalize`.
        limit: stop after this many labelled images.
        progress: show a tqdm progress bar.

    Returns:
        ``(images, labels, stats)``: uint8 (N, image_size, image_size), N syllables and
        counts: ``images`` (image files found), ``unlabelled_images`` (no ``.txt``, and
        no folder above it is named by one syllable), ``skipped_labels`` (a ``.txt`` that
        does not hold one Hangul syllable, or cannot be decoded),
        ``unreadable_images``, ``blank_images`` (no ink: all white, all black, transparent
        or uniform; skipped), ``files`` (images read) and ``samples``.

    Raises:
        FileNotFoundError: ``folder`` does not exist or holds no image file.

    Example:
        >>> x, y, stats = read_image_folder("my_glyphs", 48)  # doctest: +SKIP
    """
    folder = os.path.normpath(os.fspath(folder))  # "가/" and "가" read alike
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Image folder not found: {folder}")
    found: list[tuple[str, str | None]] = []  # (image, its .txt if any)
    seen = set()  # real paths of the folders walked: linked folders are followed, once
    for d, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(d)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(n for n in dirs if not n.startswith(".") and n != "__MACOSX")  # archive litter
        texts = {n.lower(): n for n in names if n.lower().endswith(".txt")}  # x.TXT too
        for n in names:
            if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."):
                truth = texts.get(os.path.splitext(n)[0].lower() + ".txt")
                found.append((os.path.join(d, n), os.path.join(d, truth) if truth else None))
    found.sort()
    if not found:
        raise FileNotFoundError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) under {folder}")
    stats = {"images": len(found), "unlabelled_images": 0, "skipped_labels": 0, "unreadable_images": 0,
             "blank_images": 0}  # fmt: skip
    todo: list[tuple[str, str]] = []
    for path, truth in found:
        if limit is not None and len(todo) >= limit:
            break
        if truth is not None:
            text = read_label(truth)
            if text is None or not is_syllable(text):
                stats["skipped_labels"] += 1
                continue
        else:
            text = _folder_label(folder, path)
            if text is None:  # no syllable folder above it ("scans/")
                stats["unlabelled_images"] += 1
                continue
        todo.append((path, text))
    images, labels = _normalize_paths(todo, image_size, margin, placement, progress, stats, "images")
    stats["files"] = stats["samples"] = len(labels)
    return images, labels, stats


def read_label(path: str) -> str | None:
    """A label file's text, NFC, stripped: UTF-8 (with or without BOM), UTF-16 with a BOM
    (Notepad's "Unicode") or CP949 (Korean Windows); None if it is none of these. Bytes valid
    in both UTF-8 and CP949 (CP949 '징' is UTF-8 '¡') read as the one that gives Hangul
    (:func:`koocr.hangul.decode_text`).

    Also reads the ground truth of the line sets (:func:`koocr.lines.load_line_set`).
    """
    with open(path, "rb") as fh:
        text = decode_text(fh.read())  # CP949 '징' is valid UTF-8 too: the Hangul reading wins
    return None if text is None else unicodedata.normalize("NFC", text.strip())


def _folder_label(root: str, path: str) -> str | None:
    """The nearest folder from ``path`` up to ``root``, ``root`` included (``--images 가``
    names one class), whose name is one syllable (NFC)."""
    d = os.path.dirname(path)
    while len(d) > len(root):
        name = unicodedata.normalize("NFC", os.path.basename(d))
        if is_syllable(name):
            return name
        d = os.path.dirname(d)
    name = unicodedata.normalize("NFC", os.path.basename(os.path.abspath(root)))  # "." too
    return name if is_syllable(name) else None


def _normalize_paths(todo, image_size, margin, placement, progress, stats, desc):
    """Normalises ``(path, label)`` pairs; unreadable and blank images are counted in ``stats``."""
    images = np.empty((len(todo), image_size, image_size), np.uint8)
    labels: list[str] = []
    for path, text in tqdm(todo, desc=desc, unit="img", disable=not progress):
        try:
            image = normalize(path, image_size, margin, placement)  # opens read-only
        except ValueError:  # corrupt / unreadable file: count it, keep going
            stats["unreadable_images"] += 1
            continue
        if _is_blank(image, stats):
            continue
        images[len(labels)] = image
        labels.append(text)
    return images[: len(labels)], labels


def _is_blank(normalized: np.ndarray, stats: dict) -> bool:
    """Whether a normalised glyph holds no ink (a white, black, transparent or uniform input,
    which :func:`normalize` makes all white), counted as ``blank_images``: labelled, it would
    teach the model that an empty square is that syllable. The test ``predict.py`` uses."""
    if normalized.min() < 255:
        return False
    stats["blank_images"] += 1
    return True


def _hgu1_files(path: str) -> list[str]:
    """``path`` itself, or the ``.hgu1`` files under it, skipping hidden files and folders and
    the ``__MACOSX/`` copies (``._x.hgu1`` AppleDouble files) that zips made on a Mac hold."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"HGU1 file or folder not found: {path}")
    found = []
    for d, dirs, names in os.walk(path):
        dirs[:] = [n for n in dirs if not n.startswith(".") and n != "__MACOSX"]  # archive litter
        found += [
            os.path.join(d, f)
            for f in names
            if f.lower().endswith(".hgu1") and not f.startswith(".")
        ]
    if not found:
        raise FileNotFoundError(f"No .hgu1 files under {path}")
    return sorted(found)


def iter_hgu1(path: str | os.PathLike):
    """Yields ``(label_or_None, image uint8 (h, w), type)`` for each record of one HGU1 file.

    ``label`` is None when the code is not one Hangul syllable (e.g. a symbol or hanja).

    Raises:
        ValueError: bad header or truncated record, naming the file and byte offset.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < HGU1_HEADER_SIZE or not data.startswith(HGU1_MAGIC):
        raise ValueError(
            f"{path}: bad HGU1 header at offset 0: expected {HGU1_HEADER_SIZE} bytes starting "
            f"with {HGU1_MAGIC!r}. Received: {data[:HGU1_HEADER_SIZE]!r}"
        )
    offset = HGU1_HEADER_SIZE
    while offset < len(data):
        if offset + _RECORD.size > len(data):
            raise ValueError(
                f"{path}: truncated HGU1 record header at offset {offset}: "
                f"{len(data) - offset} bytes left, need {_RECORD.size}"
            )
        code, width, height, kind, _ = _RECORD.unpack_from(data, offset)
        if width == 0 or height == 0:
            raise ValueError(
                f"{path}: HGU1 record at offset {offset} has an empty image ({width}x{height})"
            )
        start = offset + _RECORD.size
        end = start + width * height
        if end > len(data):
            raise ValueError(
                f"{path}: truncated HGU1 record at offset {offset}: {width}x{height} image "
                f"needs {width * height} bytes, {len(data) - start} left"
            )
        try:
            label = code.decode("cp949")
        except UnicodeDecodeError:
            label = None
        image = np.frombuffer(data, np.uint8, width * height, start).reshape(height, width)
        yield (label if is_syllable(label) else None), image, kind
        offset = end


def read_hgu1(
    path: str | os.PathLike,
    image_size: int = 48,
    margin: float = 0.1,
    placement: Placement | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, list[str], dict]:
    """Reads PE92 / SERI95 style HGU1 files (format in the module docstring).

    Args:
        path: one ``.hgu1`` file or a folder searched recursively for them.
        image_size: side of the normalised output.
        margin: passed to :func:`koocr.preprocess.normalize`.
        placement: passed to :func:`koocr.preprocess.normalize`.
        progress: show a tqdm progress bar over files.

    Returns:
        ``(images, labels, stats)`` with stats ``files``, ``samples``, ``skipped_labels``
        (codes that are not one Hangul syllable), ``missing_images`` (always 0),
        ``unreadable_images`` (records too small to hold a character, e.g. 30x1) and
        ``blank_images`` (records without ink); the last two are skipped, like the image
        folder reader's.

    Raises:
        FileNotFoundError: ``path`` does not exist or holds no ``.hgu1`` file.
        ValueError: bad header or truncated record, naming the file and byte offset.
    """
    files = _hgu1_files(os.fspath(path))
    stats = {"files": len(files), "samples": 0, "skipped_labels": 0, "missing_images": 0,
             "unreadable_images": 0, "blank_images": 0}  # fmt: skip
    chunks: list[np.ndarray] = []
    labels: list[str] = []
    for file in tqdm(files, desc="HGU1", unit="file", disable=not progress):
        batch = []
        for label, image, _ in iter_hgu1(file):
            if label is None:
                stats["skipped_labels"] += 1
                continue
            try:
                glyph = normalize(image, image_size, margin, placement)
            except ValueError:  # a valid but tiny record (30x1): one bad sample, not a bad set
                stats["unreadable_images"] += 1
                continue
            if _is_blank(glyph, stats):
                continue
            batch.append(glyph)
            labels.append(label)
        if batch:
            chunks.append(np.stack(batch))
    images = np.concatenate(chunks) if chunks else np.empty((0, image_size, image_size), np.uint8)
    stats["samples"] = len(labels)
    return images, labels, stats


def write_hgu1(
    path: str | os.PathLike,
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    record_type: int = 0,
) -> None:
    """Writes images and syllable labels as one HGU1 file (format in the module docstring).

    Args:
        path: output file.
        images: uint8 (h, w) arrays, 1 <= h, w <= 255, 0xFF background.
        labels: one KS X 1001 syllable per image.
        record_type: the type byte of every record.

    Raises:
        ValueError: mismatched lengths, a label outside KS X 1001 or an image that does not fit.
    """
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    parts = [HGU1_MAGIC + bytes(HGU1_HEADER_SIZE - len(HGU1_MAGIC))]
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        try:
            code = label.encode("euc_kr") if is_syllable(label) else b""
        except UnicodeEncodeError:
            code = b""
        if len(code) != 2:
            raise ValueError(f"Label {i} is not a KS X 1001 syllable. Received: {label!r}")
        arr = np.asarray(image)
        if (
            arr.ndim != 2
            or arr.dtype != np.uint8
            or not (1 <= arr.shape[0] <= 255 and 1 <= arr.shape[1] <= 255)
        ):
            raise ValueError(
                f"Image {i} must be uint8 (h, w) with 1 <= h, w <= 255. "
                f"Received: dtype={arr.dtype}, shape={arr.shape}"
            )
        height, width = arr.shape
        parts.append(_RECORD.pack(code, width, height, record_type, 0))
        parts.append(np.ascontiguousarray(arr).tobytes())
    with open(path, "wb") as fh:
        fh.write(b"".join(parts))
