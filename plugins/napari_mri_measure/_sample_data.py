"""napari sample data: a synthetic lumbar MRI study from :mod:`mri_measure.synth`.

The phantom CD is generated into a fresh temporary folder (removed when the
Python process exits) and read back with the plugin's own reader, so the
sample exercises the same path as a real CD. It is synthetic: no patient data.
The ground truth written beside the CD is noted in the layers' metadata
(``metadata["mri_measure"]["synthetic_truth_dir"]``) for tests and demos.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

SAMPLE_SEED = 7
SAMPLE_STENOSIS = "moderate"


def make_sample_cd(
    out_dir: str | Path | None = None, *, seed: int = SAMPLE_SEED, stenosis: str = SAMPLE_STENOSIS
) -> Path:
    """Write the sample phantom CD; returns the CD root (``<out_dir>/CD``)."""
    from mri_measure import write_synthetic_cd as write_cd

    if out_dir is None:
        out_dir = tempfile.mkdtemp(prefix="mri-measure-sample-")
        atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    return Path(write_cd(Path(out_dir), seed=seed, stenosis=stenosis))


def make_sample_data(seed: int = SAMPLE_SEED) -> list[tuple[Any, dict[str, Any], str]]:
    """Sample-data hook: image layers of a freshly generated phantom study."""
    from ._reader import read_study

    cd = make_sample_cd(seed=seed)
    return read_study(
        str(cd), extra_meta={"synthetic": True, "synthetic_truth_dir": str(cd.parent)}
    )
