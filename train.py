"""Train a KoOCR model on pickle patches.

    # the seed's command (Melnyk-net, 96 px, AdaBound)
    python train.py --learning_rate=0.00003 --optimizer=adabound --image_size=96 \
        --weights=logs/checkpoint --fc_link=GWAP --batch_size=128 --epochs=2 --patch_size=20
    # the shipped compact model (see README for the data it needs)
    python train.py --network compact --image_size 48 --optimizer adam --learning_rate 0.002 \
        --lr_schedule cosine --epochs 8 --patch_size 1000 --log_dir logs/compact48

    # several GPUs on one host / several hosts (run on each, TF_CONFIG set; see README)
    python train.py --network compact --image_size 48 --strategy mirrored --batch_size 512
    python train.py --network compact --image_size 48 --strategy multiworker --mixed_precision

    # training methods: a 30-minute budget, hybrid loss, half the weights pruned, and
    # adversarial learning against printed glyphs (needs printed_ and clova_ patches)
    python train.py --network compact --image_size 48 --optimizer adam --learning_rate 0.002 \
        --time_budget 30m --hybrid_loss 0.1 --drop_weight 0.5 --adversarial_learning \
        --adversarial_ratio 0.15 --log_dir logs/methods

    # network methods: DirectMap input, in-network augmentation, 4 refinement steps
    python train.py --network compact --image_size 48 --direct_map --data_augmentation \
        --iterative_refinement --refinement_t 4 --log_dir logs/net_methods

A stopped run started again with the same --log_dir resumes from its last finished epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from koocr.cli import add_bool_argument


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_argument_group("model")
    m.add_argument("--weights", default=None, help="start from saved weights (folder or shipped name)")
    m.add_argument("--network", "--network_type", dest="network_type", default="melnyk")
    m.add_argument("--fc_link", default="GWAP", help="flatten, GAP, GWAP or GWOAP")
    m.add_argument("--image_size", type=int, default=96)
    add_bool_argument(m, "split_components", True, "three jamo heads instead of one softmax")
    m.add_argument("--charset", default="ks2350", help="ks2350, all or a file of syllables")
    m.add_argument("--width", type=float, default=None, help="channel multiplier (compact/fire)")
    m.add_argument("--dropout", type=float, default=None)
    method_help = {
        "direct_map": "DirectMap input: the image + 8 gradient-direction planes",
        "data_augmentation": "random rotation/zoom/translation/shear inside the net (training only)",
        "iterative_refinement": "attention-based iterative refinement of the head",
    }
    for name in ("direct_map", "data_augmentation", "adversarial_learning", "iterative_refinement"):
        default_help = f"{name.replace('_', ' ')} (training-methods issue)"
        add_bool_argument(m, name, False, method_help.get(name, default_help))
    m.add_argument("--refinement_t", type=int, default=4, help="refinement steps, >= 1")
    m.add_argument("--method_args", type=json.loads, default=None,
                   help='JSON knobs of the methods (koocr.methods.METHOD_ARGS), e.g. '
                        '\'{"direct_map_trainable": true, "augmentation": {"rotation": 10}}\'')
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=None,
                   help="default 10; with --time_budget an upper bound (default 10000)")
    t.add_argument("--learning_rate", "--lr", dest="lr", type=float, default=0.001)
    t.add_argument("--optimizer", default="adabound", help="adabound, adam or sgd")
    t.add_argument("--final_lr", type=float, default=0.1, help="AdaBound final (SGD) learning rate")
    t.add_argument("--lr_schedule", default="constant", help="constant or cosine")
    t.add_argument("--warmup_epochs", type=float, default=0.0)
    t.add_argument("--weight_decay", type=float, default=None)
    t.add_argument("--label_smoothing", type=float, default=0.0)
    t.add_argument("--batch_size", type=int, default=128)
    t.add_argument("--patch_size", type=int, default=10, help="patch files shuffled together in memory")
    t.add_argument("--data_path", default="./data")
    t.add_argument("--val_path", default="./val_data")
    t.add_argument("--sources", default=None, help="comma-separated: printed,handwritten,clova")
    t.add_argument("--log_dir", default="logs")
    t.add_argument("--steps_per_epoch", type=int, default=None)
    t.add_argument("--max_val_samples", type=int, default=20000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 one line per epoch")
    t.add_argument("--strategy", default="none", choices=("none", "mirrored", "multiworker"),
                   help="mirrored: all local GPUs; multiworker: the hosts of TF_CONFIG (global --batch_size)")
    add_bool_argument(t, "mixed_precision", False, "mixed_float16 on GPU, mixed_bfloat16 on CPU")
    r = p.add_argument_group("training methods (off by default)")
    r.add_argument("--time_budget", default=None,
                   help="wall-clock budget (600, 90s, 10m, 1.5h): time-based warm-up + cosine "
                        "learning rate instead of --lr_schedule, stop when spent")
    r.add_argument("--hybrid_loss", type=float, default=0.0,
                   help="weight of the similar-class margin loss added to cross-entropy (0: off)")
    r.add_argument("--hybrid_margin", type=float, default=1.0, help="wanted log p(true) - log p(rival)")
    r.add_argument("--hybrid_top_k", type=int, default=3, help="rivals per sample and head")
    r.add_argument("--adversarial_ratio", type=float, default=0.15,
                   help="gradient reversal weight of --adversarial_learning")
    r.add_argument("--drop_weight", type=float, default=0.0,
                   help="adaptive drop weight: fraction of conv/dense weights pruned (0: off)")
    r.add_argument("--drop_weight_start", type=float, default=0.1, help="fraction of training before pruning")
    r.add_argument("--drop_weight_end", type=float, default=0.7, help="fraction of training at full target")
    r.add_argument("--drop_weight_every", type=int, default=50, help="steps between threshold raises")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    from koocr import distribute
    from koocr.training import parse_duration
    from model import KoOCR  # imported late: --help should not pay for TensorFlow

    budget = parse_duration(args.time_budget) if args.time_budget else None
    epochs = args.epochs if args.epochs is not None else (10_000 if budget else 10)
    if args.strategy == "multiworker":
        distribute.get_strategy(args.strategy)  # before any other TensorFlow op
    keras.utils.set_random_seed(args.seed)  # every worker builds the same initial weights

    network_args = {k: getattr(args, k) for k in ("width", "dropout") if getattr(args, k) is not None}
    model_args = dict(
        split_components=args.split_components,
        network_type=args.network_type,
        fc_link=args.fc_link,
        image_size=args.image_size,
        charset=args.charset,
        direct_map=args.direct_map,
        data_augmentation=args.data_augmentation,
        adversarial_learning=args.adversarial_learning,
        iterative_refinement=args.iterative_refinement,
        refinement_t=args.refinement_t,
        network_args=network_args,
        method_args=args.method_args,
    )
    if args.weights:  # the weights' own config rules: pass only flags set away from their defaults
        defaults = {**vars(parse_args([])), "network_args": {}}
        model_args = {k: v for k, v in model_args.items() if v != defaults[k]}
    ocr = KoOCR(weights=args.weights, **model_args)
    ocr.train(
        epochs=epochs,
        lr=args.lr,
        optimizer=args.optimizer,
        final_lr=args.final_lr,
        lr_schedule=args.lr_schedule,
        warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        data_path=args.data_path,
        val_path=args.val_path or None,
        sources=tuple(args.sources.split(",")) if args.sources else None,
        log_dir=args.log_dir,
        steps_per_epoch=args.steps_per_epoch,
        max_val_samples=args.max_val_samples,
        seed=args.seed,
        verbose=args.verbose,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        time_budget_s=budget,
        hybrid_loss=args.hybrid_loss,
        hybrid_margin=args.hybrid_margin,
        hybrid_top_k=args.hybrid_top_k,
        adversarial_ratio=args.adversarial_ratio,
        drop_weight=args.drop_weight,
        drop_weight_start=args.drop_weight_start,
        drop_weight_end=args.drop_weight_end,
        drop_weight_every=args.drop_weight_every,
    )
    kept = [(os.path.join(args.log_dir, "checkpoint"), "last epoch"), (os.path.join(args.log_dir, "best"), "best validation")]
    print("weights: " + ", ".join(f"{path} ({what})" for path, what in kept if os.path.isdir(path)))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main, interrupted="run the same command again to resume from the last finished epoch"))
