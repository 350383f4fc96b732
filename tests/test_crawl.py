import json
import os

import numpy as np
import pytest
from PIL import Image

import crawl_data
from koocr import cli, crawl, hangul, ingest, patches
from koocr.fonts import load_manifest


@pytest.fixture(scope="module")
def fonts():
    try:
        fonts = load_manifest()
    except FileNotFoundError as err:
        pytest.skip(f"fonts/ not built: {err}")
    return fonts


def _tiny_charset(tmp_path):
    path = tmp_path / "charset.txt"
    path.write_text("가\n한\n글\n똠\n", encoding="utf-8")  # 똠 is outside KS X 1001
    return str(path)


def test_crawl_printed_and_clova(fonts, tmp_path):
    cs = _tiny_charset(tmp_path)
    data, val = tmp_path / "data", tmp_path / "val"
    argv = ["--printed", "--clova=yes", "--augment", "1", "--clova_augment", "2", "--charset", cs,
            "--image_size", "32", "--pickle_path", str(data), "--val_path", str(val),
            "--val_ratio", "0.2", "--pickle_size", "50", "--workers", "1"]
    assert crawl_data.main(argv) == 0
    train = patches.summarize(data)
    held = patches.summarize(val)
    assert set(train["samples"]) == {"printed", "clova"} and train["image_size"] == 32
    printed = [f for f in fonts if f.style == "printed" and f.split == "train"]
    hand = [f for f in fonts if f.style == "handwriting" and f.split == "train"]
    chars = ["가", "한", "글", "똠"]
    n_printed = 2 * sum(len(f.covered(chars)) for f in printed)
    n_hand = 3 * sum(len(f.covered(chars)) for f in hand)
    assert train["samples"]["printed"] + held["samples"]["printed"] == n_printed
    assert train["samples"]["clova"] + held["samples"]["clova"] == n_hand
    assert abs(held["samples"]["printed"] - 0.2 * n_printed) <= 1
    patch = patches.load_patch(patches.list_patches(data, "printed")[0])
    assert set(patch["label"]) <= set(chars)
    assert patch["image"].dtype == np.uint8 and patch["image"][:, 0, :].min() > 200  # margins white
    # A second, smaller crawl replaces the first one's patches instead of mixing with them.
    argv2 = [a if a != "50" else "5000" for a in argv]
    crawl_data.main(argv2)
    assert len(patches.list_patches(data, "printed")) == 1


def test_crawl_is_seeded(fonts, tmp_path):
    cs = _tiny_charset(tmp_path)
    outs = []
    for run in ("a", "b"):
        argv = ["--printed", "--augment", "1", "--charset", cs, "--image_size", "32",
                "--pickle_path", str(tmp_path / run), "--val_path", str(tmp_path / f"{run}v"),
                "--workers", "2"]
        crawl_data.main(argv)
        outs.append(patches.load_patch(patches.list_patches(tmp_path / run)[0]))
    np.testing.assert_array_equal(outs[0]["image"], outs[1]["image"])
    assert list(outs[0]["label"]) == list(outs[1]["label"])


def test_val_fonts_hold_out_whole_fonts(fonts, tmp_path):
    cs = _tiny_charset(tmp_path)
    name = next(f.name for f in fonts if f.style == "printed" and f.split == "train")
    argv = ["--printed", "--charset", cs, "--image_size", "32", "--val_fonts", name,
            "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v"), "--workers", "1"]
    crawl_data.main(argv)
    font = next(f for f in fonts if f.name == name)
    assert patches.summarize(tmp_path / "v")["total"] == len(font.covered(["가", "한", "글", "똠"]))
    with pytest.raises(ValueError, match="NoSuchFont"):
        crawl_data.main(argv[:-4] + ["--val_fonts", "NoSuchFont"] + argv[-4:])


