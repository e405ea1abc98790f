"""The pipeline streams an axial stack through load → segment → measure a chunk
at a time and keeps compact arrays: same results as one pass, bounded memory.
Also: a study with nothing measurable is refused (exit 2), and a study without
levels says so without claiming a count from the sacrum.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mri_measure.pipeline as pipeline
from mri_measure.compact import CroppedProbabilities
from mri_measure.errors import InputError
from mri_measure.io import load_stack
from mri_measure.pipeline import analyse_study, write_outputs
from mri_measure.testing.truth import TruthSegmenter
from mri_measure.synth import write_cd

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5"


def _truth(cd: Path) -> TruthSegmenter:
    return TruthSegmenter.from_npz(cd.parent / "truth_labels.npz")


@pytest.fixture(scope="module")
def contiguous_cd(tmp_path_factory) -> Path:
    return write_cd(tmp_path_factory.mktemp("contig"), seed=3, axial="contiguous",
                    stenosis="moderate")


def test_chunked_analysis_equals_one_pass(contiguous_cd, monkeypatch):
    """Chunks of 3 slices (the stack has 23, so the last chunk is short) give the
    same report, labels, probabilities and pixels as the whole stack at once."""
    monkeypatch.setattr(pipeline, "CHUNK_SLICES", 10_000)
    whole = analyse_study(contiguous_cd, segmenter=_truth(contiguous_cd))
    monkeypatch.setattr(pipeline, "CHUNK_SLICES", 3)
    chunked = analyse_study(contiguous_cd, segmenter=_truth(contiguous_cd))
    assert whole.axial[0].loaded.stack.n_slices > 3 * 4
    assert replace(whole.report, timings_s={}) == replace(chunked.report, timings_s={})
    for a, b in zip(whole.axial, chunked.axial):
        assert a.loaded.slices == b.loaded.slices and a.measurements == b.measurements
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(np.asarray(a.probabilities), np.asarray(b.probabilities))
        np.testing.assert_array_equal(a.loaded.pixels, b.loaded.pixels)


def test_kept_arrays_are_compact_and_exact(contiguous_cd):
    an = analyse_study(contiguous_cd, segmenter=_truth(contiguous_cd))
    sa = an.axial[0]
    full = load_stack(sa.loaded.stack)  # float32, all at once
    assert sa.loaded.pixels.dtype == np.uint16  # integer MR values: lossless
    np.testing.assert_array_equal(sa.loaded.pixels.astype(np.float32), full.pixels)
    assert sa.labels.dtype == np.uint8
    probs = sa.probabilities
    assert isinstance(probs, CroppedProbabilities) and probs.shape == (len(sa.labels), 4, *sa.labels.shape[1:])
    assert probs.nbytes < 0.25 * np.asarray(probs).nbytes
    np.testing.assert_array_equal(probs.argmax(axis=1), sa.labels)
    np.testing.assert_array_equal(probs[5].argmax(axis=0), sa.labels[5])


def test_study_without_levels_does_not_claim_a_count_from_the_sacrum(tmp_path):
    """One axial block, no sagittal: no level can be counted. The warnings must
    not say levels were counted from the sacrum, and the SR still carries the
    per-slice values."""
    import highdicom as hd

    cd = write_cd(tmp_path / "one", seed=5, sagittal=False, levels=("L4-L5",))
    an = analyse_study(cd, segmenter=_truth(cd))
    assert all(s.level.level is None for s in an.report.slices)
    assert not any("counted from the sacrum" in w for w in an.report.warnings)
    assert any("no disc level could be assigned" in w for w in an.report.warnings)
    paths = write_outputs(an, tmp_path / "out")
    sr = hd.sr.srread(paths["sr"])
    ids = [str(g.tracking_identifier) for g in sr.content.get_planar_roi_measurement_groups()]
    assert ids and all("level unknown" in i for i in ids)


def test_nothing_measurable_is_an_input_error(contiguous_cd):
    class Empty:
        name, version, sha256 = "empty", "0", None

        def predict_stack(self, loaded):
            p = np.zeros((len(loaded.slices), 4, *loaded.pixels.shape[1:]), np.float32)
            p[:, 0] = 1.0
            return p

    with pytest.raises(InputError, match=r"nothing measurable: no dural sac found on any of the 23 "):
        analyse_study(contiguous_cd, segmenter=Empty())


def test_non_lumbar_mr_exits_2_with_one_line(tmp_path):
    """pydicom's MR_small (a 64×64 head slice) through the real CLI and model."""
    from pydicom.data import get_testdata_file

    folder = tmp_path / "mr_small"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), folder)
    res = subprocess.run([sys.executable, "-m", "mri_measure", "measure", str(folder),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("mri-measure:")]
    assert len(lines) == 1 and "nothing measurable" in lines[0] and "lumbar spine axial T2" in lines[0]
    assert "Traceback" not in res.stderr


# Peak memory of the child's own address space (VmHWM, kB). Not getrusage's
# ru_maxrss: Linux carries the high-water mark across exec, so a child spawned
# by a large pytest process would report the parent's size.
_PEAK = (
    "import sys; from mri_measure.pipeline import analyse_study, write_outputs; "
    "from mri_measure.testing.truth import TruthSegmenter; "
    "write_outputs(analyse_study(sys.argv[1], segmenter=TruthSegmenter.from_npz(sys.argv[2])), sys.argv[3]); "
    "print(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')))"
)


def _peak_mb(cd: Path, truth: Path, out: Path) -> float:
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    res = subprocess.run([sys.executable, "-c", _PEAK, str(cd), str(truth), str(out)],
                         capture_output=True, text=True, timeout=900, env=env, cwd=out.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    return int(res.stdout.split()[-1]) / 1024.0


def test_memory_stays_bounded_on_a_long_512_series(tmp_path):
    """80 slices at 512² (40 positions × 2 acquisitions) against the 15-slice
    320² sample CD, each in a fresh process, all outputs written. Before
    streaming, the probabilities alone took 4 MB per 512² slice (several
    copies): 80 slices cost > 600 MB more than the sample. Kept per slice now:
    ~0.5 MB pixels + 0.25 MB labels + a probability crop."""
    from mri_measure.synth.long_series import write_long_series

    cd = write_long_series(tmp_path / "long", n_positions=40, repeats=2, size=512)
    long_mb = _peak_mb(cd, tmp_path / "long" / "truth_labels.npz", tmp_path / "out_long")
    sample_mb = _peak_mb(SAMPLE / "CD", SAMPLE / "truth_labels.npz", tmp_path / "out_sample")
    assert long_mb < 1024, long_mb
    assert long_mb - sample_mb < 250, (long_mb, sample_mb)
