"""Downloads patch archives and unpacks them safely into place.

The flow for one dataset (``./data`` or ``./val_data``):

1. :func:`fetch` downloads a Google Drive id or any URL with ``gdown`` into a cache
   folder (skipped when a verified copy is already there), checks the magic bytes
   (a Drive quota page is HTML, not an archive) and the optional SHA-256.
2. :func:`install_archive` extracts into a hidden temporary folder next to the target,
   refusing absolute paths, ``..`` and links that leave it, keeps only the ``*.pickle``
   patches, validates every one with :func:`koocr.patches.load_patch`, and only then
   swaps the folder into place, so a failed or interrupted run leaves the previous data
   intact. :func:`download_datasets` fetches and validates ``./data`` and ``./val_data``
   both before it replaces either.

Example:
    >>> summary = download_dataset("./data", file_id="<drive id>")  # doctest: +SKIP
    >>> print(format_summary(summary))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Sequence
from urllib.parse import urlsplit

import gdown
import py7zr
import requests
from gdown.exceptions import DownloadError as _GdownDownloadError
from gdown.exceptions import FileURLRetrievalError

from koocr.files import private_tmpdir, remove
from koocr.patches import PatchError, entries_besides, list_patches, summarize, umask_mode
from koocr.patches import format_summary as _format_patches

__all__ = [
    "ArchiveError",
    "DiskFullError",
    "DownloadError",
    "download_dataset",
    "download_datasets",
    "extract_archive",
    "fetch",
    "format_summary",
    "install_archive",
    "sha256sum",
    "sniff",
]

MAGIC = {
    "7z": b"7z\xbc\xaf\x27\x1c",
    "zip": b"PK\x03\x04",
    "zip-empty": b"PK\x05\x06",
}


class DownloadError(RuntimeError):
    """Network failure, HTTP error, a quota page instead of a file, or a bad checksum."""


class ArchiveError(ValueError):
    """A corrupt, truncated or unsafe archive (path traversal, links leaving the target)."""


class DiskFullError(OSError):
    """No space left on the device (errno ENOSPC), with a message saying where."""


class TargetError(ValueError):
    """The folder to install into holds something other than patches, so replacing it would lose it."""


def check_target(target: str | os.PathLike) -> None:
    """Raises :class:`TargetError` unless ``target`` is absent, empty or only ``*.pickle`` files.

    Installing replaces the whole folder, so a mistaken ``--data_path .`` must not delete a
    project (an earlier dataset's patches are what it is meant to replace).
    """
    target = os.fspath(target)
    if not os.path.lexists(target):
        return
    if os.path.islink(target):
        target = os.path.realpath(target)
    if not os.path.isdir(target):
        raise TargetError(f"{target!r} is a file, not a patch folder; choose another path")
    shown = entries_besides(
        target, lambda e: e.is_file(follow_symlinks=False) and e.name.endswith(".pickle")
    )
    if shown:
        raise TargetError(
            f"{target!r} holds more than patches ({shown}); installing replaces the whole folder. "
            "Choose an empty or new folder, or move those files away"
        )


@contextlib.contextmanager
def _disk_full_guard(what: str, where: str):
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            errno.ENOSPC,
            f"Disk full while {what}: no space left in {os.path.abspath(where)!r}. "
            "Free some space (or choose another folder) and run again; "
            "existing data was left untouched",
        ) from error


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff(path: str | os.PathLike) -> str | None:
    """'7z', 'zip' or 'html' from a file's first bytes; None when unrecognised."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(MAGIC["7z"]):
        return "7z"
    if head.startswith((MAGIC["zip"], MAGIC["zip-empty"])):
        return "zip"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "html"
    return None


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 must be 64 hex digits. Received: sha256={sha256!r}")
    return sha256.lower() if sha256 else None


def _source_name(url: str | None, file_id: str | None) -> str:
    return f"Google Drive id {file_id!r}" if file_id else repr(url)


def _verified(path: str, sha256: str | None) -> bool:
    if sniff(path) not in ("7z", "zip"):
        return False
    return sha256 is None or sha256sum(path) == sha256


def fetch(
    dest: str | os.PathLike,
    *,
    url: str | None = None,
    file_id: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    quiet: bool = False,
    timeout: float = 60.0,
) -> str:
    """Downloads an archive to ``dest`` unless a verified copy is already there.

    Exactly one of ``url`` (any http(s) URL, Drive links included) or ``file_id``
    (a Google Drive file id) is used. The file is written in a temporary folder beside
    ``dest`` and renamed only once it is complete, looks like a 7z/zip archive and
    matches ``sha256`` (when given).

    Raises:
        DownloadError: network failure, HTTP error, HTML (quota/permission) page,
            incomplete transfer or checksum mismatch.
        DiskFullError: no space left while writing.
    """
    if (url is None) == (file_id is None):
        raise ValueError(
            f"Pass exactly one of url or file_id. Received: url={url!r}, file_id={file_id!r}"
        )
    dest = os.fspath(dest)
    sha256 = _check_sha256(sha256)
    source = _source_name(url, file_id)
    if os.path.isfile(dest) and not force:
        if _verified(dest, sha256):
            if not quiet:
                print(f"Using cached archive {dest} (force a new download to refresh it)")
            return dest
        if not quiet:
            print(f"Cached {dest} is not a verified archive; downloading again")
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    tmpdir = private_tmpdir(folder, ".download-")
    try:
        out = os.path.join(tmpdir, os.path.basename(dest))
        with _disk_full_guard(f"downloading {source}", folder):
            _gdown(out, url=url, file_id=file_id, quiet=quiet, timeout=timeout, source=source)
        kind = sniff(out)
        if kind == "html":
            raise DownloadError(
                f"{source} returned an HTML page instead of an archive: probably the "
                "Google Drive download quota was exceeded or the file is not shared "
                "with 'Anyone with the link'. Try again later, or pass a direct URL"
            )
        if kind is None:
            with open(out, "rb") as fh:
                head = fh.read(8)
            raise DownloadError(
                f"{source} did not return a 7z or zip archive (first bytes: {head!r})"
            )
        if sha256 is not None:
            actual = sha256sum(out)
            if actual != sha256:
                raise DownloadError(
                    f"SHA-256 mismatch for {source}: expected {sha256}, got {actual}"
                )
        os.replace(out, dest)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return dest


def _gdown(out, *, url, file_id, quiet, timeout, source) -> None:
    try:
        gdown.download(url=url, id=file_id, output=out, quiet=quiet, timeout=timeout)
    except requests.HTTPError as error:
        response = error.response
        code = f"HTTP {response.status_code} {response.reason}" if response is not None else "HTTP"
        raise DownloadError(f"{code} while downloading {source}") from error
    except (requests.ConnectionError, requests.Timeout) as error:
        raise DownloadError(
            f"Network failure while downloading {source}: {error}. "
            "Check the connection (and proxy settings) and run again"
        ) from error
    except FileURLRetrievalError as error:
        raise DownloadError(
            f"Google Drive refused {source} (quota exceeded or not shared publicly): {error}"
        ) from error
    except (_GdownDownloadError, requests.RequestException) as error:
        incomplete = re.match(
            r"Download is incomplete: received (\d+) bytes(?: but the server announced (\d+))?",
            str(error),
        )
        if incomplete is None:
            raise DownloadError(f"Download of {source} failed: {error}") from error
        # gdown's message points at its .part file and a --continue flag; fetch deletes
        # the one and load_data.py has not the other.
        received, announced = incomplete.groups()
        expected = f" of the {announced} bytes the server announced" if announced else " bytes"
        raise DownloadError(
            f"Download of {source} was cut off: received {received}{expected}. Nothing was "
            "kept; run the same command again to retry"
        ) from error


# ----------------------------------------------------------------------------- extraction


def _member_parts(name: str, archive: str) -> list[str]:
    """Splits a member name, refusing absolute paths and ``..``."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise ArchiveError(f"{archive}: refusing member with an absolute path: {name!r}")
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"{archive}: refusing member that leaves the target: {name!r}")
    return parts


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def _check_free_space(dest: str, needed: int) -> None:
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise DiskFullError(
            errno.ENOSPC,
            f"Disk full: unpacking needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB "
            f"are free in {os.path.abspath(dest)!r}; existing data was left untouched",
        )


def _extract_zip(archive: str, dest: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _member_parts(info.filename, archive)
        _check_free_space(dest, sum(info.file_size for info in infos))
        for info in infos:
            parts = _member_parts(info.filename, archive)
            if not parts:
                continue
            out = os.path.join(dest, *parts)
            # realpath follows links already extracted, so a member cannot write
            # through an earlier link member (or replace one) to leave ``dest``.
            if not _inside(dest, out) or os.path.islink(out):
                raise ArchiveError(f"{archive}: member {info.filename!r} leaves the target")
            if info.is_dir():
                os.makedirs(out, exist_ok=True)
                continue
            parent = os.path.dirname(out)
            os.makedirs(parent, exist_ok=True)
            if stat.S_ISLNK(info.external_attr >> 16):
                target = zf.read(info).decode("utf-8")
                if os.path.isabs(target) or not _inside(dest, os.path.join(parent, target)):
                    raise ArchiveError(
                        f"{archive}: refusing link {info.filename!r} -> {target!r} "
                        "that points outside the target"
                    )
                os.symlink(target, out)
                continue
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _extract_7z(archive: str, dest: str) -> None:
    with py7zr.SevenZipFile(archive, mode="r") as sz:
        infos = sz.list()
        for info in infos:
            _member_parts(info.filename, archive)
        _check_free_space(dest, sum(int(info.uncompressed or 0) for info in infos))
        # py7zr itself refuses symlinks that point outside ``dest``.
        sz.extractall(path=dest)


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> str:
    """Safely extracts a 7z or zip archive (detected by magic bytes) into ``dest``.

    Returns:
        The archive format, ``'7z'`` or ``'zip'``.

    Raises:
        ArchiveError: unknown format, corrupt or truncated archive, or a member with an
            absolute path, ``..`` or a link pointing outside ``dest``.
        DiskFullError: not enough space.
    """
    archive, dest = os.fspath(archive), os.fspath(dest)
    kind = sniff(archive)
    if kind not in ("7z", "zip"):
        raise ArchiveError(f"{archive}: not a 7z or zip archive (detected: {kind})")
    os.makedirs(dest, exist_ok=True)
    try:
        with _disk_full_guard(f"unpacking {archive}", dest):
            (_extract_7z if kind == "7z" else _extract_zip)(archive, dest)
    except (ArchiveError, DiskFullError):
        raise
    except OSError as error:
        if error.errno is not None:  # permissions and the like: not the archive's fault
            raise
        raise ArchiveError(f"{archive}: corrupt or truncated {kind} archive ({error})") from error
    except Exception as error:  # zipfile, py7zr, lzma... each raise their own types
        raise ArchiveError(
            f"{archive}: corrupt, truncated or unsafe {kind} archive "
            f"({type(error).__name__}: {error})"
        ) from error
    for folder, dirs, files in os.walk(dest):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not _inside(dest, path):
                raise ArchiveError(f"{archive}: refusing link {path!r} pointing outside")
    return kind


def _patch_root(folder: str, archive: str) -> str:
    """The folder holding the patches: the top level, or a single wrapping folder."""
    entries = [e for e in os.listdir(folder) if e != "__MACOSX"]
    if any(e.endswith(".pickle") for e in entries):
        return folder
    dirs = [e for e in entries if os.path.isdir(os.path.join(folder, e))]
    if len(dirs) == 1 and len(entries) == 1:
        return _patch_root(os.path.join(folder, dirs[0]), archive)
    raise ArchiveError(f"{archive}: holds no *.pickle patches (found: {sorted(entries)[:10]})")


def _recover(target: str) -> None:
    """Restores a backup left by a run killed between its two renames."""
    parent, name = os.path.split(target)
    backups = sorted(glob.glob(os.path.join(parent, f".{name}.old-*")), key=os.path.getmtime)
    if backups and not os.path.lexists(target):
        print(f"Restoring {target} from {backups[-1]} (left by an interrupted run)")
        os.replace(backups.pop(), target)
    for stale in backups:
        remove(stale)


def _resolve_target(target: str | os.PathLike) -> str:
    """The absolute folder to install into, once :func:`check_target` accepted it."""
    target = os.fspath(target)
    check_target(target)
    if os.path.islink(target):  # keep a symlinked data folder where it really lives
        target = os.path.realpath(target)
    return os.path.abspath(target)


def _is_patch(entry: os.DirEntry) -> bool:
    # What list_patches validates and check_target accepts, so the next run is not refused.
    return (
        entry.is_file(follow_symlinks=False)
        and entry.name.endswith(".pickle")
        and not entry.name.startswith(".")
    )


def _keep_patches_only(stage: str, root: str) -> list[str]:
    """Deletes all but the patch files of ``root``; returns the members that were skipped."""
    kept = {entry.path for entry in os.scandir(root) if _is_patch(entry)}
    skipped = []
    for folder, dirs, files in os.walk(stage):
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in files + links:
            path = os.path.join(folder, name)
            if path not in kept:
                skipped.append(os.path.relpath(path, stage).replace(os.sep, "/"))
    for entry in os.scandir(root):
        if entry.path not in kept:
            remove(entry.path)
    return sorted(skipped)


def _stage(archive: str, target: str, label: str, quiet: bool) -> tuple[str, str, dict]:
    """Extracts ``archive`` beside ``target`` and validates its patches; touches neither.

    Returns:
        ``(stage, root, summary)``: the private folder to delete afterwards, the folder
        of patches inside it to rename to ``target``, and their summary.
    """
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    _recover(target)
    stage = private_tmpdir(parent, f".{name}.partial-")
    try:
        if not quiet:
            print(f"Unpacking {archive} ...")
        extract_archive(archive, stage)
        root = _patch_root(stage, archive)
        skipped = _keep_patches_only(stage, root)
        if not os.listdir(root):
            raise ArchiveError(f"{archive}: holds no *.pickle patch files")
        if not quiet:
            print(f"Validating {len(list_patches(root))} patches ...")
        try:
            summary = summarize(root)
        except PatchError as error:
            # Name the archive member, not the temporary folder deleted below.
            member = str(error).removeprefix(stage + os.sep)
            raise PatchError(f"{label}: {member}") from error
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    summary.update(folder=target, skipped=skipped)
    return stage, root, summary


def _swap(root: str, target: str) -> str | None:
    """Renames ``root`` to ``target``; returns the old ``target``'s backup (None if none).

    A run killed between the two renames is repaired by :func:`_recover` on the next one.
    """
    parent, name = os.path.split(target)
    with _disk_full_guard(f"moving the patches into {target}", parent):
        os.chmod(root, umask_mode(0o777))  # mkdtemp made it private (0700)
        backup = None
        if os.path.lexists(target):
            backup = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.replace(target, backup)
        try:
            os.replace(root, target)
        except BaseException:
            if backup is not None:
                os.replace(backup, target)
            raise
    return backup


def _install(jobs: list[tuple[str, str, str]], quiet: bool, drop_broken: bool) -> list[dict]:
    """Stages every ``(archive, target, label)``, then swaps them all into place, or none."""
    staged, swapped = [], []
    try:
        for archive, target, label in jobs:
            try:
                staged.append(_stage(archive, target, label, quiet))
            except (ArchiveError, PatchError):
                if drop_broken:
                    os.remove(archive)  # a broken archive must not be reused from the cache
                raise
        try:
            for _, root, summary in staged:
                swapped.append((root, summary["folder"], _swap(root, summary["folder"])))
        except BaseException:
            for root, target, backup in reversed(swapped):  # the earlier folders go back too
                os.replace(target, root)
                if backup is not None:
                    os.replace(backup, target)
            raise
        for _, _, backup in swapped:
            if backup is not None:
                remove(backup)
    finally:
        for stage, _, _ in staged:
            shutil.rmtree(stage, ignore_errors=True)
    return [summary for _, _, summary in staged]


def install_archive(archive: str | os.PathLike, target: str | os.PathLike, quiet=False) -> dict:
    """Extracts, validates every patch, then replaces ``target`` with the patch files.

    Until the final rename ``target`` is untouched, so any error leaves it as it was.
    Only the ``*.pickle`` patches are installed; other members (a README, ...) are
    skipped and listed in the summary's ``"skipped"``.

    Returns:
        :func:`koocr.patches.summarize` of the installed folder, plus ``"skipped"``.

    Raises:
        ArchiveError, DiskFullError, TargetError, koocr.patches.PatchError.
    """
    archive = os.fspath(archive)
    target = _resolve_target(target)
    return _install([(archive, target, os.path.basename(archive))], quiet, drop_broken=False)[0]


def _archive_name(url: str | None, file_id: str | None) -> str:
    """How messages name an archive: its file name in the URL (``data.7z``), else the source."""
    name = os.path.basename(urlsplit(url).path) if url else ""
    return name if "." in name else _source_name(url, file_id)


def download_datasets(
    datasets: Sequence[dict],
    *,
    sevenzip: bool = True,
    cache_dir: str | os.PathLike = "downloads",
    force: bool = False,
    quiet: bool = False,
    timeout: float = 60.0,
) -> list[dict]:
    """Fetches several archives and installs each as its folder: all of them, or none.

    Every archive is downloaded, unpacked and validated before any folder is replaced,
    so a bad validation archive leaves ``./data`` as it was too.

    Args:
        datasets: one dict per folder, with ``target`` and exactly one of ``url`` or
            ``file_id``, optionally ``sha256`` (see :func:`download_dataset`).
        sevenzip, cache_dir, force, quiet, timeout: as for :func:`download_dataset`.

    Returns:
        The summaries of the installed folders, in order.
    """
    targets = [_resolve_target(dataset["target"]) for dataset in datasets]  # before downloading
    for index, target in enumerate(targets):
        if target in targets[:index]:
            raise TargetError(
                f"two datasets would be installed into {target!r}; give each its own folder"
            )
    jobs = []
    for dataset, target in zip(datasets, targets, strict=True):
        url, file_id = dataset.get("url"), dataset.get("file_id")
        name = os.path.basename(os.path.normpath(os.fspath(dataset["target"])))
        key = file_id if file_id else hashlib.sha256(str(url).encode()).hexdigest()[:12]
        key = re.sub(r"[^A-Za-z0-9_-]", "_", key)
        dest = os.path.join(os.fspath(cache_dir), f"{name}-{key}.{'7z' if sevenzip else 'zip'}")
        fetch(
            dest,
            url=url,
            file_id=file_id,
            sha256=dataset.get("sha256"),
            force=force,
            quiet=quiet,
            timeout=timeout,
        )
        jobs.append((dest, target, _archive_name(url, file_id)))
    return _install(jobs, quiet, drop_broken=True)


def download_dataset(
    target: str | os.PathLike,
    *,
    url: str | None = None,
    file_id: str | None = None,
    sevenzip: bool = True,
    sha256: str | None = None,
    cache_dir: str | os.PathLike = "downloads",
    force: bool = False,
    quiet: bool = False,
    timeout: float = 60.0,
) -> dict:
    """Fetches one archive into ``cache_dir`` and installs it as ``target``.

    Args:
        target: the patch folder to create or replace (``./data``).
        url, file_id: where the archive lives (exactly one).
        sevenzip: expect ``.7z`` (else ``.zip``); only names the cached file, the
            format itself is detected from its bytes.
        sha256: expected hex digest of the archive.
        cache_dir: where archives are kept, so a verified one is not fetched again.
        force: download even if a verified copy is cached.

    Returns:
        The summary of the installed patches (files and samples per source), with
        ``"skipped"``: the archive members that are not patches and were not installed.
    """
    dataset = {"target": target, "url": url, "file_id": file_id, "sha256": sha256}
    return download_datasets(
        [dataset],
        sevenzip=sevenzip,
        cache_dir=cache_dir,
        force=force,
        quiet=quiet,
        timeout=timeout,
    )[0]


def format_summary(summary: dict) -> str:
    """:func:`koocr.patches.format_summary`, plus the archive members left out."""
    text = _format_patches(summary)
    skipped = summary.get("skipped") or []
    if skipped:
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        text += f"\n  skipped {len(skipped)} non-patch file(s): {', '.join(skipped[:5])}{more}"
    return text
