"""``mri-measure train --out DIR``: train the segmentation model on synthetic slices."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("train", help="train the segmentation model on synthetic slices")
    s.add_argument("--out", required=True, help="bundle directory to write")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--user-cases", default=None, help="folder of labelled cases to mix in: .npz, NIfTI/PNG "
                   "image + NAME_labels pairs (PNG: + NAME.json spacing), DICOM SEG + its images")
    s.add_argument("--device", default="cpu")
    s.add_argument("--init-from", default=None, metavar="BUNDLE",
                   help="start from this model bundle's weights (fine-tune), e.g. models/lumbar-axial-unet")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3)")
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    import shlex

    from ..errors import ModelError

    # the command recorded in the bundle: no paths but the output folder's
    cmd = ["mri-measure", "train", "--out", str(args.out), "--seed", str(args.seed)]
    if args.minutes is not None:
        cmd += ["--minutes", f"{args.minutes:g}"]
    if args.steps is not None:
        cmd += ["--steps", str(args.steps)]
    if args.user_cases:
        cmd += ["--user-cases", "<folder>"]
    if args.device != "cpu":
        cmd += ["--device", args.device]
    if args.init_from:
        from pathlib import Path

        p = Path(args.init_from)
        cmd += ["--init-from", str(p) if not p.is_absolute() else f"<{p.name}>"]
    if args.lr is not None:
        if not args.lr > 0:
            from ..errors import OptionError

            raise OptionError("--lr must be positive")
        cmd += ["--lr", f"{args.lr:g}"]
    try:
        from ..synth import sample_axial_2d  # noqa: F401
    except ImportError:
        raise ModelError("the synthetic data generator mri_measure.synth is unavailable; cannot train") from None
    from ..training.train import train

    summary = train(args.out, seed=args.seed, steps=args.steps, minutes=args.minutes,
                    resume=args.resume, user_cases=args.user_cases, device=args.device,
                    command=shlex.join(cmd), init_from=args.init_from,
                    config={"lr": args.lr} if args.lr is not None else None)
    print(f"trained {summary['step']} steps in {summary['elapsed_s'] / 60:.1f} min; bundle in {args.out}")
    return 0