def test_presets_per_style_change_the_copies_and_reject_unknown_names(fonts, tmp_path):
    cs = _tiny_charset(tmp_path)
    outs = []
    for run, extra in (("a", []), ("b", ["--printed_presets", "freehand"])):
        argv = ["--printed", "--augment", "1", "--charset", cs, "--image_size", "32", "--val_ratio", "0",
                "--pickle_path", str(tmp_path / run), "--val_path", str(tmp_path / f"{run}v"),
                "--workers", "1", *extra]
        crawl_data.main(argv)
        outs.append(patches.load_patch(patches.list_patches(tmp_path / run)[0])["image"])
    assert outs[0].shape == outs[1].shape and not np.array_equal(outs[0], outs[1])
    assert crawl.presets_from(None, "handwriting, freehand")["handwriting"] == ("handwriting", "freehand")
    assert crawl.presets_from()["printed"] == crawl.DEFAULT_PRESETS["printed"]
    with pytest.raises(ValueError, match="printed presets must be names from"):
        crawl_data.main(argv[:-2] + ["--printed_presets", "printed,scribble"])
    with pytest.raises(ValueError, match="handwriting presets"):
        crawl.presets_from(handwriting=",")


def test_image_test_writes_two_pngs(fonts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert crawl_data.main(["--image_test", "--image_size", "64", "--x_offset", "5",
                            "--y_offset", "5", "--char_size", "50"]) == 0
    for ch in ("가", "힣"):
        img = np.asarray(Image.open(tmp_path / "logs" / f"image_test_{ch}.png"))
        assert img.shape == (64, 64) and img.std() > 0


def test_hgu1_and_aihub_ingest_to_handwritten_patches(tmp_path, render):
    glyphs = [render(c, canvas=48, size=36, offset=(4, 2)) for c in "가나"]
    ingest.write_hgu1(str(tmp_path / "pe92.hgu1"), glyphs, ["가", "나"])
    aihub = tmp_path / "AIhub"
    (aihub / "1_syllable").mkdir(parents=True)
    anns = []
    for i, c in enumerate("한글"):
        Image.fromarray(render(c)).save(aihub / "1_syllable" / f"{i}.png")
        anns.append({"image_id": str(i), "text": c, "attributes": {"type": "글자(음절)"}})
    anns.append({"image_id": "9", "text": "없", "attributes": {"type": "글자(음절)"}})  # missing image
    (aihub / "handwritten_label.json").write_text(json.dumps({"annotations": anns}), encoding="utf-8")
    before = {p: os.path.getmtime(aihub / "1_syllable" / p) for p in os.listdir(aihub / "1_syllable")}
    argv = ["--AIHub", "--AIHub_path", str(aihub), "--hgu1", str(tmp_path / "pe92.hgu1"),
            "--image_size", "32", "--val_ratio", "0", "--pickle_path", str(tmp_path / "d"),
            "--val_path", str(tmp_path / "v")]
    assert crawl_data.main(argv) == 0
    labels = sorted(
        c for p in patches.list_patches(tmp_path / "d", "handwritten") for c in patches.load_patch(p)["label"]
    )
    assert labels == sorted("가나한글")
    after = {p: os.path.getmtime(aihub / "1_syllable" / p) for p in os.listdir(aihub / "1_syllable")}
    assert before == after  # sources untouched


def test_image_folder_ingests_to_patches(tmp_path, render):
    for i, c in enumerate("가나다라"):
        (tmp_path / "mine" / c).mkdir(parents=True)
        Image.fromarray(render(c)).save(tmp_path / "mine" / c / f"{i}.png")
    argv = ["--images", str(tmp_path / "mine"), "--image_size", "32", "--val_ratio", "0.25",
            "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v")]
    assert crawl_data.main(argv) == 0
    seen = {}
    for folder in ("d", "v"):
        for p in patches.list_patches(tmp_path / folder, "handwritten"):
            assert os.path.basename(p).startswith("handwritten_images")
            seen[folder] = [*seen.get(folder, []), *patches.load_patch(p)["label"]]
    assert len(seen["d"]) == 3 and len(seen["v"]) == 1 and sorted(seen["d"] + seen["v"]) == list("가나다라")
    assert crawl_data.main([*argv[:2], "--images_kind", "printed", *argv[2:6],
                            "--pickle_path", str(tmp_path / "p"), "--val_path", str(tmp_path / "pv")]) == 0
    assert [os.path.basename(p)[:14] for p in patches.list_patches(tmp_path / "p")] == ["printed_images"]


