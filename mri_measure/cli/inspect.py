"""``mri-measure inspect PATH [--json]``: list studies, series and stacks (headers only)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("inspect", help="list studies, series and stacks (headers only)")
    s.add_argument("path", help="CD root, DICOMDIR, folder, .zip or single file")
    s.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    import json

    from ..io import discover
    from ..io.inspect import discovery_to_dict, print_table

    data = discovery_to_dict(discover(args.path))
    try:
        if args.json:
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print_table(data, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `inspect … | head`: the reader left, not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
