import errno
import hashlib
import importlib.util
import io
import os
import shutil
import socket
import stat
import subprocess
import threading
import unittest.mock
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import py7zr
import pytest

from koocr import download
from koocr.cli import str2bool
from koocr.download import ArchiveError, DiskFullError, DownloadError
from koocr.patches import list_patches, load_patch, summarize, write_patches

ROOT = Path(__file__).resolve().parents[1]


def _load_data_module():
    spec = importlib.util.spec_from_file_location("load_data", ROOT / "load_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load_data = _load_data_module()


# ------------------------------------------------------------------ fixtures and helpers


class _Server:
    """Serves ``routes[path] = (status, body, extra headers)`` on 127.0.0.1."""

    def __init__(self):
        self.routes = {}
        self.hits = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, body, headers = server.routes.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def add(self, path, body, status=200, **headers):
        self.routes[path] = (status, body, headers)
        return self.url(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = _Server()
    yield srv
    srv.close()


def _patch_folder(folder, n_files=2, size=8):
    rng = np.random.default_rng(0)
    for i, source in enumerate(["printed", "handwritten", "clova"][:n_files]):
        images = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
        write_patches(folder, source, images, ["가", "나", "다"][: 3 - i] + ["라"] * i)
    return sorted(os.listdir(folder))


def _zip_bytes(members):
    """``members``: (name, bytes) pairs, or (name, target, 'link') for a symlink."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            if len(member) == 3:
                info = zipfile.ZipInfo(member[0])
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, member[1])
            else:
                zf.writestr(*member)
    return buf.getvalue()


def _7z_bytes(members):
    buf = io.BytesIO()
    # py7zr refuses to *write* unsafe names; lift that to build hostile archives.
    with unittest.mock.patch("py7zr.py7zr.check_archive_path", lambda name: True):
        with py7zr.SevenZipFile(buf, "w") as sz:
            for name, data in members:
                sz.writef(io.BytesIO(data), name)
    return buf.getvalue()


def _members(folder, prefix=""):
    return [(prefix + name, (Path(folder) / name).read_bytes()) for name in os.listdir(folder)]


@pytest.fixture
def source(tmp_path):
    """A folder of tiny valid patches, and its archive members."""
    folder = tmp_path / "source"
    _patch_folder(folder)
    return _members(folder)


@pytest.fixture
def workdir(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    return work


def _args(work, data_url, val_url, *extra):
    return [
        f"--data_url={data_url}",
        f"--val_url={val_url}",
        f"--data_path={work / 'data'}",
        f"--val_path={work / 'val_data'}",
        f"--cache_dir={work / 'downloads'}",
        "--quiet=yes",
        "--timeout=10",
        *extra,
    ]


def _existing_data(work):
    folder = work / "data"
    write_patches(folder, "printed", np.zeros((1, 4, 4), np.uint8), ["하"])
    return {p: Path(p).read_bytes() for p in list_patches(folder)}


def _assert_unchanged(work, before):
    assert {p: Path(p).read_bytes() for p in list_patches(work / "data")} == before
    assert not [n for n in os.listdir(work) if n.startswith(".")]  # no temp folders left


def _outside_files(tmp_path):
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("evil*"))


# ------------------------------------------------------------------------------ success


@pytest.mark.parametrize("sevenzip", [True, False])
def test_download_and_unpack_both_formats(server, source, workdir, capsys, sevenzip):
    pack, ext = (_7z_bytes, "7z") if sevenzip else (_zip_bytes, "zip")
    data_url = server.add(f"/data.{ext}", pack(source))
    val_url = server.add(f"/val.{ext}", pack(source[:1]))
    assert load_data.main(_args(workdir, data_url, val_url, f"--sevenzip={sevenzip}")) == 0
    summary = summarize(workdir / "data")
    assert summary["files"] == 2 and summary["samples"] == {"printed": 3, "handwritten": 3}
    assert summarize(workdir / "val_data")["files"] == 1
    assert stat.S_IMODE(os.stat(workdir / "data").st_mode) & 0o055  # not left 0700
    out = capsys.readouterr().out
    assert "2 files, 6 samples" in out and "handwritten" in out
    assert not [n for n in os.listdir(workdir) if n.startswith(".")]


def test_verified_archive_is_not_fetched_again(server, source, workdir):
    body = _zip_bytes(source)
    digest = hashlib.sha256(body).hexdigest()
    data_url = server.add("/d.zip", body)
    val_url = server.add("/v.zip", body)
    args = _args(workdir, data_url, val_url, "--sevenzip=no", f"--data_sha256={digest}")
    assert load_data.main(args) == 0
    assert load_data.main(args) == 0
    assert server.hits == ["/d.zip", "/v.zip"]
    assert load_data.main([*args, "--force_download"]) == 0
    assert server.hits[2:] == ["/d.zip", "/v.zip"]


def test_patches_inside_one_folder_are_found(server, source, workdir):
    url = server.add("/d.zip", _zip_bytes(_members_with_prefix(source, "data/")))
    summary = download.download_dataset(
        workdir / "data", url=url, sevenzip=False, cache_dir=workdir / "dl", quiet=True
    )
    assert summary["files"] == 2
    assert sorted(os.listdir(workdir / "data")) == sorted(name for name, _ in source)


def _members_with_prefix(members, prefix):
    return [(prefix + name, data) for name, data in members]


def test_replaces_existing_data(server, source, workdir):
    _existing_data(workdir)
    url = server.add("/d.7z", _7z_bytes(source))
    download.download_dataset(workdir / "data", url=url, cache_dir=workdir / "dl", quiet=True)
    assert sorted(os.listdir(workdir / "data")) == sorted(name for name, _ in source)


# ------------------------------------------------------------------------- failures


def test_a_folder_holding_more_than_patches_is_not_replaced(server, source, workdir, capsys):
    """Installing swaps the whole folder: a mistaken --data_path must not delete other files."""
    before = _existing_data(workdir)
    notes = workdir / "data" / "notes.txt"
    notes.write_text("mine")
    url = server.add("/d.zip", _zip_bytes(source))
    args = _args(workdir, url, url, "--sevenzip=no")
    assert load_data.main(args) == 1
    assert "holds more than patches (notes.txt)" in capsys.readouterr().err
    assert notes.read_text() == "mine"
    assert {p: Path(p).read_bytes() for p in list_patches(workdir / "data")} == before
    assert server.hits == []  # refused before downloading
    (workdir / "data" / "sub").mkdir()
    with pytest.raises(download.TargetError, match="notes.txt, sub"):
        download.install_archive(workdir / "x.zip", workdir / "data", quiet=True)
    (workdir / "file").write_text("x")
    with pytest.raises(download.TargetError, match="is a file"):
        download.check_target(workdir / "file")
    notes.unlink()
    (workdir / "data" / "sub").rmdir()
    assert load_data.main(args) == 0  # patches only: replaced as before
    assert sorted(os.listdir(workdir / "data")) == sorted(name for name, _ in source)


def test_sha256_mismatch(server, source, workdir):
    before = _existing_data(workdir)
    url = server.add("/d.zip", _zip_bytes(source))
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download.download_dataset(
            workdir / "data", url=url, sha256="0" * 64, cache_dir=workdir / "dl", quiet=True
        )
    _assert_unchanged(workdir, before)
    assert os.listdir(workdir / "dl") == []


def test_http_error(server, workdir):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.fetch(workdir / "a.7z", url=server.url("/missing.7z"), quiet=True)
    assert os.listdir(workdir) == []


def test_quota_page_instead_of_archive(server, workdir):
    page = b"<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>"
    url = server.add("/d.7z", page, **{"Content-Type": "text/html"})
    with pytest.raises(DownloadError, match="HTML page instead of an archive"):
        download.fetch(workdir / "a.7z", url=url, quiet=True)
    assert os.listdir(workdir) == []


def test_drive_refusal_is_a_download_error(workdir, monkeypatch):
    def refuse(**kwargs):
        raise download.FileURLRetrievalError("Too many users have viewed or downloaded this file")

    monkeypatch.setattr(download.gdown, "download", refuse)
    with pytest.raises(DownloadError, match="Google Drive refused"):
        download.fetch(workdir / "a.7z", file_id="abc", quiet=True)


def test_network_failure(workdir, server):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="Network failure"):
        download.fetch(workdir / "a.7z", url=f"http://127.0.0.1:{port}/d.7z", quiet=True)
    assert os.listdir(workdir) == []


def test_incomplete_transfer(server, source, workdir):
    body = _7z_bytes(source) + bytes(3 << 20)  # over gdown's 512 KiB chunks: some arrive
    url = server.add("/d.7z", body[:-50], **{"Content-Length": str(len(body))})
    with pytest.raises(DownloadError) as info:
        download.fetch(workdir / "a.7z", url=url, quiet=True)
    assert os.listdir(workdir) == []
    # gdown's own message points at a .part file that fetch deletes and at --continue
    message = str(info.value)
    assert "bytes the server announced" in message and f"of the {len(body)} " in message
    assert "Nothing was kept; run the same command again" in message
    assert ".part" not in message and "--continue" not in message and "\n" not in message


@pytest.mark.parametrize("fmt", ["7z", "zip"])
def test_truncated_archive_fails_cleanly(server, source, workdir, fmt):
    before = _existing_data(workdir)
    body = (_7z_bytes if fmt == "7z" else _zip_bytes)(source)
    url = server.add(f"/d.{fmt}", body[: len(body) * 2 // 3])
    args = _args(workdir, url, url, f"--sevenzip={fmt == '7z'}")
    with pytest.raises(ArchiveError, match="corrupt"):
        download.download_dataset(
            workdir / "data", url=url, sevenzip=fmt == "7z", cache_dir=workdir / "dl", quiet=True
        )
    _assert_unchanged(workdir, before)
    assert os.listdir(workdir / "dl") == []  # a broken archive is not kept in the cache
    assert load_data.main(args) == 1
    _assert_unchanged(workdir, before)


@pytest.mark.parametrize("name", ["../evil.pickle", "/tmp/evil_abs.pickle", "a/../../evil.pickle"])
@pytest.mark.parametrize("fmt", ["7z", "zip"])
def test_path_traversal_is_refused(server, source, tmp_path, workdir, name, fmt):
    before = _existing_data(workdir)
    members = [*source, (name, source[0][1])]
    body = (_7z_bytes if fmt == "7z" else _zip_bytes)(members)
    url = server.add(f"/d.{fmt}", body)
    with pytest.raises(ArchiveError, match="refusing member"):
        download.download_dataset(workdir / "data", url=url, cache_dir=workdir / "dl", quiet=True)
    _assert_unchanged(workdir, before)
    assert _outside_files(tmp_path) == []
    assert not os.path.exists("/tmp/evil_abs.pickle")


@pytest.mark.parametrize("target", ["/etc", "../../..", "../outside"])
def test_link_pointing_outside_is_refused(server, source, tmp_path, workdir, target):
    before = _existing_data(workdir)
    members = [("link", target, "link"), ("link/evil.pickle", source[0][1]), *source]
    url = server.add("/d.zip", _zip_bytes(members))
    with pytest.raises(ArchiveError, match="outside"):
        download.download_dataset(
            workdir / "data", url=url, sevenzip=False, cache_dir=workdir / "dl", quiet=True
        )
    _assert_unchanged(workdir, before)
    assert _outside_files(tmp_path) == []


def test_7z_link_pointing_outside_is_refused(tmp_path, workdir):
    os.symlink("/etc/passwd", tmp_path / "link")
    archive = tmp_path / "links.7z"
    with py7zr.SevenZipFile(archive, "w") as sz:
        sz.write(tmp_path / "link", "link")
    with pytest.raises(ArchiveError):
        download.extract_archive(archive, workdir / "out")
    assert not os.path.lexists(workdir / "out" / "link")


def test_invalid_patch_inside_archive_keeps_data(server, source, workdir):
    before = _existing_data(workdir)
    bad = (workdir / "bad").as_posix()
    write_patches(bad, "printed", np.zeros((1, 4, 4), np.uint8), ["하"])
    raw = Path(list_patches(bad)[0]).read_bytes().replace("하".encode("utf-32-le"), b"A\0\0\0")
    shutil.rmtree(bad)
    url = server.add("/d.zip", _zip_bytes([*source, ("printed_9.pickle", raw)]))
    assert load_data.main(_args(workdir, url, url, "--sevenzip=0")) == 1
    _assert_unchanged(workdir, before)


def _corrupt_patch(source):
    return source[0][1][: len(source[0][1]) // 2]


@pytest.mark.parametrize("bad", ["not an archive", "truncated", "corrupt patch"])
def test_a_bad_validation_archive_leaves_both_folders(server, source, workdir, capsys, bad):
    """Both archives are validated before either folder is replaced."""
    before = _existing_data(workdir)
    write_patches(workdir / "val_data", "printed", np.zeros((1, 4, 4), np.uint8), ["허"])
    val_before = {p: Path(p).read_bytes() for p in list_patches(workdir / "val_data")}
    body = {
        "not an archive": b"plain text, not an archive",
        "truncated": _zip_bytes(source)[:200],
        "corrupt patch": _zip_bytes([("printed_0.pickle", _corrupt_patch(source))]),
    }[bad]
    data_url = server.add("/big.zip", _zip_bytes(source))
    val_url = server.add("/v.zip", body)
    assert load_data.main(_args(workdir, data_url, val_url, "--sevenzip=no")) == 1
    assert capsys.readouterr().err.startswith("error: ")
    _assert_unchanged(workdir, before)
    assert {p: Path(p).read_bytes() for p in list_patches(workdir / "val_data")} == val_before


def test_a_failed_second_swap_puts_the_first_folder_back(server, source, workdir, monkeypatch):
    before = _existing_data(workdir)
    url = server.add("/d.zip", _zip_bytes(source))
    swap = download._swap

    def interrupted(root, target):
        if target.endswith("val_data"):
            raise KeyboardInterrupt  # Ctrl-C between the two folders
        return swap(root, target)

    monkeypatch.setattr(download, "_swap", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_data.main(_args(workdir, url, url, "--sevenzip=no"))
    monkeypatch.undo()
    _assert_unchanged(workdir, before)
    assert not (workdir / "val_data").exists()
    assert load_data.main(_args(workdir, url, url, "--sevenzip=no")) == 0


def test_same_folder_for_both_datasets_is_refused(server, source, workdir, capsys):
    url = server.add("/d.zip", _zip_bytes(source))
    args = _args(workdir, url, url, "--sevenzip=no", f"--val_path={workdir / 'data'}")
    assert load_data.main(args) == 1
    assert "two datasets would be installed into" in capsys.readouterr().err
    assert server.hits == []


def test_only_patch_files_are_installed(server, source, workdir, capsys):
    """A README in the archive is skipped (and said so), so the next run is not refused."""
    members = [
        *_members_with_prefix(source, "data/"),
        ("data/README.txt", b"how these patches were made"),
        ("data/.hidden.pickle", b"not validated, so not installed"),
        ("data/notes/more.txt", b"x"),
        ("__MACOSX/data/._printed_0.pickle", b"resource fork"),
    ]
    url = server.add("/d.zip", _zip_bytes(members))
    args = _args(workdir, url, url, "--sevenzip=no")
    assert load_data.main(args) == 0
    out = capsys.readouterr().out
    assert "skipped 4 non-patch file(s): __MACOSX/data/._printed_0.pickle, " in out
    assert "data/README.txt" in out
    for folder in ("data", "val_data"):
        assert sorted(os.listdir(workdir / folder)) == sorted(name for name, _ in source)
    assert load_data.main(args) == 0  # the folders hold only patches, so they are replaced
    summary = download.install_archive(
        next((workdir / "downloads").glob("data-*")), workdir / "data", quiet=True
    )
    assert summary["files"] == 2 and len(summary["skipped"]) == 4


def test_an_archive_of_no_patch_files_is_refused(server, workdir):
    before = _existing_data(workdir)
    url = server.add("/d.zip", _zip_bytes([("x.pickle/README.txt", b"a folder, not a patch")]))
    with pytest.raises(ArchiveError, match="holds no"):
        download.download_dataset(
            workdir / "data", url=url, sevenzip=False, cache_dir=workdir / "dl", quiet=True
        )
    _assert_unchanged(workdir, before)


@pytest.mark.parametrize("member", ["printed_9.pickle", "data/printed_9.pickle"])
def test_a_corrupt_patch_drops_the_cached_archive(server, source, workdir, capsys, member):
    before = _existing_data(workdir)
    prefix = member[: -len("printed_9.pickle")]
    members = [*_members_with_prefix(source, prefix), (member, _corrupt_patch(source))]
    url = server.add("/big.zip", _zip_bytes(members))
    args = _args(workdir, url, server.add("/v.zip", _zip_bytes(source)), "--sevenzip=no")
    assert load_data.main(args) == 1
    err = capsys.readouterr().err
    assert f"error: big.zip: {member}: corrupt or truncated patch (" in err
    assert str(workdir) not in err  # not the temporary folder, already deleted
    _assert_unchanged(workdir, before)
    assert not list((workdir / "downloads").glob("data-*"))  # not reused from the cache
    server.add("/big.zip", _zip_bytes(source))  # the server's file is fixed
    assert load_data.main(args) == 0
    assert "Using cached" not in capsys.readouterr().out
    assert server.hits == ["/big.zip", "/v.zip", "/big.zip"]
    assert sorted(os.listdir(workdir / "data")) == sorted(name for name, _ in source)


def test_disk_full_while_unpacking(server, source, workdir, monkeypatch):
    before = _existing_data(workdir)
    url = server.add("/d.zip", _zip_bytes(source))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download.shutil, "copyfileobj", no_space)
    with pytest.raises(DiskFullError, match="Disk full while unpacking"):
        download.download_dataset(
            workdir / "data", url=url, sevenzip=False, cache_dir=workdir / "dl", quiet=True
        )
    monkeypatch.undo()
    _assert_unchanged(workdir, before)


def test_disk_full_detected_before_unpacking(server, source, workdir, monkeypatch):
    before = _existing_data(workdir)
    url = server.add("/d.7z", _7z_bytes(source))
    monkeypatch.setattr(
        download.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 0)
    )
    assert load_data.main(_args(workdir, url, url)) == 1
    monkeypatch.undo()
    _assert_unchanged(workdir, before)


def test_disk_full_while_downloading(server, source, workdir, monkeypatch):
    url = server.add("/d.7z", _7z_bytes(source))

    def no_space(**kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download.gdown, "download", no_space)
    with pytest.raises(DiskFullError, match="Disk full while downloading"):
        download.fetch(workdir / "a.7z", url=url, quiet=True)
    assert os.listdir(workdir) == []


# ------------------------------------------------------------------------------- CLI


def test_cli_requires_an_id_or_url(workdir, capsys):
    with pytest.raises(SystemExit) as info:
        load_data.main([f"--data_path={workdir / 'data'}", "--val_url=http://127.0.0.1:9/v.7z"])
    assert info.value.code == 2
    assert "--data_id" in capsys.readouterr().err
    assert os.listdir(workdir) == []


@pytest.mark.parametrize(
    "text, value",
    [("true", True), ("Yes", True), ("1", True), ("false", False), ("NO", False), ("0", False)],
)
def test_str2bool(text, value):
    assert str2bool(text) is value
    parser = load_data.build_parser()
    assert parser.parse_args([f"--sevenzip={text}"]).sevenzip is value


def test_str2bool_rejects_other_values(capsys):
    with pytest.raises(SystemExit):
        load_data.build_parser().parse_args(["--sevenzip=maybe"])
    assert "maybe" in capsys.readouterr().err
    assert load_data.build_parser().parse_args(["--sevenzip"]).sevenzip is True
    assert load_data.build_parser().parse_args([]).sevenzip is True


def test_unpacked_patches_are_byte_identical(server, source, workdir):
    url = server.add("/d.7z", _7z_bytes(source))
    download.download_dataset(workdir / "data", url=url, cache_dir=workdir / "dl", quiet=True)
    for name, data in source:
        assert (workdir / "data" / name).read_bytes() == data
        assert len(load_patch(workdir / "data" / name)["label"]) == 3


def test_leftovers_of_a_killed_run_are_cleaned_or_restored(server, source, workdir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = workdir / f".data.partial-{dead.pid}-abc"
    stale.mkdir()
    live = workdir / f".data.partial-{os.getpid()}-xyz"  # e.g. a concurrent run: kept
    live.mkdir()
    backup = workdir / ".data.old-123"  # killed between its two renames: data is here
    write_patches(backup, "printed", np.zeros((1, 4, 4), np.uint8), ["하"])
    download._recover(str(workdir / "data"))
    assert list_patches(workdir / "data") and not backup.exists()
    url = server.add("/d.7z", _7z_bytes(source))
    download.download_dataset(workdir / "data", url=url, cache_dir=workdir / "dl", quiet=True)
    assert not stale.exists() and live.exists()


def test_bad_sha256_argument(capsys):
    with pytest.raises(SystemExit):
        load_data.build_parser().parse_args(["--data_sha256=abc"])
    assert "64 hex digits" in capsys.readouterr().err
    with pytest.raises(ValueError, match="64 hex digits"):
        download.fetch("x.7z", url="http://127.0.0.1:9/x.7z", sha256="abc")
