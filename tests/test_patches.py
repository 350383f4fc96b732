import os
import pickle
import pickletools
import subprocess

import numpy as np
import pytest

from koocr.patches import (
    PatchError,
    list_patches,
    load_patch,
    save_patch,
    source_of,
    summarize,
    write_patches,
)

LABELS = ["가", "나", "다"]


def _images(n=3, size=8, dtype=np.uint8):
    images = np.full((n, size, size), 255, dtype)
    images[:, 2:6, 3] = 0
    return images


def _dump(path, obj, protocol=4):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return str(path)


def _unframe(data: bytes) -> bytes:
    # FRAME opcodes are optional; dropping them lets a test rename globals in place.
    cuts = [pos for op, _, pos in pickletools.genops(data) if op.name == "FRAME"]
    for pos in reversed(cuts):
        data = data[:pos] + data[pos + 9 :]
    return data


def _as_numpy1(data: bytes, protocol: int) -> bytes:
    """Rewrites numpy 2.x global names to the numpy 1.x ones the seed wrote."""
    if protocol <= 3:
        return data.replace(b"numpy._core.", b"numpy.core.")
    data = _unframe(data)
    for module in (b"numpy._core.multiarray", b"numpy._core.numeric"):
        old_name = module.replace(b"._core", b".core")
        data = data.replace(
            b"\x8c" + bytes([len(module)]) + module, b"\x8c" + bytes([len(old_name)]) + old_name
        )
    return data


def test_save_load_round_trip(tmp_path):
    path = save_patch(tmp_path / "printed_0.pickle", _images(), LABELS)
    patch = load_patch(path)
    assert patch["image"].dtype == np.uint8 and patch["image"].shape == (3, 8, 8)
    np.testing.assert_array_equal(patch["image"], _images())
    assert patch["label"].dtype == np.dtype("<U1")
    assert patch["label"].tolist() == LABELS


def test_saved_format_is_protocol_4_with_u1_labels(tmp_path):
    path = save_patch(tmp_path / "printed_0.pickle", _images(), LABELS)
    raw = open(path, "rb").read()
    assert raw[:2] == b"\x80\x04"
    data = pickle.loads(raw)
    assert set(data) == {"image", "label"}
    assert data["label"].dtype == np.dtype("<U1")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("label_kind", ["list", "u1", "object"])
@pytest.mark.parametrize("numpy1_names", [False, True])
def test_loads_seed_style_pickles(tmp_path, protocol, label_kind, numpy1_names):
    images = _images(dtype=np.float32)[..., None]  # legacy: float32 0-255, (N, S, S, 1)
    labels = {
        "list": list(LABELS),
        "u1": np.array(LABELS),
        "object": np.array(LABELS, dtype=object),
    }[label_kind]
    data = pickle.dumps({"image": images, "label": labels}, protocol=protocol)
    if numpy1_names:
        data = _as_numpy1(data, protocol)
        assert b"numpy.core." in data and b"numpy._core" not in data
    path = tmp_path / "handwritten_0.pickle"
    path.write_bytes(data)
    patch = load_patch(path)
    assert patch["image"].dtype == np.uint8 and patch["image"].shape == (3, 8, 8)
    np.testing.assert_array_equal(patch["image"], _images())
    assert patch["label"].tolist() == LABELS


class _Exploit:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = _dump(
        tmp_path / "printed_0.pickle",
        {"image": _Exploit(os.system, f"touch {marker}"), "label": LABELS},
    )
    with pytest.raises(PatchError) as info:
        load_patch(path)
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "func, args, name",
    [
        (eval, ("1+1",), "builtins.eval"),
        (subprocess.Popen, (["true"],), "subprocess.Popen"),
        (getattr, ("x", "upper"), "builtins.getattr"),
    ],
)
def test_other_globals_are_refused(tmp_path, func, args, name):
    path = _dump(tmp_path / "clova_0.pickle", {"image": _Exploit(func, *args), "label": []})
    with pytest.raises(PatchError, match=name):
        load_patch(path)


def test_bad_label_names_file_index_and_label(tmp_path):
    path = _dump(tmp_path / "printed_3.pickle", {"image": _images(), "label": ["가", "A", "다"]})
    with pytest.raises(PatchError) as info:
        load_patch(path)
    message = str(info.value)
    assert str(path) in message and "label 1" in message and "'A'" in message


