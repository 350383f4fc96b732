"""Bad input to the scripts and their configs: one clear line, no hang, nothing half-done.

Each case here was a defect found by trying to break the scripts (2026-11-26): a hang on
``--batch_size -1``, "success" with ``--epochs 0``, ``(N, 0, 0)`` patches from
``--image_size 0``, tracebacks around clear messages, a changed model resuming into a
Keras traceback, private (0600) files, a charset that was empty or began with a BOM.
"""

import json
import os
import pickle
import stat
import warnings

import keras
import numpy as np
import pytest

import crawl_data
import evaluate
import predict
import train
from koocr import cli, crawl, hangul, lines, patches, training, weights
from koocr.fonts import render_glyph
from koocr.networks import build_network
from koocr.preprocess import normalize
from model import KoOCR


def _patches(render, folder, size=32, chars="가나다라", copies=2):
    images = [normalize(render(c), size) for c in chars for _ in range(copies)]
    labels = [c for c in chars for _ in range(copies)]
    patches.write_patches(folder, "printed", np.array(images), labels, patch_size=4)


# ------------------------------------------------------------------------- cli.run


def test_run_turns_user_errors_into_one_line(capsys, monkeypatch):
    def bad(argv):
        raise ValueError("Invalid batch_size: expected an integer >= 1. Received: batch_size=-1")

    def stopped(argv):
        raise KeyboardInterrupt

    def bug(argv):
        raise KeyError("a real bug keeps its traceback")

    monkeypatch.delenv("KOOCR_TRACEBACK", raising=False)
    assert cli.run(bad) == 1
    assert capsys.readouterr().err == "error: Invalid batch_size: expected an integer >= 1. Received: batch_size=-1\n"
    assert cli.run(stopped, interrupted="run it again to resume") == 130
    assert capsys.readouterr().err == "interrupted; run it again to resume\n"
    with pytest.raises(KeyError):
        cli.run(bug)
    monkeypatch.setenv("KOOCR_TRACEBACK", "1")
    with pytest.raises(ValueError, match="batch_size"):
        cli.run(bad)
    assert cli.run(lambda argv: 0, ["x"]) == 0
    monkeypatch.delenv("KOOCR_TRACEBACK")

    def makes_a_folder_where_a_file_is(argv):  # an output path that is a file (--log_dir x.txt)
        raise FileExistsError(17, "File exists", "x.txt")

    assert cli.run(makes_a_folder_where_a_file_is) == 1
    assert capsys.readouterr().err == "error: [Errno 17] File exists: 'x.txt'\n"


def test_scripts_use_run():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for script in ("train.py", "evaluate.py", "crawl_data.py", "load_data.py", "predict.py"):
        with open(os.path.join(root, script), encoding="utf-8") as fh:
            assert "sys.exit(run(main" in fh.read(), script


# ------------------------------------------------------------------- train.py / train()


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0), ("epochs", -3), ("batch_size", 0), ("batch_size", -1), ("batch_size", 2.5),
        ("patch_size", 0), ("steps_per_epoch", 0), ("max_val_samples", 0), ("lr", 0.0),
        ("lr", -1e-3), ("final_lr", 0.0), ("warmup_epochs", -1.0), ("weight_decay", -0.1),
        ("label_smoothing", 1.0),
    ],
)
def test_train_config_rejects_bad_numbers(field, value):
    with pytest.raises(ValueError, match=f"Invalid {field}: expected .* Received: {field}="):
        training.TrainConfig(**{field: value})


