"""The shipped sagittal disc detector: bundle integrity, output, and disc counts
on synthetic scenes it never saw (the real-anatomy score is in
benchmarks/RESULTS.md, SPIDER section)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mri_measure.errors import ModelError
from mri_measure.levels.learned import discs_from_probabilities
from mri_measure.segment.bundle import models_dir
from mri_measure.segment.disc_detector import DEFAULT_BUNDLE_NAME, load_disc_detector
from mri_measure.synth import sagittal_scene as S
from mri_measure.training.disc_data import training_pair

BUNDLE = models_dir() / DEFAULT_BUNDLE_NAME


@pytest.fixture(scope="module")
def detector():
    assert (BUNDLE / "metadata.json").is_file(), "shipped disc detector missing"
    return load_disc_detector()


def test_probabilities_cover_the_view_and_sum_to_one(detector):
    view = np.random.default_rng(0).random((203, 171)).astype(np.float32)
    view[:10] = np.nan  # outside the source slice
    p = detector.probabilities(view)
    assert p.shape == (4, 203, 171) and p.dtype == np.float32
    assert np.allclose(p.sum(0), 1.0, atol=1e-4)
    assert detector.grid_mm == S.DETECTOR_GRID_MM


def test_counts_the_discs_of_unseen_synthetic_scenes(detector):
    """Views of scenes from a seed outside training: the discs found from the
    detector's output match those found from the truth (count and rows)."""
    rng = np.random.default_rng([424242, 1])
    agree = n = 0
    for k in range(12):
        scene = S.make_scene(np.random.default_rng([424242, k]))
        img, target = training_pair(scene, rng)
        truth = discs_from_probabilities(np.stack([target == c for c in range(4)]).astype(np.float32), S.DETECTOR_GRID_MM)
        if not truth:
            continue  # no sacrum in this view
        got = discs_from_probabilities(detector.probabilities(img), S.DETECTOR_GRID_MM)
        n += 1
        agree += bool(got) and len(got) == len(truth) and all(
            abs(a.centre_px[0] - b.centre_px[0]) < 6 for a, b in zip(got, truth))
    assert n >= 6
    assert agree >= 0.75 * n, (agree, n)


def test_missing_or_corrupt_bundle_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_disc_detector(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    shutil.copytree(BUNDLE, bad)
    meta = json.loads((bad / "metadata.json").read_text())
    meta["sha256"] = "0" * 64
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="sha256"):
        load_disc_detector(bad)


def test_train_discs_command_writes_a_bundle_the_detector_loads(tmp_path):
    from mri_measure.cli import main

    out = tmp_path / "tiny-disc-unet"
    assert main(["train-discs", "--out", str(out), "--steps", "2", "--scenes", "4", "--seed", "3"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["steps"] == 2 and meta["training"]["seed"] == 3
    assert meta["training"]["command"].startswith("mri-measure train-discs --out ")
    det = load_disc_detector(out)
    assert det.probabilities(np.zeros((64, 48), np.float32)).shape == (4, 64, 48)


def test_train_discs_init_from_fine_tunes_the_shipped_detector(tmp_path):
    """--init-from starts from a bundle's weights and records it; one step at a
    tiny learning rate leaves the weights close to the parent's."""
    from safetensors.numpy import load_file

    from mri_measure.cli import main

    out = tmp_path / "tuned-disc-unet"
    assert main(["train-discs", "--out", str(out), "--steps", "1", "--scenes", "2", "--seed", "4",
                 "--init-from", str(BUNDLE), "--lr", "1e-7"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    parent = json.loads((BUNDLE / "metadata.json").read_text())
    assert meta["training"]["init_from"]["sha256"] == parent["sha256"]
    assert meta["version"].startswith("1.1+seed4.step1") and "--init-from" in meta["training"]["command"]
    a, b = load_file(str(out / "model.safetensors")), load_file(str(BUNDLE / "model.safetensors"))
    assert a.keys() == b.keys()
    learnt = [k for k in a if "running" not in k and "num_batches" not in k]  # batch-norm statistics do move
    assert learnt and max(float(np.abs(a[k] - b[k]).max()) for k in learnt) < 1e-3
    assert main(["train-discs", "--out", str(tmp_path / "x"), "--steps", "1", "--scenes", "2",
                 "--init-from", str(tmp_path)]) == 2
