"""Streaming discovery: units, emission order, the merge rule for a study
split over two top-level folders, zips, clutter."""

from __future__ import annotations

import shutil
import zipfile

from mri_measure.batch.discovery import FoundStudy, StreamingDiscovery, Tick, UnitFailed, iter_units
from mri_measure.batch.store import opaque_key
from mri_measure.io import discover
from tests.batch.batch_archive import copy_study, zip_folder


def _found(items):
    return [i for i in items if isinstance(i, FoundStudy)]


def test_study_split_over_two_units_is_emitted_then_re_emitted_merged(tmp_path, pool):
    root, truth = tmp_path / "ROOT", tmp_path / "truth"
    uid_x = copy_study(pool[0], root / "a_part1" / "CD", truth, "x")
    uid_y = copy_study(pool[1], root / "b_other" / "CD", truth, "y")
    # move half of study x's image files into a later top-level folder
    files = sorted(p for p in (root / "a_part1").rglob("*") if p.is_file() and p.name != "DICOMDIR")
    moved = files[::2]
    (root / "c_part2").mkdir()
    for i, p in enumerate(moved):
        shutil.move(str(p), str(root / "c_part2" / f"f{i}"))

    disc = StreamingDiscovery(root, tick_every=4)
    it = iter(disc)
    first_item = next(i for i in it if isinstance(i, FoundStudy))
    # streaming: the first study comes out before the later units are read
    assert disc.stats.n_units == 1 and first_item.key == opaque_key(uid_x)
    items = [first_item, *it]
    found = _found(items)
    assert [f.key for f in found] == [opaque_key(uid_x), opaque_key(uid_y), opaque_key(uid_x)]
    first, merged = found[0], found[2]
    assert not first.merged and merged.merged
    assert merged.n_images > first.n_images
    assert merged.fingerprint != first.fingerprint
    # the merged study holds every image of x, as io.discover over the whole ROOT sees it
    whole = {s.study_instance_uid: s for s in discover(root).studies}[uid_x]
    keys = lambda st: sorted(sl.key for stack in st.stacks for sl in stack.slices)  # noqa: E731
    assert keys(merged.study) == keys(whole)
    assert any(isinstance(i, Tick) for i in items)
    assert disc.stats.n_units == 3 and disc.stats.n_merged == 1 and disc.stats.n_studies == 2


def test_zips_nested_zips_clutter_and_a_broken_zip(tmp_path, pool):
    root, truth = tmp_path / "ROOT", tmp_path / "truth"
    staging = tmp_path / "staging"
    uid_a = copy_study(pool[0], staging / "a" / "CD", truth, "a")
    root.mkdir()
    zip_folder(staging / "a", root / "PATIENT_A.zip")
    uid_b = copy_study(pool[1], staging / "b" / "CD", truth, "b")
    (root / "folder_b" / "inner").mkdir(parents=True)
    zip_folder(staging / "b", root / "folder_b" / "inner" / "cd_copy.zip")
    (root / "junk").mkdir()
    (root / "junk" / "notes.txt").write_text("hello")
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    (root / "loose.txt").write_text("loose clutter")

    units = list(iter_units(root))
    assert [u.kind for u in units] == ["files", "zip", "zip", "folder", "folder"]
    items = list(StreamingDiscovery(root))
    found = _found(items)
    assert {f.key for f in found} == {opaque_key(uid_a), opaque_key(uid_b)}
    failures = [i for i in items if isinstance(i, UnitFailed)]
    assert len(failures) == 1 and failures[0].error_class == "InputError"
    assert "broken" not in failures[0].message and str(root) not in failures[0].message


def test_cd_root_and_single_zip_root_are_one_unit(tmp_path, pool):
    truth = tmp_path / "truth"
    uid = copy_study(pool[0], tmp_path / "only" / "CD", truth, "a")
    assert [u.kind for u in iter_units(tmp_path / "only" / "CD")] == ["folder"]
    assert [u.paths for u in iter_units(tmp_path / "only" / "CD" / "DICOMDIR")] == [
        (str((tmp_path / "only" / "CD").resolve()),)
    ]
    # a ROOT holding a single folder is looked through
    assert len(list(iter_units(tmp_path / "only"))) == 1
    z = zip_folder(tmp_path / "only", tmp_path / "one.zip")
    assert zipfile.is_zipfile(z)
    found = _found(StreamingDiscovery(z))
    assert [f.key for f in found] == [opaque_key(uid)]
