"""The real ``mri-measure`` command line with the ground-truth segmenter in
``batch`` (for tests that run the CLI as a subprocess on synthetic archives)::

    python -m mri_measure.testing.cli --truth DIR [mri-measure arguments...]

``DIR`` holds the ``truth_labels.npz`` of the studies (outside ROOT). Every
``batch`` run of this process then segments with
:func:`mri_measure.testing.truth.truth_spec` instead of loading ``--model``;
everything else is :func:`mri_measure.cli.main` unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--truth":
        print("usage: python -m mri_measure.testing.cli --truth DIR [mri-measure arguments...]", file=sys.stderr)
        return 2
    folder, rest = args[1], args[2:]

    from ..batch import run as batch_run
    from ..cli import main as cli_main
    from .truth import truth_spec

    batch_run.segmenter_spec = lambda model, device: truth_spec(folder, device)
    return cli_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
