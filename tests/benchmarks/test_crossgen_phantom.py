"""The cross-generator phantom's truth is right (benchmarks/crossgen, issue 18)."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from crossgen import anatomy as A  # noqa: E402
from crossgen.phantom import Acquisition, render_level, render_truth  # noqa: E402


def _acq(spacing=0.6, tilt=0.0, rot=0.0, n=200) -> Acquisition:
    return Acquisition(spacing_mm=spacing, rows=n, cols=n, thickness_mm=3.5, gap_mm=0.0, tilt_deg=tilt,
                       rot_deg=rot, canal_rc=(n * 0.55 + 0.3, n * 0.47 + 0.2), snr=20.0, block_offset_mm=0.0)


def _free_params(seed=0) -> A.Params:
    """A sac that nothing touches: a circle, no disc bulge, ligaments held off by fat."""
    p = A.sample_anatomy(np.random.default_rng(seed), "L2-L3")
    return replace(p, sac_ctrl=np.ones(16), sac_z_curv=0.0, bulge_mm=0.0, fat_post_mm=5.0, fat_lat_mm=4.0,
                   fat_ant_mm=3.0, lf_indent_mm=(0.0, 0.0), lf_buckle_mm=(0.0, 0.0), sap_r_mm=(3.0, 3.0),
                   lf_z_curv=0.0, lf_t_mm=(4.2, 2.1))


@pytest.mark.parametrize("spacing", [0.45, 0.8])
def test_free_circle_sac_area_is_pi_r_squared(spacing):
    an = A.Anatomy(_free_params(), scale=7.0)
    _, area, _, _ = render_truth(an, _acq(spacing, n=int(100 / spacing)), 0.0)
    assert area == pytest.approx(np.pi * 7.0**2, rel=0.01)


def test_tilted_plane_cuts_the_tube_longer_by_one_over_cos():
    an = A.Anatomy(_free_params(), scale=6.0)
    _, flat, _, _ = render_truth(an, _acq(0.6, n=170), 0.0)
    _, tilted, _, _ = render_truth(an, _acq(0.6, tilt=12.0, n=170), 0.0)
    assert tilted / flat == pytest.approx(1 / np.cos(np.deg2rad(12.0)), rel=0.01)


def test_lf_thickness_of_known_ligaments_recovered_per_side():
    an = A.Anatomy(_free_params(), scale=7.0)
    labels, _, left, right = render_truth(an, _acq(0.6, n=170), 0.0)
    assert left == pytest.approx(4.2, abs=0.08)
    assert right == pytest.approx(2.1, abs=0.08)
    # patient left is +x = increasing column: label 2 lies right of the sac in the array
    cols = {k: np.nonzero(labels == k)[1].mean() for k in (1, 2, 3)}
    assert cols[3] < cols[1] < cols[2]


def test_labels_agree_with_truth_numbers_and_seeds_reproduce():
    a = render_level("L4-L5", 0.8, seed=5, fov_mm=110.0, n_slices=1)
    b = render_level("L4-L5", 0.8, seed=5, fov_mm=110.0, n_slices=1)
    c = render_level("L4-L5", 0.8, seed=6, fov_mm=110.0, n_slices=1)
    s = a.slices[0]
    assert np.array_equal(s.image, b.slices[0].image) and np.array_equal(s.labels, b.slices[0].labels)
    assert not np.array_equal(s.image, c.slices[0].image)
    px = a.acq.spacing_mm**2
    assert (s.labels == 1).sum() * px == pytest.approx(s.canal_area_mm2, rel=0.06)
    assert 30 < s.canal_area_mm2 < 300
    assert 1.2 < s.lf_left_mm < 7.5 and 1.2 < s.lf_right_mm < 7.5
    assert (s.labels == 2).any() and (s.labels == 3).any()
    # the dural sac is the brightest structure: CSF above the ligaments on the image
    assert s.image[s.labels == 1].mean() > 2 * s.image[s.labels == 2].mean()


def test_generator_is_independent_of_the_package_and_training_never_sees_it():
    root = Path(__file__).resolve().parents[2]
    for f in (root / "benchmarks" / "crossgen").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("mri_measure", "tests") for n in names), \
                f"{f.name} imports {names}: the generator must stay independent of the package"
    for f in (root / "mri_measure").rglob("*.py"):
        assert "crossgen" not in f.read_text(), f"{f.relative_to(root)} must not use the cross-generator"
