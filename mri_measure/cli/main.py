"""`mri-measure` command line: a thin adapter over the Python API.

Exit codes: 0 ok · 1 internal error (a bug) · 2 bad or unusable input, with
one clear line on stderr · 3 batch finished with some studies failed.

Each subcommand is one module of this package holding its arguments
(``add_parser``) and its handler (``run``); the handler unpacks the parsed
arguments into typed calls of the library and imports what it needs only
when it runs, so ``mri-measure --help`` loads no scientific stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MriMeasureError
from . import batch, evaluate, inspect, measure, synth, train, train_discs

EXIT_OK, EXIT_BUG, EXIT_INPUT, EXIT_SOME_FAILED = 0, 1, 2, 3

#: The subcommands, in the order ``--help`` lists them.
COMMANDS = (inspect, measure, batch, synth, train, train_discs, evaluate)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mri-measure",
        description="Dural-sac area and ligamentum flavum thickness per lumbar disc level "
        "from axial T2 MRI (mild-procedure imaging criteria).",
    )
    p.add_argument("--version", action="version", version=f"mri-measure {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..logs import configure_logging

    configure_logging(debug=args.debug, quiet=args.quiet)
    try:
        return int(args.handler(args) or 0)
    except MriMeasureError as exc:
        print(f"mri-measure: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mri-measure: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, traceback only with --debug
        if args.debug:
            raise
        print(
            f"mri-measure: internal error ({type(exc).__name__}); "
            "this is a bug — rerun with --debug for details and report it",
            file=sys.stderr,
        )
        return EXIT_BUG
