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
    s.add_argument("--init-from", default=None, metavar="BUNDLE",
                   help="start from this detector bundle's weights (fine-tune), e.g. models/sagittal-disc-unet")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3)")
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
    if args.init_from:
        command += f" --init-from {shlex.quote(str(args.init_from))}"
    if args.lr is not None:
        command += f" --lr {args.lr:g}"
    train_discs(args.out, seed=args.seed, minutes=args.minutes, steps=args.steps, scenes=args.scenes, command=command,
                init_from=args.init_from, lr=args.lr)
    return 0
