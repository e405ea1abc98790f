"""The stored reference outlines on the real shared volumes (benchmarks/real_refs)
still match the volumes and are reproduced by region growing from their stored
seeds, so nobody edits a reference silently (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.real_refs import eval_slices, load_refs
from benchmarks.real_refs import volumes as real

ROOT = Path(__file__).resolve().parents[1]
REFS = ROOT / "benchmarks" / "real_refs"

needs_data = pytest.mark.skipif(not real.available(), reason="../shared/data (sct_t2_upper, tptbox_cervical_t2) is absent")


def test_stored_references_load_and_agree_with_seeds_json():
    seeds = json.loads((REFS / "seeds.json").read_text())["slices"]
    for name in ("sct", "tptbox"):
        r = load_refs(name)
        want = [e for e in seeds if e["volume"] == name]
        assert [int(k) for k in r["k"]] == [e["k"] for e in want]
        assert r["seed_rc"].tolist() == [e["seed_rc"] for e in want]
        assert r["accepted"].tolist() == [e["verdict"].startswith("accepted") for e in want]
        assert len(r["k"]) >= 15 and r["accepted"].sum() >= 15
        areas = r["masks"].sum(axis=(1, 2)) * float(np.prod(r["spacing_mm"]))
        assert np.all((areas > 80) & (areas < 400)), areas  # a dural sac, not a speck or a leak
        for m, seed in zip(r["masks"], r["seed_rc"]):
            assert m[seed[0], seed[1]]  # the seed lies inside its outline


@needs_data
@pytest.mark.parametrize("name", ["sct", "tptbox"])
def test_references_match_the_volume_geometry_and_regrow_from_their_seeds(name):
    from benchmarks.real_refs.grow import GrowParams, dice, grow
    from benchmarks.real_refs.make_refs import display_slice, display_spacing, entries

    vol = real.load(name)
    r = load_refs(name)
    assert tuple(r["spacing_mm"]) == display_spacing(vol)
    ents = {e["k"]: e for e in entries() if e["volume"] == name}
    for k, m in zip(r["k"], r["masks"]):
        im = display_slice(vol, int(k))
        assert m.shape == im.shape
        e = ents[int(k)]
        again = grow(im, tuple(e["seed_rc"]), display_spacing(vol), GrowParams.from_json(e["params"]))
        assert dice(again, m) >= 0.98, (name, int(k))
        # the sac is bright CSF on T2: the outline holds brighter pixels than its surroundings
        ring = np.logical_xor(np.pad(m, 3)[6:, 3:-3] | np.pad(m, 3)[:-6, 3:-3] | np.pad(m, 3)[3:-3, 6:]
                              | np.pad(m, 3)[3:-3, :-6], m) & ~m
        assert np.median(im[m]) > np.median(im[ring])


@needs_data
def test_training_cases_never_contain_an_evaluation_slice():
    from benchmarks.real_refs import training_cases

    t = training_cases()
    assert not set(t["k"].tolist()) & set(eval_slices()["tptbox"])
    assert t["images"].shape == t["labels"].shape and len(t["k"]) >= 20
    assert set(np.unique(t["labels"]).tolist()) <= {0, 1} and t["labels"].any(axis=(1, 2)).all()