def test_train_script_bad_numbers_fail_fast(tmp_path, capsys):
    """``--batch_size -1`` used to hang in the patch stream; now it fails before any work."""
    base = ["--network", "compact", "--image_size", "32", "--data_path", str(tmp_path / "none"),
            "--log_dir", str(tmp_path / "logs"), "--verbose", "0"]
    for flag, value in (("--batch_size", "-1"), ("--batch_size", "0"), ("--epochs", "0"), ("--width", "0")):
        assert cli.run(train.main, [*base, flag, value]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: Invalid {flag[2:]}: expected") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "logs")


def test_network_width_and_dropout_are_checked():
    for kwargs in ({"width": 0}, {"width": -0.5}, {"dropout": 1.0}, {"width": "1"}):
        with pytest.raises(ValueError, match="Invalid (width|dropout): expected"):
            build_network("compact", 32, {"syllable": 3}, **kwargs)


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras, loading the other model
def test_resuming_with_another_model_says_so(render, tmp_path):
    _patches(render, tmp_path / "data")
    kw = dict(data_path=str(tmp_path / "data"), val_path=None, batch_size=4, steps_per_epoch=2,
              optimizer="adam", log_dir=str(tmp_path / "logs"), verbose=0)

    class Stop(Exception):
        pass

    class StopAtEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Stop

    with pytest.raises(Stop):  # a killed run: its backup stays
        KoOCR(network_type="compact", image_size=32, network_args={"width": 0.25}).train(
            epochs=2, callbacks=[StopAtEnd()], **kw)
    wider = KoOCR(network_type="compact", image_size=32, network_args={"width": 0.5})
    with pytest.raises(ValueError, match="holds the backup of an interrupted run whose network"):
        wider.train(epochs=2, **kw)


def test_empty_validation_folder_warns_and_no_best_is_claimed(render, tmp_path, capsys):
    _patches(render, tmp_path / "data")
    (tmp_path / "val").mkdir()
    argv = ["--network", "compact", "--image_size", "32", "--width", "0.25", "--epochs", "1",
            "--batch_size", "4", "--steps_per_epoch", "2", "--optimizer", "adam",
            "--data_path", str(tmp_path / "data"), "--val_path", str(tmp_path / "val"),
            "--log_dir", str(tmp_path / "logs"), "--verbose", "0"]
    with pytest.warns(UserWarning, match="No validation patches in .*no 'best' checkpoint"):
        assert train.main(argv) == 0
    out = capsys.readouterr().out
    assert f"weights: {tmp_path / 'logs' / 'checkpoint'} (last epoch)\n" in out
    assert "best" not in out
    assert not os.path.exists(tmp_path / "logs" / "best")


def test_written_files_follow_the_umask(render, tmp_path):
    """Patches and checkpoints were created 0600 / 0700 (temp files renamed into place)."""
    old = os.umask(0o022)
    try:
        _patches(render, tmp_path / "data")
        saved = KoOCR(network_type="compact", image_size=32, network_args={"width": 0.25}).save(tmp_path / "w")
    finally:
        os.umask(old)
    for path in patches.list_patches(tmp_path / "data"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(saved, "config.json")).st_mode) == 0o644


# ---------------------------------------------------------------------- crawl_data.py


@pytest.mark.parametrize(
    "field, value",
    [("image_size", 0), ("image_size", -5), ("augment", -1), ("augment_handwriting", -2),
     ("pickle_size", 0), ("workers", 0), ("render_size", 4), ("margin", 0.5)],
)
def test_crawl_config_rejects_bad_numbers(field, value):
    with pytest.raises(ValueError, match=f"Invalid {field}: expected"):
        crawl.CrawlConfig(**{field: value})


def test_crawl_script_image_size_zero_writes_nothing(tmp_path, capsys):
    argv = ["--printed", "--image_size", "0", "--pickle_path", str(tmp_path / "d"), "--val_path", str(tmp_path / "v")]
    assert cli.run(crawl_data.main, argv) == 1
    assert capsys.readouterr().err.startswith("error: Invalid image_size")
    assert not os.path.exists(tmp_path / "d")


def test_a_corrupt_font_file_is_named(tmp_path):
    bad = tmp_path / "Broken.woff2"
    bad.write_bytes(b"not a font at all" * 10)
    with pytest.raises(ValueError, match=f"Cannot read font file '{bad}'"):
        render_glyph(str(bad), "가")


def test_charset_empty_or_with_bom(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="charset is empty"):
        hangul.load_charset(str(empty))
    with pytest.raises(ValueError, match="charset is empty"):
        hangul.load_charset([])
    bom = tmp_path / "bom.txt"
    bom.write_text("가\n나\n", encoding="utf-8-sig")  # as Windows Notepad saves it
    assert hangul.load_charset(str(bom)) == ["가", "나"]


# ------------------------------------------------------------------ predict / evaluate


def test_predict_script_checks_n_and_charset_once(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    for argv, message in (
        (["a.png", "b.png", "--n", "0"], "--n must be >= 1"),
        (["a.png", "b.png", "--charset", str(empty)], "--charset: charset is empty"),
        (["a.png", "--charset", "nonsense"], "--charset: charset must be"),
    ):
        with pytest.raises(SystemExit) as stop:
            predict.parse_args(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert message in err and err.count("error:") == 1


def test_evaluate_rejects_zero_samples(capsys):
    for flag in ("--max_samples", "--max_per_font"):
        with pytest.raises(SystemExit):
            evaluate.parse_args([flag, "0"])
        assert f"{flag} must be >= 1" in capsys.readouterr().err


def test_line_set_truth_must_not_be_empty_and_unscored_images_are_named(tmp_path):
    for name, text in (("a", "가나"), ("b", "다라")):
        (tmp_path / f"{name}.png").write_bytes(b"")
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "c.png").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"1 image\(s\) in .* have no .txt truth and are not scored: c.png"):
        pairs = lines.load_line_set(str(tmp_path))
    assert [t for _, t in pairs] == ["가나", "다라"]
    (tmp_path / "c.txt").write_text("  \n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Empty ground truth .*c.txt"):
            lines.load_line_set(str(tmp_path))



