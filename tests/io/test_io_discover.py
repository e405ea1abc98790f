"""discover(): CDs, DICOMDIR, folders, zips, single files; stacks, roles, problems."""

from __future__ import annotations

import os
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from tests.io.io_study import BLOCK_TILTS, SLICES_PER_BLOCK, snapshot
from tests.io.dicom_factory import (
    PHI,
    enhanced_mr,
    junk_files,
    make_cd,
    mr_slice,
    normal_of,
    save,
    stack_of,
    tilted_axial,
)
from pydicom.uid import generate_uid

from mri_measure.errors import NoDicomError
from mri_measure.io import discover


def roles(discovery) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for st in discovery.studies:
        for s in st.stacks:
            out.setdefault(s.role, []).append(s.n_slices)
    return {k: sorted(v) for k, v in out.items()}


EXPECTED_ROLES = {
    "axial_t2": [SLICES_PER_BLOCK] * 3,
    "sagittal_t2": [5],
    "localizer": [1, 1, 1],
    "other": [4],
}


def write_folder(root: Path, datasets, *, names=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(datasets):
        name = names(i, ds) if names else f"sub{i % 3}/IMG{i:04d}.dcm"
        save(ds, root / name)
    return root


def test_cd_with_dicomdir_finds_every_stack_and_role(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets)
    before = snapshot(cd)
    d = discover(cd)
    assert roles(d) == EXPECTED_ROLES
    assert d.n_dicom_files == len(study.datasets) + 1  # + the DICOMDIR itself
    assert d.n_skipped_non_dicom == 0
    assert d.warnings == ()
    assert len(d.studies) == 1 and d.studies[0].study_instance_uid == study.study_uid
    assert snapshot(cd) == before  # nothing written into the input


def test_dicomdir_file_path_is_same_as_cd_root(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets)
    a, b = discover(cd), discover(cd / "DICOMDIR")
    assert roles(a) == roles(b)
    assert [s.slices for st in a.studies for s in st.stacks] == [s.slices for st in b.studies for s in st.stacks]


def test_lowercased_cd_resolves_case_insensitively(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets, lowercase=True)
    assert (cd / "dicomdir").exists() and not (cd / "DICOMDIR").exists()
    d = discover(cd)
    assert roles(d) == EXPECTED_ROLES
    assert any("ignoring case" in w for w in d.warnings)
    assert not any("missing" in w for w in d.warnings)


def test_dcm_suffix_added_by_copy_is_resolved(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets)
    for f in [p for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR"]:
        f.rename(f.with_name(f.name + ".dcm"))
    d = discover(cd)
    assert roles(d) == EXPECTED_ROLES
    assert any("ignoring case or a .dcm suffix" in w for w in d.warnings)


def test_missing_referenced_file_is_warned_and_rest_still_found(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets)
    victim = next(p for p in sorted(cd.rglob("*")) if p.is_file() and p.name != "DICOMDIR")
    gone = pydicom.dcmread(victim, stop_before_pixels=True).SOPInstanceUID
    victim.unlink()
    d = discover(cd)
    assert any("1 referenced file(s) are missing" in w for w in d.warnings)
    keys = {s.key for st in d.studies for stack in st.stacks for s in stack.slices}
    assert gone not in keys
    assert len(keys) == len(study.datasets) - 1


def test_files_not_in_dicomdir_are_scanned_too(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets[:10])
    for i, ds in enumerate(study.datasets[10:]):
        save(ds, cd / "EXTRA" / f"X{i}")  # extension-less, unknown to the DICOMDIR
    d = discover(cd)
    assert roles(d) == EXPECTED_ROLES


def test_folder_without_dicomdir_extensionless_and_junk(tmp_path, study):
    root = write_folder(tmp_path / "f", study.datasets, names=lambda i, ds: f"a/b/{i:08X}")
    n_junk = junk_files(root)
    d = discover(root)
    assert roles(d) == EXPECTED_ROLES
    assert d.n_skipped_non_dicom == n_junk
    assert d.n_files_scanned == len(study.datasets) + n_junk
    assert d.warnings == ()  # clutter is counted, not reported


def test_file_order_and_instance_numbers_do_not_decide_slice_order(tmp_path):
    """Three angled blocks in one series, shuffled files, scrambled
    InstanceNumbers → three stacks, each sorted by position along its normal."""
    study_uid, series = generate_uid(), generate_uid()
    datasets = []
    for b, tilt in enumerate(BLOCK_TILTS):
        datasets += stack_of(5, study_uid=study_uid, series_uid=series, orientation=tilted_axial(tilt),
                             centre=(0, 0, -40 + 35 * b), step=3.5, seed=b * 7)
    rng = random.Random(3)
    numbers = list(range(1, len(datasets) + 1))
    rng.shuffle(numbers)
    for ds, n in zip(datasets, numbers):
        ds.InstanceNumber = n
    rng.shuffle(datasets)
    root = write_folder(tmp_path / "f", datasets, names=lambda i, ds: f"{rng.random():.8f}")
    (stacks,) = [st.stacks for st in discover(root).studies]
    assert len(stacks) == 3
    assert all(s.role == "axial_t2" and s.problems == () for s in stacks)
    got_tilts = []
    for s in stacks:
        n = np.asarray(s.normal)
        z = [float(np.dot(sl.position_mm, n)) for sl in s.slices]
        assert z == sorted(z) and np.allclose(np.diff(z), 3.5, atol=1e-3)
        got_tilts.append(round(float(np.degrees(np.arctan2(-n[1], n[2]))), 3))
    # blocks ordered along the series' mean normal, i.e. from inferior to superior here
    assert got_tilts == list(BLOCK_TILTS)
    assert [s.stack_id for s in stacks] == ["3.1", "3.2", "3.3"]


def test_small_jitter_stays_one_stack_but_two_degrees_splits(tmp_path):
    study_uid, series = generate_uid(), generate_uid()
    ds = []
    for i in range(6):
        jitter = tilted_axial(0.05 * (i % 2))  # 0.05°: same stack
        ds.append(mr_slice(study_uid=study_uid, series_uid=series, position=(0, 0, 4 * i), orientation=jitter, seed=i))
    for i in range(3):
        ds.append(mr_slice(study_uid=study_uid, series_uid=series, position=(0, 0, 40 + 4 * i),
                           orientation=tilted_axial(2.0), seed=10 + i))
    (stacks,) = [st.stacks for st in discover(write_folder(tmp_path / "f", ds)).studies]
    assert sorted(s.n_slices for s in stacks) == [3, 6]


def test_duplicates_gaps_nonuniform_are_problems(tmp_path):
    study_uid = generate_uid()
    s_dup, s_gap, s_nonu = generate_uid(), generate_uid(), generate_uid()
    ds = [mr_slice(study_uid=study_uid, series_uid=s_dup, series_number=5, position=(0, 0, z), seed=i)
          for i, z in enumerate([0, 4, 4, 8, 12])]
    ds += [mr_slice(study_uid=study_uid, series_uid=s_gap, series_number=6, position=(0, 0, z), seed=i)
           for i, z in enumerate([0, 4, 8, 20, 24, 28])]
    ds += [mr_slice(study_uid=study_uid, series_uid=s_nonu, series_number=7, position=(0, 0, z), seed=i)
           for i, z in enumerate([0, 4, 8.8, 12.4, 16])]
    d = discover(write_folder(tmp_path / "f", ds))
    by_series = {s.series_number: s for st in d.studies for s in st.stacks}
    assert any(p.startswith("duplicate positions: 1") for p in by_series[5].problems)
    assert any(p.startswith("gap: 1 step") for p in by_series[6].problems)
    assert not any(p.startswith("gap") for p in by_series[7].problems)
    assert any(p.startswith("non-uniform slice spacing") for p in by_series[7].problems)
    assert by_series[6].n_slices == 6


def test_same_file_twice_counts_once(tmp_path, study):
    root = write_folder(tmp_path / "f", study.datasets)
    shutil.copytree(root / "sub0", root / "copy_of_sub0")
    d = discover(root)
    assert roles(d) == EXPECTED_ROLES
    assert any("duplicate image(s)" in w for w in d.warnings)


def test_enhanced_multiframe_is_split_into_frames(tmp_path):
    study_uid, series = generate_uid(), generate_uid()
    order = [3, 0, 5, 1, 4, 2]  # frames stored out of spatial order
    ds, _, z = enhanced_mr(6, study_uid=study_uid, series_uid=series, frame_order=order,
                           orientation=tilted_axial(10.0))
    save(ds, tmp_path / "f" / "ENH")
    (stack,) = [s for st in discover(tmp_path / "f").studies for s in st.stacks]
    assert stack.role == "axial_t2" and stack.n_slices == 6 and stack.problems == ()
    assert stack.spacing_mm == (0.8, 0.8) and (stack.rows, stack.columns) == (24, 20)
    assert stack.echo_time_ms == 110.0 and stack.repetition_time_ms == 3500.0
    # sorted by position: frame indices follow the inverse of the storage order
    assert [s.frame_index for s in stack.slices] == [order.index(k) for k in range(6)]
    assert stack.slices[0].key == f"{ds.SOPInstanceUID}#{order.index(0) + 1}"
    assert np.allclose(np.asarray(stack.normal), normal_of(tilted_axial(10.0)))


def test_zip_archive(tmp_path, study):
    cd = make_cd(tmp_path / "cd", study.datasets)
    junk_files(cd)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(cd.rglob("*")):
            if p.is_file():
                zf.write(p, "CD/" + str(p.relative_to(cd)))
    before = snapshot(tmp_path)
    d = discover(archive)
    assert roles(d) == EXPECTED_ROLES
    assert d.n_skipped_non_dicom == 5
    assert snapshot(tmp_path) == before  # nothing extracted next to the archive


def test_zip_unsafe_and_bomb_members_are_skipped(tmp_path, study):
    archive = tmp_path / "evil.zip"
    good = save(study.datasets[0], tmp_path / "good.dcm")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(good, "ok/IM1")
        zf.writestr("../escape", good.read_bytes())
        zf.writestr("/abs/path", good.read_bytes())
        link = zipfile.ZipInfo("ok/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("bomb.bin", b"\0" * (40 * 1024**2))  # 40 MiB of zeros: ratio ~1000
    d = discover(archive)
    assert d.n_files_scanned == 1 and d.n_dicom_files == 1
    assert any("3 archive member(s) with unsafe names" in w for w in d.warnings)
    assert any("1 archive member(s) skipped: declared size or compression ratio" in w for w in d.warnings)


def test_single_file(tmp_path, study):
    path = save(study.datasets[0], tmp_path / "one")
    d = discover(path)
    assert d.n_files_scanned == 1 and sum(s.n_slices for st in d.studies for s in st.stacks) == 1


def test_file_without_preamble_is_read(tmp_path, study):
    path = save(study.datasets[0], tmp_path / "raw", "no-preamble")
    assert path.read_bytes()[128:132] != b"DICM"
    d = discover(path)
    assert d.n_dicom_files == 1 and len(d.studies) == 1


def test_missing_geometry_is_left_out_with_warning(tmp_path, study):
    ds = [d for d in study.datasets if d.SeriesNumber == 3]
    del ds[0].PixelSpacing
    del ds[1].ImagePositionPatient
    ds[2].ImageOrientationPatient = [1, 0, 0, 1, 0, 0]  # degenerate
    d = discover(write_folder(tmp_path / "f", ds))
    assert sum(s.n_slices for st in d.studies for s in st.stacks) == len(ds) - 3
    assert any(w.startswith("series 3: 3 image(s) lack") for w in d.warnings)


def test_truncated_and_garbage_files_are_counted_not_fatal(tmp_path, study):
    root = write_folder(tmp_path / "f", study.datasets)
    raw = save(study.datasets[0], tmp_path / "x.dcm").read_bytes()
    (root / "trunc_header").write_bytes(raw[:200])  # DICM magic, then nothing usable
    (root / "garbage").write_bytes(b"DICM" * 100)
    (root / "random").write_bytes(np.random.default_rng(0).bytes(5000))
    d = discover(root)
    assert roles(d) == EXPECTED_ROLES


def test_symlink_cycle_and_link_outside_root(tmp_path, study):
    root = write_folder(tmp_path / "f", study.datasets)
    outside = tmp_path / "outside"
    outside.mkdir()
    extra = mr_slice(study_uid=generate_uid(), series_uid=generate_uid(), position=(0, 0, 0))
    save(extra, outside / "SECRET")
    os.symlink(root, root / "sub0" / "loop")  # cycle back to the root
    os.symlink(outside, root / "out")  # leaves the root: not followed
    os.symlink(root / "sub1", root / "alias")  # inside the root: same files, counted once
    d = discover(root)
    assert roles(d) == EXPECTED_ROLES
    assert d.n_files_scanned == len(study.datasets)
    assert any("1 symbolic link(s) pointing outside" in w for w in d.warnings)


def test_pydicom_bundled_dicomdir_fileset(tmp_path):
    src = Path(pydicom.data.get_testdata_file("DICOMDIR")).parent
    cd = tmp_path / "cd"
    shutil.copytree(src, cd)
    before = snapshot(cd)
    d = discover(cd / "DICOMDIR")
    assert snapshot(cd) == before
    stacks = [s for st in d.studies for s in st.stacks]
    assert len(d.studies) >= 3 and len(stacks) >= 10
    # the CR images have no patient geometry: left out with a warning, not a crash
    assert any("lack PixelSpacing" in w for w in d.warnings)
    mr = [s for s in stacks if s.modality == "MR"]
    assert mr and {s.role for s in mr} <= {"localizer", "other"}  # no T2 lumbar series there
    assert {s.role for s in stacks if s.modality == "CT"} == {"other"}
    for s in stacks:  # sorted along the normal
        z = [float(np.dot(sl.position_mm, s.normal)) for sl in s.slices]
        assert z == sorted(z)


def test_nothing_there_raises_nodicom_without_path(tmp_path):
    missing = tmp_path / "DOE_JOHN_CD"
    with pytest.raises(NoDicomError) as e:
        discover(missing)
    assert "DOE_JOHN" not in str(e.value) and "\n" not in str(e.value)
    junk = tmp_path / "junk"
    junk.mkdir()
    junk_files(junk)
    with pytest.raises(NoDicomError, match=r"no DICOM files found .*5 file\(s\) scanned"):
        discover(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoDicomError):
        discover(empty)


def test_roles_from_timing_and_description(tmp_path):
    study_uid = generate_uid()
    ds = []
    # no TE/TR at all: the description decides
    ds += stack_of(3, study_uid=study_uid, series_uid=generate_uid(), series_number=10, te=None, tr=None,
                   description="t2_tse_tra")
    # STIR: long TE but inversion recovery → other
    stir = stack_of(3, study_uid=study_uid, series_uid=generate_uid(), series_number=11,
                    orientation=(0, 1, 0, 0, 0, -1), description="sag stir")
    for x in stir:
        x.ScanningSequence = ["SE", "IR"]
        x.InversionTime = 150
    ds += stir
    # coronal T2 → other
    ds += stack_of(3, study_uid=study_uid, series_uid=generate_uid(), series_number=12,
                   orientation=(1, 0, 0, 0, 0, -1), description="T2 COR")
    d = discover(write_folder(tmp_path / "f", ds))
    got = {s.series_number: s.role for st in d.studies for s in st.stacks}
    assert got == {10: "axial_t2", 11: "other", 12: "other"}


def test_no_phi_in_discovery_warnings(tmp_path, study):
    ds = study.datasets[:5]
    del ds[0].PixelSpacing
    root = write_folder(tmp_path / "DOE^JOHN", ds)
    d = discover(root)
    text = repr(d.warnings)
    for v in PHI.values():
        assert v not in text
    assert "DOE" not in text and str(tmp_path) not in text


def test_steep_lordotic_blocks_stay_axial_t2_not_localizer(tmp_path):
    """Per-disc blocks spread over 50° (L1-L2 at -10°, L5-S1 at +40°) are
    short stacks of different orientation in one series — not a 3-plane scout."""
    study_uid, series = generate_uid(), generate_uid()
    ds = []
    for b, tilt in enumerate((-10.0, 5.0, 20.0, 40.0)):
        ds += stack_of(3, study_uid=study_uid, series_uid=series, orientation=tilted_axial(tilt),
                       centre=(0, 0, -90 + 30 * b), seed=4 * b)
    d = discover(write_folder(tmp_path / "f", ds))
    stacks = [s for st in d.studies for s in st.stacks]
    assert [s.role for s in stacks] == ["axial_t2"] * 4
    assert stacks[-1].plane == "oblique"  # > 30° off axial, still an axial block


def test_fifo_and_dangling_link_do_not_hang_or_count(tmp_path, study):
    root = write_folder(tmp_path / "f", study.datasets)
    os.mkfifo(root / "pipe")  # opening it for reading would block forever
    os.symlink(root / "gone", root / "dangling")
    d = discover(root)
    assert roles(d) == EXPECTED_ROLES
    assert d.n_files_scanned == len(study.datasets)


def test_absurd_number_of_frames_is_left_out_quickly(tmp_path):
    ds, _, _ = enhanced_mr(2, study_uid=generate_uid(), series_uid=generate_uid())
    ds.NumberOfFrames = 2_000_000_000  # corrupt: must not loop over 2e9 frames
    save(ds, tmp_path / "ENH")
    good = mr_slice(study_uid=ds.StudyInstanceUID, series_uid=generate_uid(), position=(0, 0, 0))
    save(good, tmp_path / "IM1")
    d = discover(tmp_path)
    assert sum(s.n_slices for st in d.studies for s in st.stacks) == 1
    assert any("implausible" in w for w in d.warnings)


def test_two_studies_and_dual_echo_series(tmp_path):
    a, b = generate_uid(), generate_uid()
    ds = stack_of(3, study_uid=a, series_uid=generate_uid(), series_number=3)
    dual = generate_uid()  # PD + T2 interleaved in one series, same positions
    ds += stack_of(4, study_uid=b, series_uid=dual, series_number=5, te=12.0, tr=3000.0, seed=20)
    ds += stack_of(4, study_uid=b, series_uid=dual, series_number=5, te=96.0, tr=3000.0, seed=40)
    d = discover(write_folder(tmp_path / "f", ds))
    assert sorted(st.study_instance_uid for st in d.studies) == sorted([a, b])
    study_b = next(st for st in d.studies if st.study_instance_uid == b)
    by_te = {s.echo_time_ms: s for s in study_b.stacks}
    assert set(by_te) == {12.0, 96.0}
    assert by_te[96.0].role == "axial_t2" and by_te[12.0].role == "other"
    assert all(s.problems == () and s.n_slices == 4 for s in study_b.stacks)  # no false duplicates
    assert len({s.stack_id for s in study_b.stacks}) == 2


def test_one_uid_on_two_different_images_excludes_both(tmp_path):
    """Which image a reused SOPInstanceUID means is unknowable: neither is measured."""
    from tests.io.dicom_factory import save, stack_of

    study_uid, series = generate_uid(), generate_uid()
    dss = stack_of(4, study_uid=study_uid, series_uid=series)
    dss[2].SOPInstanceUID = dss[1].SOPInstanceUID  # different position, same UID
    dss[2].file_meta.MediaStorageSOPInstanceUID = dss[1].SOPInstanceUID
    folder = tmp_path / "dup"
    folder.mkdir()
    for i, ds in enumerate(dss):
        save(ds, folder / f"IM{i}")
    d = discover(folder)
    keys = {s.key for st in d.studies for stack in st.stacks for s in stack.slices}
    assert str(dss[1].SOPInstanceUID) not in keys
    assert keys == {str(dss[0].SOPInstanceUID), str(dss[3].SOPInstanceUID)}
    assert any("used by two different images" in w for w in d.warnings)


def test_dicomdir_referenced_file_that_is_not_dicom_is_warned(tmp_path):
    """Clutter is skipped quietly; a file the DICOMDIR names that is garbage is damage."""
    from tests.io.dicom_factory import make_cd, stack_of

    dss = stack_of(4, study_uid=generate_uid(), series_uid=generate_uid())
    cd = make_cd(tmp_path / "cd", dss)
    images = sorted(p for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    images[1].write_bytes(b"\x07garbage" * 50)
    (cd / "AUTORUN.INF").write_text("[autorun]\n")
    d = discover(cd)
    assert sum(st.n_slices for s in d.studies for st in s.stacks) == 3
    assert any("referenced file(s) are not readable DICOM" in w for w in d.warnings)
    assert d.n_skipped_non_dicom == 1  # only the AUTORUN.INF