@pytest.mark.parametrize(
    "data, match",
    [
        ({"image": _images(), "label": ["가", "나"]}, "3 images but 2 labels"),
        ({"image": np.full((3, 8, 9), 255.0), "label": LABELS}, "square"),
        ({"image": np.full((3, 8, 8, 3), 255.0), "label": LABELS}, "square"),
        ({"image": _images(), "label": ["가나", "나", "다"]}, "label 0"),
        ({"image": _images(), "label": "가나다"}, "not one string"),
        ({"image": np.full((3, 8, 8), 300.0), "label": LABELS}, "0-255"),
        ({"image": _images()}, "'image' and 'label'"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_malformed_patches_are_rejected(tmp_path, data, match):
    path = _dump(tmp_path / "printed_0.pickle", data)
    with pytest.raises(PatchError, match=match):
        load_patch(path)


def test_nan_is_rejected(tmp_path):
    images = _images(dtype=np.float32)
    images[2, 0, 0] = np.nan
    path = _dump(tmp_path / "printed_0.pickle", {"image": images, "label": LABELS})
    with pytest.raises(PatchError, match="image 2 contains NaN"):
        load_patch(path)


def test_truncated_and_garbage_files_raise_patch_error(tmp_path):
    good = save_patch(tmp_path / "printed_0.pickle", _images(), LABELS)
    raw = open(good, "rb").read()
    truncated = tmp_path / "printed_1.pickle"
    truncated.write_bytes(raw[: len(raw) // 2])
    garbage = tmp_path / "printed_2.pickle"
    garbage.write_bytes(b"<html>quota exceeded</html>")
    for path in (truncated, garbage):
        with pytest.raises(PatchError, match="corrupt or truncated") as info:
            load_patch(path)
        assert str(path) in str(info.value)


def test_save_patch_validates_before_writing(tmp_path):
    with pytest.raises(PatchError, match="label 2"):
        save_patch(tmp_path / "printed_0.pickle", _images(), ["가", "나", "x"])
    assert os.listdir(tmp_path) == []


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = save_patch(tmp_path / "printed_0.pickle", _images(), LABELS)
    before = open(path, "rb").read()

    def crash(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save_patch(path, _images(n=1), ["라"])
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["printed_0.pickle"]  # no temp file left behind


def test_write_patches_splits_and_lists(tmp_path):
    images = _images(n=7)
    labels = ["가", "나", "다", "라", "마", "바", "사"]
    paths = write_patches(tmp_path, "printed", images, labels, patch_size=3, start_index=9)
    assert [os.path.basename(p) for p in paths] == [
        "printed_9.pickle",
        "printed_10.pickle",
        "printed_11.pickle",
    ]
    assert [len(load_patch(p)["label"]) for p in paths] == [3, 3, 1]
    write_patches(tmp_path, "handwritten", _images(n=2), ["아", "자"])
    assert list_patches(tmp_path, sources="printed") == paths  # natural order: 9, 10, 11
    assert [source_of(p) for p in list_patches(tmp_path)] == ["handwritten"] + ["printed"] * 3
    summary = summarize(tmp_path)
    assert summary["files"] == 4 and summary["total"] == 9
    assert summary["samples"] == {"printed": 7, "handwritten": 2}
    assert summary["image_size"] == 8


def test_write_patches_rejects_bad_input_before_writing(tmp_path):
    with pytest.raises(PatchError, match="label 4"):
        write_patches(tmp_path, "printed", _images(n=5), ["가", "나", "다", "라", "?"], 2)
    with pytest.raises(ValueError, match="patch_size"):
        write_patches(tmp_path, "printed", _images(), LABELS, patch_size=0)
    assert os.listdir(tmp_path) == []


def test_source_of():
    assert source_of("/x/printed_1.pickle") == "printed"
    assert source_of("handwritten_0.pickle") == "handwritten"
    assert source_of("clova_12.pickle") == "clova"
    assert source_of("printedX_1.pickle") == "unknown"


def test_list_patches_missing_folder_names_it(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        list_patches(missing)
    with pytest.raises(ValueError, match="sources"):
        list_patches(tmp_path, sources=["typed"])