# ------------------------------------------------------------------------ the Python API

TINY = dict(network_type="compact", image_size=32, network_args={"width": 0.25})


def test_save_never_deletes_other_files(tmp_path):
    """save() swaps the whole folder: save(".") used to delete the working directory."""
    ocr = KoOCR(**TINY)
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files that are not KoOCR weights \(notes.txt\)"):
        ocr.save(project)
    assert (project / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="it is a file"):
        ocr.save(tmp_path / "file")
    saved = ocr.save(tmp_path / "w")
    assert ocr.save(saved) == saved  # a weights folder is replaced as before
    assert sorted(os.listdir(saved)) == ["config.json", "model.weights.h5"]


def test_patches_without_samples_or_of_mixed_sizes_fail_before_training(render, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with open(empty / "printed_0.pickle", "wb") as fh:  # write_patches writes no empty file
        pickle.dump({"image": np.zeros((0, 32, 32), np.uint8), "label": np.array([], "<U1")}, fh)
    kw = dict(val_path=None, batch_size=2, optimizer="adam", verbose=0, log_dir=str(tmp_path / "logs"))
    with pytest.raises(ValueError, match="hold no samples"):  # used to hang
        KoOCR(**TINY).train(epochs=1, data_path=str(empty), **kw)
    mixed = tmp_path / "mixed"
    images = np.stack([normalize(render(c), 32) for c in "가나"])
    patches.write_patches(mixed, "clova", images, ["가", "나"], patch_size=4)  # first in order
    patches.write_patches(mixed, "printed", np.zeros((2, 48, 48), np.uint8), ["다", "라"], patch_size=4)
    with pytest.raises(ValueError, match="differ in size: 'clova_0.pickle' is 32px, 'printed_0.pickle' is 48px"):
        KoOCR(**TINY).train(epochs=1, data_path=str(mixed), patch_size=1, **kw)


def test_sixteen_bit_and_grey_alpha_images_read_like_eight_bit(render):
    from PIL import Image

    from koocr.preprocess import normalize

    glyph = render("한")
    grey = glyph.astype(np.float64) / 255 * 200 + 40  # ink ~40, paper ~240
    eight = normalize(np.rint(grey).astype(np.uint8), 32)
    sixteen = np.rint(grey * 257).astype(np.uint16)
    assert np.abs(normalize(sixteen, 32).astype(int) - eight).max() <= 1  # was blank (clipped at 255)
    assert np.abs(normalize(Image.fromarray(sixteen), 32).astype(int) - eight).max() <= 1
    twelve = np.rint(grey * 16).astype(np.int32)  # 12-bit data in a 32-bit container
    assert np.abs(normalize(twelve, 32).astype(int) - eight).max() <= 1
    alpha = np.where(glyph < 128, 255, 0).astype(np.uint8)  # black ink on a transparent page
    la = np.stack([np.zeros_like(glyph), alpha], -1)
    ocr = KoOCR(**TINY)
    batch, single = ocr.preprocess(la)  # was taken for a batch of 64 images
    assert single and batch.shape == (1, 32, 32)
    assert np.array_equal(batch[0], normalize(np.where(alpha > 0, 0, 255).astype(np.uint8), 32))


def test_constructor_checks_margin_and_placement():
    for kwargs, message in (
        ({"margin": "x"}, "margin must be a number in"), ({"margin": -1}, "margin must"), ({"margin": 0.6}, "margin must"),
        ({"placement": [1, 2]}, "placement must be"), ({"placement": [-5, -5, 20]}, "placement must be"),
        ({"placement": [8, 8, 40]}, "inside the 32px image"), ({"network_args": {"width": 0}}, "Invalid width"),
    ):
        with pytest.raises(ValueError, match=message):
            KoOCR(**{**TINY, **kwargs})
    assert KoOCR(**{**TINY, "image_size": np.int64(32)}).config.image_size == 32


def test_predict_and_read_reject_bad_arguments(render):
    ocr = KoOCR(**TINY)
    glyph = render("가")
    with pytest.raises(ValueError, match="charset is empty"):
        ocr.predict(glyph, charset=[])
    with pytest.raises(ValueError, match="charset is empty"):
        ocr.read(glyph, charset=[])
    for value in (0, -1, 1.5):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer. Received: batch_size={value}"):
            ocr.predict(glyph, batch_size=value)
    for value, shown in ((None, "NoneType None"), (5, "int 5"), (b"a.png", "bytes b'a.png'")):
        with pytest.raises(ValueError, match=f"Received {shown}"):
            ocr.predict(value)
    for kwargs, message in (
        ({"max_merge": 0}, "max_merge must be an integer >= 1"), ({"max_skew": 90}, "max_skew < 45"),
        ({"char_bonus": float("nan")}, "char_bonus must be a finite number"), ({"syl_width": (1.0, 0.5)}, "syl_width"),
        # these failed deep inside (ZeroDivisionError, argmin of an empty sequence, numpy's
        # percentile range) or were taken silently
        ({"shape_scale": 0}, r"shape_scale must lie in \(0.0, inf\]"), ({"line_min_height": 2}, "line_min_height"),
        ({"pitch_percentile": 150}, r"pitch_percentile must lie in \[0.0, 100.0\]"),
        ({"lm_weight": -1}, "lm_weight"), ({"class_weight": -1}, "class_weight"), ({"space_pitch": -0.1}, "space_pitch"),
        ({"max_width": -1}, "max_width"), ({"lm_alternatives": 0}, "lm_alternatives must be an integer >= 1"),
        ({"lm_alternatives": 2.5}, "lm_alternatives must be an integer"), ({"pitch_jump": -0.3}, "pitch_jump"),
        ({"pitch_jump_conf": 1.5}, r"pitch_jump_conf must lie in \[0.0, 1.0\]"),
    ):
        with pytest.raises(ValueError, match=message):
            ocr.read(glyph, **kwargs)
    assert isinstance(ocr.read(glyph, max_skew=0).text, str)  # 0 turns levelling off


def test_a_corrupt_litert_copy_is_named_or_skipped(tmp_path):
    from koocr import export

    ocr = KoOCR(**TINY)
    saved = ocr.save(tmp_path / "w", litert=True)
    meta = json.loads((tmp_path / "w" / "litert.json").read_text())
    assert meta["tflite_sha256"] == weights.sha256(os.path.join(saved, "model.tflite"))
    assert KoOCR(weights=saved).litert_file is not None
    (tmp_path / "w" / "model.tflite").write_bytes(b"junk" * 4)
    with pytest.warns(UserWarning, match="checksum does not match litert.json"):
        again = KoOCR(weights=saved)
    assert again.litert_file is None  # predict() runs the Keras network instead
    assert len(again.predict(np.full((32, 32), 255, np.uint8), n=2)) == 2
    with pytest.raises(ValueError, match="Cannot load the LiteRT file .*model.tflite"):
        export.LiteRTRunner(os.path.join(saved, "model.tflite"))


def test_named_arguments_the_weights_override_are_warned_about(render, tmp_path):
    """The seed's KoOCR(weights=..., network_type="melnyk", image_size=96) used to pass silently
    with other weights, because those values equal the defaults."""
    saved = KoOCR(**TINY).save(tmp_path / "w")
    with pytest.warns(UserWarning) as record:
        ocr = KoOCR(weights=saved, network_type="melnyk", image_size=96, fc_link="GWAP")
    assert [str(w.message).split(" ignored")[0] for w in record] == ["network_type='melnyk'", "image_size=96"]
    assert ocr.config.network_type == "compact" and ocr.config.image_size == 32
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        KoOCR(weights=saved)
        KoOCR(saved, network_type="compact", image_size=32, network_args={"width": 0.25})
        # train.py passes only the model flags set away from their defaults
        _patches(render, tmp_path / "data")
        argv = ["--weights", saved, "--epochs", "1", "--batch_size", "4", "--steps_per_epoch", "1",
                "--optimizer", "adam", "--data_path", str(tmp_path / "data"), "--val_path", "",
                "--log_dir", str(tmp_path / "logs"), "--verbose", "0"]
        assert train.main(argv) == 0
    assert not [w for w in record if " ignored: the weights at " in str(w.message)]
    with pytest.warns(UserWarning, match="image_size=64 ignored"):
        train.main([*argv, "--image_size", "64", "--log_dir", str(tmp_path / "logs2")])


def test_an_untrained_network_warns_that_its_answers_are_noise(render, tmp_path):
    """KoOCR() builds a network with random weights; the seed's users got random syllables
    from predict() without a word."""
    ocr = KoOCR(**TINY)
    for call in (lambda: ocr.predict(render("가"), n=1), lambda: ocr.predict(render("가"), tta=True),
                 lambda: ocr.read(render("가"))):
        with pytest.warns(UserWarning, match=r"random weights .* KoOCR\(weights='compact48'\)") as record:
            call()
        assert {w.filename for w in record if "random weights" in str(w.message)} == {__file__}  # the caller's line
    reloaded = KoOCR(weights=ocr.save(tmp_path / "random"))  # saving does not launder the weights
    with pytest.warns(UserWarning, match="random weights"):
        reloaded.predict(render("가"), n=1)
    ocr.model.set_weights([w + 0.01 for w in ocr.model.get_weights()])  # weights set by hand
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ocr.predict(render("가"), n=1)
        KoOCR(weights=ocr.save(tmp_path / "w")).predict(render("가"), n=1)


def test_photos_are_turned_upright_and_huge_files_are_named(tmp_path, monkeypatch):
    """Phones store a photo turned and say so in EXIF; PIL's decompression-bomb guard used
    to escape as a traceback."""
    from PIL import Image

    from koocr.preprocess import to_gray

    upright = np.full((40, 60), 255, np.uint8)
    upright[5:10, :] = 0  # a bar along the top
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "turned.png", exif=exif.tobytes())
    np.testing.assert_array_equal(to_gray(tmp_path / "turned.png"), upright)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match="too large to read"):
        to_gray(tmp_path / "turned.png")


