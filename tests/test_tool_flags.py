"""Flags of tools/benchmark.py, tools/ship_model.py and tools/fit_segments.py that were
taken and then ignored or run wrong: each is refused before any work."""

from __future__ import annotations

import pytest
from test_tool_args import _tool


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("benchmark", ["--repeats", "0"], "--repeats must be >= 1"),  # printed NaN, and NaN in --json
        ("benchmark", ["--batch", "-3"], "--batch must be >= 1"),  # failed after the single-image timing
        ("benchmark", ["--weights", "compact48", "--network", "fire"], "do not go with --weights"),
        ("ship_model", ["ckpt", "name", "--quantize", "int8"], "--quantize needs --litert"),  # shipped no copy
        ("ship_model", ["ckpt", "compact48", "--litert_only"], "takes no checkpoint"),
        ("fit_segments", ["--l2", "-1"], "--l2 must be >= 0"),  # replaced a good classifier with a worse one
        ("fit_segments", ["--hidden", "-2"], "--hidden must be >= 0"),  # was refused only after rendering
    ],
)
def test_bad_flags_are_refused_first(name, argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        _tool(name).main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_benchmark_network_flags_mean_an_untrained_network(monkeypatch):
    """--network / --image_size benchmarked the shipped compact48 whatever they said."""
    from koocr import benchmark

    seen = {}

    def fake(ocr, images, repeats, batch):
        seen.update(network=ocr.config.network_type, size=ocr.config.image_size, weights=ocr.weights_path)
        raise SystemExit(0)

    monkeypatch.setattr(benchmark, "benchmark", fake)
    with pytest.raises(SystemExit):
        _tool("benchmark").main(["--network", "fire", "--image_size", "32", "--repeats", "1", "--batch", "2"])
    assert seen == {"network": "fire", "size": 32, "weights": None}
