"""``mri-measure evaluate --out DIR``: evaluate a model against ground truth."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("evaluate", help="evaluate a model against ground truth")
    s.add_argument("--model", default=None, help="bundle directory (default: shipped)")
    s.add_argument("--out", required=True, help="folder for metrics JSON, tables, plots")
    s.add_argument("--cases", default=None, help="truth.json CD folders or label files; default synthetic held-out")
    s.add_argument("--n-slices", type=int, default=200)
    s.add_argument("--seed", type=int, default=10_000)
    s.add_argument("--device", default="cpu")
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    from ..training.evaluate import evaluate, markdown_table

    # one torch thread: evaluation is one slice at a time (spacing varies per slice), where
    # intra-op threads only add synchronisation, badly so on a shared, loaded CPU
    s = evaluate(args.model, args.out, cases=args.cases, n_slices=args.n_slices, seed=args.seed,
                 device=args.device, torch_threads=1)
    print(markdown_table(s), end="")
    return 0