def test_image_folder_reruns_leave_no_stale_patches_and_errors_come_first(tmp_path, render, capsys):
    for i, c in enumerate("가나다라마바"):
        (tmp_path / "mine" / c).mkdir(parents=True)
        Image.fromarray(render(c)).save(tmp_path / "mine" / c / f"{i}.png")
    base = ["--images", str(tmp_path / "mine"), "--image_size", "32",
            "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v")]
    assert crawl_data.main([*base, "--val_ratio", "0.5", "--pickle_size", "1"]) == 0
    assert len(patches.list_patches(tmp_path / "v")) == 3
    assert crawl_data.main([*base, "--val_ratio", "0.2"]) == 0
    assert [os.path.basename(p) for p in patches.list_patches(tmp_path / "v")] == ["handwritten_images_0.pickle"]
    capsys.readouterr()
    # A split with nothing to write leaves its folder alone (it may be another run's), and says so.
    assert crawl_data.main([*base, "--val_ratio", "0"]) == 0
    assert len(patches.list_patches(tmp_path / "v")) == 1
    assert f"note: {tmp_path / 'v'} keeps 1 handwritten_images_*.pickle" in capsys.readouterr().out
    (tmp_path / "none" / "scans").mkdir(parents=True)
    Image.fromarray(render("가")).save(tmp_path / "none" / "scans" / "x.png")
    with pytest.raises(ValueError, match="no labelled sample"):
        crawl_data.main(["--images", str(tmp_path / "none"), "--pickle_path", str(tmp_path / "d2")])
    for bad in (["--images", str(tmp_path / "missing")], ["--images", str(tmp_path / "mine"), "--val_ratio", "1"]):
        with pytest.raises((FileNotFoundError, ValueError)):  # before the font crawl
            crawl_data.main(["--printed", "--charset", str(tmp_path / "no_charset"), *bad,
                             "--pickle_path", str(tmp_path / "d3")])
    assert not (tmp_path / "d3").exists()


def _glyph_folder(root, render, chars="가나다라마"):
    for i, c in enumerate(chars):
        (root / c).mkdir(parents=True, exist_ok=True)
        Image.fromarray(render(c)).save(root / c / f"{i}.png")
    return str(root)


def _no_reading(monkeypatch):
    def read(*args, **kwargs):
        raise AssertionError("an image was read before the settings were checked")

    monkeypatch.setattr(ingest, "read_image_folder", read)


