"""`pip install .` gives a working library: shipped weights, fonts and the `koocr` command."""

import os
import re
import shutil
import subprocess
import sys

import pytest

import koocr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "samples", "03_printed_UnDotum.png")  # '어' in a held-out face
SHIPPED = sorted(d for d in os.listdir(os.path.join(ROOT, "pretrained"))
                 if os.path.isfile(os.path.join(ROOT, "pretrained", d, "config.json")))


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_dependencies_match_requirements():
    """pyproject.toml declares what requirements.txt installs (TensorFlow as an extra)."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        project = tomllib.load(fh)["project"]
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as fh:
        pinned = {_name(line): line.strip() for line in fh if line.strip() and not line.startswith("#")}
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + extras["cpu"] + extras["dev"]
    assert {_name(r): r for r in declared} == pinned
    assert project["version"] == koocr.__version__


def test_wheel_installs_and_reads_outside_the_repository(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md"):
        os.makedirs(src, exist_ok=True)
        shutil.copy(os.path.join(ROOT, name), src / name)
    skip = shutil.ignore_patterns("__pycache__", "*_evaluation")
    for name in ("koocr", "pretrained", "fonts"):
        shutil.copytree(os.path.join(ROOT, name), src / name, ignore=skip)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, cwd=tmp_path)
    (wheel,) = os.listdir(tmp_path / "dist")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(tmp_path / "dist" / wheel)],
                   check=True, cwd=tmp_path)
    assert os.path.isfile(site / "bin" / "koocr")  # the console command
    for name in SHIPPED:  # every file of every shipped model, not its evaluation
        assert sorted(os.listdir(site / "koocr" / "pretrained" / name)) == sorted(
            os.listdir(os.path.join(ROOT, "pretrained", name))), name
    away = tmp_path / "away"  # neither the repository nor its folders on the path
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = f"""
import os, koocr
from koocr import KoOCR
from koocr.fonts import load_manifest
assert koocr.__file__.startswith({str(site)!r}), koocr.__file__
assert sorted(KoOCR.pretrained_models()) == {SHIPPED!r}
ocr = KoOCR(weights="compact48")
assert ocr.litert_file.startswith({str(site)!r}) and ocr.segments is not None
print(ocr.predict({SAMPLE!r}, n=3)[0])
fonts = load_manifest()
assert len(fonts) == 63 and all(os.path.isfile(f.path) for f in fonts)
from koocr.predict import main  # what the koocr command runs
assert main([{SAMPLE!r}, "--n", "2"]) == 0
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=away, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout.strip().splitlines()
    assert printed[-2] == "어" and printed[-1].startswith(f"{SAMPLE}: 어 ")
    for command in ([str(site / "bin" / "koocr")], [sys.executable, "-m", "koocr"]):
        version = subprocess.run([*command, "--version"], cwd=away, env=env, capture_output=True, text=True)
        assert version.stdout.strip() == f"koocr {koocr.__version__}", version.stderr[-2000:]
