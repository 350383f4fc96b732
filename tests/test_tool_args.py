"""Arguments of tools/make_samples.py, make_line_set.py, compare_tesseract.py,
evaluate_pretrained.py and ship_model.py that were ignored, accepted out of range or
checked too late."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refused(main, argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_make_samples_parses_its_flags_and_writes_only_where_told(tmp_path, monkeypatch, capsys):
    """--help rewrote samples/ (every argument was ignored) and the output followed the cwd."""
    make_samples = _tool("make_samples")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        make_samples.main(["--help"])
    assert stop.value.code == 0 and str(ROOT / "samples") in capsys.readouterr().out  # default: beside the script
    _refused(make_samples.main, ["--bogus"], "unrecognized arguments: --bogus", capsys)
    assert not os.listdir(tmp_path)  # nothing written to the cwd
    out = tmp_path / "out"
    assert make_samples.main(["--output", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted(os.listdir(ROOT / "samples"))
    assert sorted(os.listdir(out / "lines")) == sorted(os.listdir(ROOT / "samples" / "lines"))


def test_make_line_set_rerun_removes_the_previous_numbered_files(tmp_path, capsys):
    """A shorter re-run left 0001.png/.txt of the longer one, and evaluate.py scored both."""
    main = _tool("make_line_set").main
    _refused(main, ["--chars", "-3", "--output", str(tmp_path / "x")], "--chars must be >= 1", capsys)
    assert not (tmp_path / "x").exists()
    lines, chars = tmp_path / "lines", tmp_path / "chars"
    argv = ["--output", str(lines), "--chars_output", str(chars)]
    assert main(argv + ["--count", "3", "--chars", "2"]) == 0
    (lines / "printed" / "notes.txt").write_text("mine")  # not the tool's naming: kept
    capsys.readouterr()
    assert main(argv + ["--count", "1", "--chars", "1"]) == 0
    assert "removed 7 files" in capsys.readouterr().out  # 3 lines' .png and .txt, and fonts.tsv
    assert sorted(os.listdir(lines / "handwriting")) == ["0000.png", "0000.txt", "fonts.tsv"]
    for folder in (chars / "printed", chars / "handwriting"):
        assert sorted(os.listdir(folder)) == ["0000.png", "0000.txt"]
    assert sorted(os.listdir(lines / "printed")) == ["0000.png", "0000.txt", "fonts.tsv", "notes.txt"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lines", "x", "--limit", "0"], "--limit must be >= 1"),  # ZeroDivisionError
        (["--lines", "x", "--limit", "-1"], "--limit must be >= 1"),  # dropped the last image
        (["--benchmark", "--repeats", "0"], "--repeats must be >= 1"),  # nan ms over 0 calls
        (["--lines", "x", "--psm", "3"], "invalid choice"),  # a mode the comparison does not use
        (["--benchmark", "--output", "{tmp}"], "not a folder"),  # failed after the work
    ],
)
def test_compare_tesseract_refuses_bad_ranges_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "model", types.ModuleType("model"))  # no KoOCR: loading one fails
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    _refused(_tool("compare_tesseract").main, argv, message, capsys)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sets", "printed_clean,handwritting"], "--sets takes comma-separated names"),  # failed at the last set
        (["--sets", ","], "--sets takes comma-separated names"),
        (["--max_outside", "0"], "--max_outside must be >= 1"),  # a 30 KB error line
        (["--max_outside", "-1"], "--max_outside must be >= 1"),  # a numpy error
    ],
)
def test_evaluate_pretrained_refuses_bad_flags_before_any_evaluation(argv, message, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "model", types.ModuleType("model"))  # no KoOCR: loading one fails
    _refused(_tool("evaluate_pretrained").main, argv, message, capsys)


def test_evaluate_pretrained_summary_command_reproduces_the_run():
    """summary.md's Command: line dropped --sets, --max_outside, --seed and --output."""
    tool = _tool("evaluate_pretrained")
    parser = tool.build_parser()
    assert tool.command_line(parser, parser.parse_args([])) == "python tools/evaluate_pretrained.py --weights compact48"
    argv = ["--sets", "handwriting,outside_ks", "--max_outside", "50", "--seed", "3", "--output", "/tmp/my eval", "--tta"]
    line = tool.command_line(parser, parser.parse_args(argv + ["--backend", "keras"]))
    assert line == (
        "python tools/evaluate_pretrained.py --weights compact48 --backend keras --sets handwriting,outside_ks "
        "--max_outside 50 --seed 3 --output '/tmp/my eval' --tta"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["logs/x/best", "../escaped"],  # wrote beside pretrained/
        ["logs/x/best", "{tmp}/abs"],  # wrote anywhere
        ["logs/x/best", "sub/name"],
        ["logs/x/best", "."],  # pretrained/ itself
        ["logs/x/best", ".."],
        ["logs/x/best", ""],
        ["--litert_only", "../compact48"],
    ],
)
def test_ship_model_refuses_a_name_that_is_not_a_plain_folder(argv, tmp_path, monkeypatch, capsys):
    """``../escaped`` or an absolute path wrote the weights outside pretrained/."""
    monkeypatch.setitem(sys.modules, "model", types.ModuleType("model"))  # loading fails
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    message = "expected a plain folder name under pretrained/"
    _refused(_tool("ship_model").main, argv, message, capsys)
    assert not os.listdir(tmp_path)