@pytest.mark.parametrize(
    "flag, value",
    [("image_size", "0"), ("image_size", "1"), ("image_size", "7"), ("image_size", "-5"),
     ("margin", "-1"), ("margin", "0.5"), ("pickle_size", "-1"), ("pickle_size", "0")],
)
def test_image_folder_checks_numbers_like_the_font_crawl(tmp_path, render, monkeypatch, capsys, flag, value):
    mine = _glyph_folder(tmp_path / "mine", render)
    _no_reading(monkeypatch)
    argv = ["--images", mine, f"--{flag}", value, "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v")]
    assert cli.run(crawl_data.main, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Invalid {flag}: expected ") and err.count("\n") == 1
    assert f"Received: {flag}=" in err
    assert not (tmp_path / "d").exists() and not (tmp_path / "v").exists()
    with pytest.raises(ValueError, match=f"Invalid {flag}"):  # the font crawl's message
        crawl.CrawlConfig(**{flag: float(value) if flag == "margin" else int(value)})


def test_a_split_not_written_leaves_its_folder_alone(tmp_path, render, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    imgs, imgs2 = _glyph_folder(tmp_path / "imgs", render), _glyph_folder(tmp_path / "imgs2", render, "바사")
    assert crawl_data.main(["--images", imgs, "--image_size", "32", "--val_ratio", "0.2"]) == 0
    before = {p: open(p, "rb").read() for p in patches.list_patches("val_data")}
    assert len(before) == 1
    capsys.readouterr()
    assert crawl_data.main(["--images", imgs2, "--image_size", "32", "--val_ratio", "0", "--pickle_path", "my_eval"]) == 0
    assert {p: open(p, "rb").read() for p in patches.list_patches("val_data")} == before
    assert "note: ./val_data keeps 1 handwritten_images_*.pickle" in capsys.readouterr().out
    assert sorted(patches.load_patch(patches.list_patches("my_eval")[0])["label"]) == ["바", "사"]
    # One folder for both splits: refused when validation patches would replace the training ones ...
    data = {p: open(p, "rb").read() for p in patches.list_patches("data")}
    with pytest.raises(ValueError, match=r"--pickle_path and --val_path are the same folder \(\./data\)"):
        crawl_data.main(["--images", imgs2, "--image_size", "32", "--val_ratio", "0.2", "--val_path", "data"])
    assert {p: open(p, "rb").read() for p in patches.list_patches("data")} == data
    with pytest.raises(ValueError, match="same folder"):
        crawl.CrawlConfig(pickle_path="x", val_path="./x/", val_ratio=0.1)
    # ... and fine without a validation split (which used to delete the training patches just written).
    assert crawl_data.main(["--images", imgs, "--image_size", "32", "--val_ratio", "0",
                            "--pickle_path", "same", "--val_path", "same"]) == 0
    assert patches.summarize("same")["total"] == 5


def test_font_crawl_without_validation_leaves_val_folder_alone(fonts, tmp_path):
    cs = _tiny_charset(tmp_path)
    v = tmp_path / "v"
    patches.write_patches(v, "printed", np.full((2, 32, 32), 255, np.uint8), ["가", "나"])
    before = patches.list_patches(v)
    argv = ["--printed", "--charset", cs, "--image_size", "32", "--val_ratio", "0", "--workers", "1",
            "--pickle_path", str(tmp_path / "d"), "--val_path", str(v)]
    assert crawl_data.main(argv) == 0
    assert patches.list_patches(v) == before and patches.summarize(v)["total"] == 2
    assert patches.list_patches(tmp_path / "d", "printed")


def test_patches_of_another_size_are_refused_before_reading(tmp_path, render, monkeypatch):
    imgs = _glyph_folder(tmp_path / "imgs", render)
    d, v = str(tmp_path / "d"), str(tmp_path / "v")
    base = ["--images", imgs, "--pickle_path", d, "--val_path", v]
    assert crawl_data.main([*base, "--image_size", "48", "--val_ratio", "0.2"]) == 0
    with monkeypatch.context() as m:
        _no_reading(m)
        with pytest.raises(ValueError) as err:
            crawl_data.main([*base, "--images_kind", "printed", "--image_size", "32", "--val_ratio", "0"])
    message = str(err.value)
    assert d in message and "32px" in message and "48px: handwritten_images_0.pickle" in message
    assert [os.path.basename(p) for p in patches.list_patches(d)] == ["handwritten_images_0.pickle"]
    with monkeypatch.context() as m:
        _no_reading(m)
        with pytest.raises(ValueError, match=f"{v} holds patches"):  # the val folder is checked too
            crawl_data.main([*base, "--images_kind", "printed", "--image_size", "32", "--val_path", v,
                             "--pickle_path", str(tmp_path / "d2"), "--val_ratio", "0.2"])
    # Patches this run replaces may differ in size; a folder it does not write is not checked.
    assert crawl_data.main([*base, "--image_size", "32", "--val_ratio", "0"]) == 0
    assert patches.summarize(d)["image_size"] == 32 and patches.summarize(v)["image_size"] == 48


def test_mixed_size_error_names_a_file_of_each_size(tmp_path):
    from koocr import data

    small = patches.write_patches(tmp_path, "printed", np.full((1, 32, 32), 255, np.uint8), ["가"])
    big = patches.write_patches(tmp_path, "clova", np.full((1, 48, 48), 255, np.uint8), ["가"])
    with pytest.raises(ValueError, match="Patches mix image sizes") as err:
        data.load_arrays(small + big)
    assert f"32px: {small[0]}" in str(err.value) and f"48px: {big[0]}" in str(err.value)


def test_nothing_to_do_returns_2(tmp_path):
    assert crawl_data.main(["--pickle_path", str(tmp_path)]) == 2


def test_val_fonts_this_run_does_not_render_are_refused(fonts, tmp_path):
    """--val_fonts naming a printed font in a --clova run, or a held-out test font, held nothing
    out and silently fell back to a random per-glyph split."""
    cs = _tiny_charset(tmp_path)
    printed = next(f.name for f in fonts if f.style == "printed" and f.split == "train")
    base = ["--charset", cs, "--image_size", "32", "--workers", "1",
            "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v")]  # fmt: skip
    refused = f"{printed} is a printed font .* renders only handwriting .*--printed"
    with pytest.raises(ValueError, match=refused):
        crawl_data.main(["--clova", "--val_fonts", printed, *base])
    held_out = [f for f in fonts if f.split != "train"]
    if held_out:
        flag = "--printed" if held_out[0].style == "printed" else "--clova"
        refused = f"{held_out[0].name} is held out .*--include_test_fonts"
        with pytest.raises(ValueError, match=refused):
            crawl_data.main([flag, "--val_fonts", held_out[0].name, *base])
    assert not (tmp_path / "d").exists() and not (tmp_path / "v").exists()


def test_an_interrupted_rerun_leaves_the_previous_patches_whole(tmp_path, render, monkeypatch):
    """A Ctrl-C while a rerun wrote its patches left old and new ones mixed: samples twice in
    training and validation samples in the training folder."""
    mine = _glyph_folder(tmp_path / "mine", render, "가나다라마바사아")
    d, v = tmp_path / "d", tmp_path / "v"
    base = ["--images", mine, "--image_size", "32", "--pickle_path", str(d), "--val_path", str(v)]
    assert crawl_data.main([*base, "--val_ratio", "0.25", "--pickle_size", "2"]) == 0

    def snapshot():
        return {os.path.relpath(os.path.join(r, n), tmp_path): open(os.path.join(r, n), "rb").read()
                for folder in (d, v) for r, _, names in os.walk(folder) for n in names}  # fmt: skip

    before = snapshot()
    assert len(before) == 4 and all(name.endswith(".pickle") for name in before)
    write, calls = patches.atomic_write_bytes, []

    def interrupted(path, payload):
        calls.append(path)
        if len(calls) == 3:  # a Ctrl-C lands in the write phase
            raise KeyboardInterrupt
        write(path, payload)

    rerun = [*base, "--val_ratio", "0.5", "--pickle_size", "1", "--seed", "1"]
    with monkeypatch.context() as m:
        m.setattr(patches, "atomic_write_bytes", interrupted)
        with pytest.raises(KeyboardInterrupt):
            crawl_data.main(rerun)
    assert snapshot() == before  # no new patch, no staging folder left behind
    replace = os.replace

    def swap_interrupted(source, target):
        # The training folder is swapped already; the validation one is half-way.
        if source == os.path.join(os.path.dirname(source), "handwritten_images_2.pickle") and (
            os.path.basename(os.path.dirname(source)).startswith(crawl.STAGE_PREFIX)
            and os.path.dirname(target) == str(v)
        ):
            raise KeyboardInterrupt
        replace(source, target)

    with monkeypatch.context() as m:  # ... nor when it lands while the series are swapped
        m.setattr(os, "replace", swap_interrupted)
        with pytest.raises(KeyboardInterrupt):
            crawl_data.main(rerun)
    assert snapshot() == before
    # A run killed outright leaves its staging and backup folders: the next run cleans them up
    # and puts back an old series that had been moved aside.
    old = patches.list_patches(v)
    backup = v / f"{crawl.BACKUP_PREFIX}999999999-x"
    backup.mkdir()
    (backup / "series.txt").write_text("handwritten_images\n", encoding="utf-8")
    for path in old:
        os.replace(path, backup / os.path.basename(path))
    blank = np.full((1, 32, 32), 255, np.uint8)
    patches.write_patches(v, "handwritten_images", blank, ["가"], start_index=7)  # moved in
    (d / f"{crawl.STAGE_PREFIX}999999999-y").mkdir()
    crawl._recover_series(str(v))
    assert snapshot() == before
    assert crawl_data.main(rerun) == 0
    assert not [n for folder in (d, v) for n in os.listdir(folder) if n.startswith(".")]
    labels = [
        c
        for folder in (d, v)
        for p in patches.list_patches(folder)
        for c in patches.load_patch(p)["label"]
    ]
    assert sorted(labels) == sorted("가나다라마바사아")  # each sample once, train and val apart


def test_validation_labels_outside_the_charset_name_their_patch(tmp_path):
    """A validation label outside a single-softmax model's charset: the error named no file
    (the same label in the training folder names its patch)."""
    from koocr import data, training

    glyphs = np.full((2, 32, 32), 255, np.uint8)
    patches.write_patches(tmp_path / "v", "handwritten_a", glyphs, ["가", "가"])
    bad = patches.write_patches(tmp_path / "v", "handwritten_b", glyphs, ["가", "똠"])[0]
    cfg = training.TrainConfig(val_path=str(tmp_path / "v"))
    with pytest.raises(ValueError, match=rf"validation patch '{bad}': Label '똠' .* --charset all"):
        training.validation_callback(cfg, data.charset_targets(hangul.ks2350()), 32)
