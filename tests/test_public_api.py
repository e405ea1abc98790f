"""The public API: ``mri_measure.__all__``, loaded lazily (PEP 562)."""

from __future__ import annotations

import subprocess
import sys

import mri_measure


def test_every_public_name_resolves_to_its_defining_object():
    from mri_measure import criteria, pipeline, review, types, vocabulary

    for name in mri_measure.__all__:
        assert getattr(mri_measure, name) is not None, name
    assert mri_measure.run_study is pipeline.run_study
    assert mri_measure.analyse_study is pipeline.analyse_study
    assert mri_measure.ReviewSession is review.ReviewSession
    assert mri_measure.Thresholds is criteria.Thresholds
    assert mri_measure.Label is vocabulary.Label
    assert mri_measure.StudyReport is types.StudyReport
    assert mri_measure.LABELS == {0: "background", 1: "dural_sac", 2: "lf_left", 3: "lf_right"}
    assert set(dir(mri_measure)) >= set(mri_measure.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        mri_measure.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no AttributeError")


def test_import_is_cheap_until_a_name_is_used():
    code = (
        "import sys, mri_measure\n"
        "heavy = ('numpy', 'torch', 'napari', 'qtpy', 'mri_measure.pipeline', 'mri_measure.review')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
        "mri_measure.ReviewSession\n"
        "print(','.join(m for m in ('torch', 'napari', 'qtpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = out.stdout.splitlines()
    assert before == "" and after == ""