def test_labels_outside_the_charset_are_named_before_training(tmp_path):
    """A single-softmax model's charset lacks '갂': training stopped mid-epoch with a long
    TensorFlow traceback that named no file."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32), dtype=np.uint8)
    for patch_size in (None, 1):  # everything loaded at once, or patch by patch
        folder = tmp_path / f"data{patch_size}"
        patches.write_patches(str(folder), "printed", images, ["가"] * 8, patch_size=8)
        patches.write_patches(str(folder), "clova", images, ["가"] * 7 + ["갂"], patch_size=8)
        ocr = KoOCR(network_type="compact", image_size=32, split_components=False)
        with pytest.raises(ValueError, match=r"clova_0\.pickle'?: Label '갂' is not in the model's charset"):
            ocr.train(epochs=1, data_path=str(folder), val_path=None, batch_size=4, patch_size=patch_size,
                      log_dir=str(tmp_path / "logs"), verbose=0)
        assert not os.path.exists(tmp_path / "logs" / "training.csv")


def test_inputs_checked_where_they_enter(tmp_path):
    """A 0..1 float image that overshoots 1 (bicubic resizing) was taken as 0..255 and read
    blank; a lazily opened PIL image of a truncated or closed file escaped as OSError /
    AssertionError; preprocess(margin=...) and probabilities() took anything."""
    from PIL import Image

    from koocr.preprocess import to_gray

    glyph = np.ones((40, 40), np.float32)
    glyph[10:30, 18:22] = 0.0
    over = glyph.copy()
    over[0, 0], over[5, 5] = 1.02, -0.11
    np.testing.assert_array_equal(to_gray(over), np.clip(over, 0, 1) * 255)  # it was over / 1.02 * 255
    Image.fromarray((glyph * 255).astype(np.uint8)).save(tmp_path / "g.png")
    data = (tmp_path / "g.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Cannot read this PIL image .*truncated"):
        to_gray(Image.open(tmp_path / "cut.png"))
    with Image.open(tmp_path / "g.png") as closed:
        pass
    with pytest.raises(ValueError, match="Cannot read this PIL image"):
        to_gray(closed)
    ocr = KoOCR(**TINY)
    for margin in (-1, 0.5, float("nan"), True):
        with pytest.raises(ValueError, match="margin must be a number in"):
            ocr.preprocess(glyph, margin=margin)
    with pytest.raises(ValueError, match=r"shape \(N, 32, 32\).* Received shape \(1, 96, 96\)"):
        ocr.probabilities(np.zeros((1, 96, 96), np.uint8))
    empty = ocr.probabilities(np.zeros((0, 32, 32), np.uint8), features=True)
    assert [a.shape[0] for a in empty] == [0, 0, 0, 0] and [a.shape[1] for a in empty[:3]] == [19, 21, 28]


def test_a_corrupt_segment_classifier_does_not_stop_predict(tmp_path):
    from koocr import segments

    saved = KoOCR(**TINY).save(tmp_path / "w")
    (tmp_path / "w" / segments.FILE).write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="Cannot read segment classifier .*read\\(\\) runs without it"):
        ocr = KoOCR(weights=saved)
    assert ocr.segments is None and len(ocr.predict(np.full((32, 32), 255, np.uint8), n=2)) == 2
