"""``mri-measure train-discs --out DIR``: train the sagittal disc detector on synthetic scenes."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("train-discs", help="train the sagittal disc detector on synthetic scenes")
    s.add_argument("--out", required=True, help="bundle directory to write (shipped: models/sagittal-disc-unet)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--scenes", type=int, default=1000, help="random scenes in the training pool")
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    import shlex

    from ..errors import OptionError

    if args.minutes is None and args.steps is None:
        raise OptionError("give --minutes or --steps for train-discs")
    from ..training.disc_train import train_discs

    budget = f"--minutes {args.minutes:g}" if args.minutes is not None else f"--steps {args.steps}"
    command = f"mri-measure train-discs --out {shlex.quote(str(args.out))} --seed {args.seed} {budget} --scenes {args.scenes}"
    train_discs(args.out, seed=args.seed, minutes=args.minutes, steps=args.steps, scenes=args.scenes, command=command)
    return 0
