"""mri-measure: dural-sac area and ligamentum flavum thickness per lumbar level.

The public API (everything in ``__all__``)::

    from mri_measure import run_study, analyse_study, ReviewSession, Thresholds
    report = run_study("/media/cdrom", out_dir="results")       # one study, every output
    analysis = analyse_study("/media/cdrom")                      # report + arrays, no files
    session = ReviewSession(analysis)                             # correct, then write
    session.set_level(key, "L4-L5"); session.write("results")

Importing this package is cheap: names are loaded on first use (PEP 562), so
``import mri_measure`` loads neither numpy-heavy modules nor torch, napari or Qt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .levels.names import CHOOSABLE_LEVELS, LUMBAR_LEVELS  # noqa: E402  (the one home of level names)

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # one study end to end
    "run_study": "pipeline",
    "analyse_study": "pipeline",
    "write_outputs": "pipeline",
    "measure_to_folder": "pipeline",
    "build_report": "pipeline",
    "measure_slice": "measure",
    "discover": "io",
    "load_stack": "io",
    # review and correction
    "ReviewSession": "review",
    # criteria
    "Thresholds": "criteria",
    # vocabulary
    "Label": "vocabulary",
    "StackRole": "vocabulary",
    "LevelSource": "vocabulary",
    # types
    "SliceInfo": "types",
    "Stack": "types",
    "Study": "types",
    "Discovery": "types",
    "LoadedStack": "types",
    "SliceMeasurement": "types",
    "LevelAssignment": "types",
    "DiscPlane": "types",
    "SliceResult": "types",
    "LevelMeasurement": "types",
    "StudyReport": "types",
    "StackAnalysis": "types",
    "StudyAnalysis": "types",
    # errors
    "MriMeasureError": "errors",
    "InputError": "errors",
    "NoDicomError": "errors",
    "NoAxialT2Error": "errors",
    "AmbiguousSeriesError": "errors",
    "IntegrityError": "errors",
    "UnsupportedError": "errors",
    "ModelError": "errors",
    "OptionError": "errors",
    "OutputError": "errors",
}
#: public names whose object has another name in its module
_RENAMED = {"write_synthetic_cd": ("synth", "write_cd")}

__all__ = ["__version__", "LABELS", "LUMBAR_LEVELS", "CHOOSABLE_LEVELS", *_EXPORTS, *_RENAMED]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name], name
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
    elif name == "LABELS":
        from .vocabulary import Label

        value: Any = {int(lab): lab.key for lab in Label}
        globals()[name] = value
        return value
    else:
        raise AttributeError(f"module 'mri_measure' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what the names are, for type checkers and IDEs
    from .criteria import Thresholds
    from .errors import (
        AmbiguousSeriesError,
        InputError,
        IntegrityError,
        ModelError,
        MriMeasureError,
        NoAxialT2Error,
        NoDicomError,
        OptionError,
        OutputError,
        UnsupportedError,
    )
    from .io import discover, load_stack
    from .measure import measure_slice
    from .pipeline import analyse_study, build_report, measure_to_folder, run_study, write_outputs
    from .review import ReviewSession
    from .synth import write_cd as write_synthetic_cd
    from .types import (
        DiscPlane,
        Discovery,
        LevelAssignment,
        LevelMeasurement,
        LoadedStack,
        SliceInfo,
        SliceMeasurement,
        SliceResult,
        Stack,
        StackAnalysis,
        StudyAnalysis,
        StudyReport,
        Study,
    )
    from .vocabulary import Label, LevelSource, StackRole

    LABELS: dict[int, str]
