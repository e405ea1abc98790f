"""A few real training steps on mri_measure.synth: seeded, deterministic, resumable."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from mri_measure.errors import OptionError
from mri_measure.segment import load_segmenter
from mri_measure.training.train import train

SMALL = {"batch_size": 2, "num_workers": 0, "log_every": 1, "checkpoint_every": 2, "calibrate": False,
         "segmenter": {"architecture": "UNet2d",
                       "kwargs": {"in_channels": 1, "n_classes": 4, "base": 4, "depth": 3, "max_channels": 16}},
         "localiser": {"architecture": "UNet2d",
                       "kwargs": {"in_channels": 1, "n_classes": 2, "base": 4, "depth": 3, "max_channels": 16}}}


def _weights(d):
    return load_file(str(d / "model.safetensors"))


def test_training_is_deterministic_and_resumable(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    train(a, seed=3, steps=3, config=SMALL)
    train(b, seed=3, steps=3, config={**SMALL, "num_workers": 1})  # a worker process makes the same batches
    train(c, seed=3, steps=3, config=SMALL, interrupt_after=2)  # as if killed after step 2
    train(c, seed=3, steps=3, resume=True, config=SMALL)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert wa.keys() == wb.keys() == wc.keys()
    for k in wa:
        assert np.allclose(wa[k], wb[k], atol=1e-6), k
        assert np.allclose(wa[k], wc[k], atol=1e-6), k
    train(b, seed=3, steps=3, config=SMALL, interrupt_after=1)
    w0 = _weights(b)  # one step with seed 3 ...
    train(tmp_path / "d", seed=4, steps=3, config=SMALL, interrupt_after=1)
    assert any(not np.allclose(w0[k], v) for k, v in _weights(tmp_path / "d").items())  # ... differs from seed 4

    log = (c / "train.log").read_text()
    assert "resumed at step 2" in log and "dice_sac" in log and "step 3" in log
    meta = json.loads((c / "metadata.json").read_text())
    assert meta["training"]["steps"] == 3 and meta["training"]["seed"] == 3
    # the exported bundle is loadable and predicts
    seg = load_segmenter(c)
    p = seg.predict(np.random.default_rng(0).random((1, 64, 64), dtype=np.float32), (0.8, 0.8),
                    (1, 0, 0, 0, 1, 0))
    assert p.shape == (1, 4, 64, 64) and np.allclose(p.sum(1), 1, atol=1e-5)
    with pytest.raises(OptionError, match="seed"):
        train(c, seed=5, steps=4, resume=True, config=SMALL)


def test_finished_training_calibrates_the_bundle_and_an_interrupted_one_does_not(tmp_path):
    cfg = {**SMALL, "calibrate": True, "calibration_slices": 2, "calibration_seed": 5}
    train(tmp_path / "cut", seed=0, steps=3, config=cfg, interrupt_after=1)
    assert "logit_offsets" not in json.loads((tmp_path / "cut" / "metadata.json").read_text()).get("inference", {})
    train(tmp_path / "done", seed=0, steps=2, config=cfg)
    meta = json.loads((tmp_path / "done" / "metadata.json").read_text())
    offsets = meta["inference"]["logit_offsets"]
    assert len(offsets) == 4 and offsets[0] == 0.0 and offsets[2] == offsets[3] < 0  # LF shared, below 0
    assert meta["calibration"]["n_slices"] == 2 and meta["calibration"]["chosen"] == offsets
    assert "calibrated logit offsets" in (tmp_path / "done" / "train.log").read_text()
    assert load_segmenter(tmp_path / "done").logit_offsets == offsets  # inference uses them


def test_training_needs_a_budget(tmp_path):
    with pytest.raises(OptionError):
        train(tmp_path, seed=0)


def test_training_mixes_in_user_cases(tmp_path):
    from tests.training.shapes import shape_sample

    cases = tmp_path / "cases"
    cases.mkdir()
    for i in range(2):
        s = shape_sample(np.random.default_rng(i), orientation=(-1, 0, 0, 0, 1, 0))
        np.savez(cases / f"case{i}.npz", image=s.image, labels=s.labels, spacing_mm=s.spacing_mm,
                 orientation=s.orientation)
    calls = []

    def no_synth(rng, randomise):  # with user_fraction 1 every item must come from the cases
        calls.append(1)
        raise AssertionError("synthetic sample drawn")

    train(tmp_path / "b", seed=0, steps=2, user_cases=cases, sample_fn=no_synth,
          config={**SMALL, "user_fraction": 1.0})
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert "user cases" in meta["training"]["data"] and not calls
    assert "user cases 2" in (tmp_path / "b" / "train.log").read_text()


def test_init_from_starts_from_a_bundle_and_records_it(tmp_path):
    parent, child = tmp_path / "parent", tmp_path / "child"
    train(parent, seed=1, steps=1, config=SMALL)
    # a negligible learning rate: the child's parameters are the parent's
    train(child, seed=2, steps=1, config={**SMALL, "lr": 1e-12}, init_from=parent)
    train(tmp_path / "fresh", seed=2, steps=1, config={**SMALL, "lr": 1e-12})
    wp, wc, wf = _weights(parent), _weights(child), _weights(tmp_path / "fresh")
    params = [k for k in wp if "running_" not in k and "num_batches" not in k]
    assert all(np.allclose(wp[k], wc[k], atol=1e-6) for k in params)
    assert not all(np.allclose(wp[k], wf[k], atol=1e-6) for k in params)
    meta_p = json.loads((parent / "metadata.json").read_text())
    rec = json.loads((child / "metadata.json").read_text())["training"]["init_from"]
    assert rec["sha256"] == meta_p["sha256"] and rec["version"] == meta_p["version"]
    assert rec["training"]["seed"] == 1  # the parent's own training block travels along
    assert json.loads((tmp_path / "fresh" / "metadata.json").read_text())["training"]["init_from"] is None
    other = {**SMALL, "segmenter": {"architecture": "UNet2d", "kwargs": {
        "in_channels": 1, "n_classes": 4, "base": 8, "depth": 3, "max_channels": 16}}}
    with pytest.raises(OptionError, match="architecture"):
        train(tmp_path / "x", seed=0, steps=1, config=other, init_from=parent)
    with pytest.raises(OptionError, match="bundle"):
        train(tmp_path / "y", seed=0, steps=1, config=SMALL, init_from=tmp_path / "missing")
