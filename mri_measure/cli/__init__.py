"""The ``mri-measure`` command line (entry point ``mri_measure.cli:main``).

One module per subcommand — :mod:`.inspect`, :mod:`.measure`, :mod:`.batch`,
:mod:`.synth`, :mod:`.train`, :mod:`.train_discs`, :mod:`.evaluate` — each
with ``add_parser(subparsers)`` and ``run(args) -> int``; :mod:`.main` builds
the parser, dispatches and maps errors to exit codes.
"""

from __future__ import annotations

from .main import EXIT_BUG, EXIT_INPUT, EXIT_OK, EXIT_SOME_FAILED, build_parser, main

__all__ = ["EXIT_BUG", "EXIT_INPUT", "EXIT_OK", "EXIT_SOME_FAILED", "build_parser", "main"]
