"""Ablation of the training methods: same network, same data, same wall-clock budget.

Each variant runs ``train.py`` with ``--time_budget`` (warm-up + cosine learning rate on
elapsed time, see ``koocr.timebudget``), then ``tools/evaluate_pretrained.py`` on the fonts
held out of training. ``<out>/ablation.md`` / ``ablation.json`` collect the table; a
variant whose evaluation summary already exists is not run again (resume after a stop).

    python tools/ablation.py --budget 7m --out logs/ablation
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> extra train.py flags; every variant shares BASE below.
VARIANTS = {
    "baseline": [],
    "direct_map": ["--direct_map", "true"],
    "data_augmentation": ["--data_augmentation", "true"],
    "adversarial_learning": ["--adversarial_learning", "true", "--adversarial_ratio", "0.15"],
    "hybrid_loss": ["--hybrid_loss", "0.5"],
    "iterative_refinement": ["--iterative_refinement", "true", "--refinement_t", "4"],
    "adaptive_drop_weight": ["--drop_weight", "0.5"],
}
BASE = [
    "--network_type", "compact", "--image_size", "48", "--fc_link", "GWAP", "--charset", "ks2350",
    "--optimizer", "adam", "--lr", "0.002", "--batch_size", "128", "--patch_size", "1000",
    "--steps_per_epoch", "300", "--epochs", "1000", "--max_val_samples", "5000", "--verbose", "2",
]  # fmt: skip
SETS = ("printed_clean", "printed_degraded", "handwriting", "outside_ks")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", default="7m", help="training wall-clock per variant (train.py --time_budget)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    p.add_argument("--out", default="logs/ablation")
    p.add_argument("--data_path", default="./data")
    p.add_argument("--val_path", default="./val_data")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def run(cmd: list[str], log_path: str) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)


def run_variant(name: str, args) -> dict:
    folder = os.path.join(args.out, name)
    summary_path = os.path.join(folder, "evaluation", "summary.json")
    if os.path.isfile(summary_path):
        print(f"{name}: already evaluated, reusing {summary_path}")
    else:
        os.makedirs(folder, exist_ok=True)
        log_path = os.path.join(folder, "log.txt")
        train = [sys.executable, "train.py", *BASE, *VARIANTS[name], "--time_budget", args.budget,
                 "--data_path", args.data_path, "--val_path", args.val_path,
                 "--log_dir", os.path.join(folder, "train"), "--seed", str(args.seed)]  # fmt: skip
        start = time.monotonic()
        print(f"{name}: training ({args.budget})", flush=True)
        run(train, log_path)
        seconds = time.monotonic() - start
        print(f"{name}: evaluating", flush=True)
        evaluate = [sys.executable, "tools/evaluate_pretrained.py",
                    "--weights", os.path.join(folder, "train", "checkpoint"),
                    "--output", os.path.join(folder, "evaluation")]  # fmt: skip
        run(evaluate, log_path)
        with open(os.path.join(folder, "wall_seconds.json"), "w", encoding="utf-8") as fh:
            json.dump({"train_wall_seconds": round(seconds, 1)}, fh)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    with open(os.path.join(args.out, name, "train", "checkpoint", "config.json"), encoding="utf-8") as fh:
        training = json.load(fh).get("extra", {})
    return {"summary": summary, "training": training, "speed": train_speed(os.path.join(folder, "log.txt"))}


def top1(summary: dict, name: str) -> float | None:
    entry = summary.get("sets", {}).get(name)
    return None if entry is None else entry.get("top1")


def train_speed(log_path: str, batch_size: int = 128) -> float | None:
    """Training glyphs/s from the Keras epoch lines, over the full epochs after the first."""
    if not os.path.isfile(log_path):
        return None
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        steps = [float(m.group(1)) for m in re.finditer(r"^\d+/\d+ - \d+s - (\d+)ms/step", fh.read(), re.M)]
    full = steps[1:-1]  # the first pays tracing, the last may be cut by the budget
    return None if not full else batch_size / (statistics.median(full) / 1000.0)


def table(results: dict, budget: str) -> str:
    lines = [
        f"| method ({budget} training each) | " + " | ".join(SETS) + " | train glyphs/s | val syllable acc |",
        "|---" * (len(SETS) + 3) + "|",
    ]
    for name, res in results.items():
        cells = []
        for s in SETS:
            value = top1(res["summary"], s)
            cells.append("-" if value is None else f"{100 * value:.2f} %")
        val = res["training"].get("val_syllable_accuracy")
        val_text = "-" if val is None else f"{100 * val:.2f} %"
        speed = res.get("speed")
        speed_text = "-" if speed is None else f"{speed:.0f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {speed_text} | {val_text} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"Unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for name in names:
        try:
            results[name] = run_variant(name, args)
        except subprocess.CalledProcessError as err:  # keep going: report the others
            print(f"{name}: FAILED ({err}); see {os.path.join(args.out, name, 'log.txt')}", flush=True)
            continue
        md = table(results, args.budget)
        with open(os.path.join(args.out, "ablation.md"), "w", encoding="utf-8") as fh:
            fh.write(md + f"\nCommand: `python tools/ablation.py --budget {args.budget}`\n")
        with open(os.path.join(args.out, "ablation.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, ensure_ascii=False, indent=2)
        print(md, flush=True)
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
