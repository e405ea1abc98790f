"""load_stack(): exact pixels for every transfer syntax, rescale, integrity checks."""

from __future__ import annotations

import dataclasses
import logging
import zipfile

import numpy as np
import pydicom
import pytest
from tests.io.dicom_factory import (
    PHI,
    SYNTAXES,
    enhanced_mr,
    mr_slice,
    pattern_pixels,
    save,
    stack_of,
    tilted_axial,
)
from pydicom.uid import generate_uid

from mri_measure.errors import IntegrityError
from mri_measure.io import discover, load_stack, read_headers


def one_stack(path) -> object:
    stacks = [s for st in discover(path).studies for s in st.stacks]
    assert len(stacks) == 1, [s.stack_id for s in stacks]
    return stacks[0]


def series(n=4, **kw):
    return stack_of(n, study_uid=generate_uid(), series_uid=generate_uid(), rows=40, cols=36, **kw)


@pytest.mark.parametrize("syntax", SYNTAXES + ("no-preamble",))
def test_roundtrip_exact_pixels_every_transfer_syntax(tmp_path, syntax):
    ds = series(3, seed=5)
    for i, d in enumerate(ds):
        save(d, tmp_path / "f" / f"IM{i}", syntax)
    stack = one_stack(tmp_path / "f")
    if syntax != "no-preamble":
        assert {s.transfer_syntax_uid for s in stack.slices} == {
            str(pydicom.dcmread(tmp_path / "f" / "IM0", stop_before_pixels=True).file_meta.TransferSyntaxUID)
        }
    loaded = load_stack(stack)
    assert loaded.excluded == ()
    assert loaded.pixels.dtype == np.float32 and loaded.pixels.shape == (3, 40, 36)
    expected = {d.SOPInstanceUID: np.frombuffer(d.PixelData, np.uint16).reshape(40, 36) for d in ds}
    for img, info in zip(loaded.pixels, loaded.slices):
        assert np.array_equal(img, expected[info.sop_instance_uid].astype(np.float32))


def test_rescale_applied(tmp_path):
    ds = series(2, slope=0.5, intercept=-100.0)
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    loaded = load_stack(one_stack(tmp_path))
    raw = {d.SOPInstanceUID: np.frombuffer(d.PixelData, np.uint16).reshape(40, 36) for d in ds}
    for img, info in zip(loaded.pixels, loaded.slices):
        np.testing.assert_allclose(img, raw[info.sop_instance_uid] * 0.5 - 100.0)


def test_enhanced_multiframe_frames_in_spatial_order_with_rescale(tmp_path):
    order = [2, 0, 3, 1]
    ds, frames, z = enhanced_mr(4, study_uid=generate_uid(), series_uid=generate_uid(),
                                frame_order=order, slope=2.0, intercept=1.0)
    save(ds, tmp_path / "ENH", "jpeg-ls")
    stack = one_stack(tmp_path)
    loaded = load_stack(stack)
    assert loaded.pixels.shape == (4, 24, 20)
    for img, info in zip(loaded.pixels, loaded.slices):
        np.testing.assert_array_equal(img, frames[info.frame_index] * 2.0 + 1.0)
    zs = [z[s.frame_index] for s in loaded.slices]
    assert zs == sorted(zs)
    headers = read_headers(stack)
    assert len(headers) == 4 and all(h is headers[0] for h in headers)
    assert "PixelData" not in headers[0]


def test_read_headers_follow_slice_order_without_pixels(tmp_path):
    ds = series(5)
    for i, d in enumerate(reversed(ds)):
        save(d, tmp_path / f"X{i}")
    stack = one_stack(tmp_path)
    headers = read_headers(stack)
    assert [h.SOPInstanceUID for h in headers] == [s.sop_instance_uid for s in stack.slices]
    assert all("PixelData" not in h for h in headers)


def test_zip_member_pixels(tmp_path):
    ds = series(3, seed=9)
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, d in enumerate(ds):
            zf.write(save(d, tmp_path / f"IM{i}", "rle"), f"D/IM{i}")
            (tmp_path / f"IM{i}").unlink()
    stack = one_stack(archive)
    loaded = load_stack(stack)
    assert loaded.pixels.shape == (3, 40, 36) and loaded.excluded == ()
    assert [h.SOPInstanceUID for h in read_headers(stack)] == [s.sop_instance_uid for s in stack.slices]


def _exclusions(tmp_path, mutate, n=4, syntax="explicit"):
    """Write a 4-slice series, let ``mutate(i, path)`` damage files after
    discovery, load, and return (loaded, reasons by instance index)."""
    ds = series(n)
    paths = [save(d, tmp_path / f"IM{i}", syntax) for i, d in enumerate(ds)]
    stack = one_stack(tmp_path)
    for i, p in enumerate(paths):
        mutate(i, p)
    loaded = load_stack(stack)
    uid_to_i = {d.SOPInstanceUID: i for i, d in enumerate(ds)}
    reasons = {uid_to_i[k]: r for k, r in loaded.excluded}
    return loaded, reasons


def test_truncated_pixel_data_is_excluded(tmp_path, caplog):
    def cut(i, p):
        if i == 1:
            p.write_bytes(p.read_bytes()[:-500])
    with caplog.at_level(logging.WARNING, logger="mri_measure"):
        loaded, reasons = _exclusions(tmp_path, cut)
    assert list(reasons) == [1] and "truncated" in reasons[1]
    assert loaded.pixels.shape[0] == 3
    assert "excluded" in caplog.text and str(tmp_path) not in caplog.text


def test_truncated_compressed_file_is_excluded(tmp_path):
    def cut(i, p):
        if i == 2:
            p.write_bytes(p.read_bytes()[:-300])
    loaded, reasons = _exclusions(tmp_path, cut, syntax="jpeg2000")
    assert list(reasons) == [2]
    assert loaded.pixels.shape[0] == 3


def test_header_truncated_file_is_excluded(tmp_path):
    """pydicom silently returns a near-empty dataset for this."""
    def cut(i, p):
        if i == 0:
            p.write_bytes(p.read_bytes()[:400])
    loaded, reasons = _exclusions(tmp_path, cut)
    assert list(reasons) == [0]


def test_garbage_replacing_a_file_is_excluded(tmp_path):
    def trash(i, p):
        if i == 3:
            p.write_bytes(np.random.default_rng(1).bytes(4000))
    loaded, reasons = _exclusions(tmp_path, trash)
    assert list(reasons) == [3]


def test_values_beyond_bits_stored_are_excluded(tmp_path):
    # pydicom masks these bits by default: the image would look valid but wrong
    ds = series(3)
    bad = np.frombuffer(ds[1].PixelData, np.uint16).reshape(40, 36).copy()
    bad[5, 5] = 60000
    ds[1].PixelData = bad.tobytes()
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    loaded = load_stack(one_stack(tmp_path))
    assert [k for k, _ in loaded.excluded] == [ds[1].SOPInstanceUID]
    assert "BitsStored" in loaded.excluded[0][1]


def test_absurd_matrix_is_rejected_before_decoding(tmp_path):
    ds = series(2)
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    stack = one_stack(tmp_path)
    for syntax in ("explicit", "rle"):
        victim = ds[0].copy()
        victim.Rows = victim.Columns = 65535
        save(victim, tmp_path / "IM0", "explicit")
        if syntax == "rle":  # a tiny compressed stream claiming a huge matrix
            raw = pydicom.dcmread(tmp_path / "IM0")
            raw.file_meta.TransferSyntaxUID = pydicom.uid.RLELossless
            raw.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64])
            raw.save_as(tmp_path / "IM0")
        loaded = load_stack(stack)
        (key, reason), = loaded.excluded
        assert key == ds[0].SOPInstanceUID
        assert "implausibly large" in reason or "differs from what discovery read" in reason


def test_absurd_matrix_is_left_out_at_discovery(tmp_path):
    ds = series(2)
    ds[0].Rows = ds[0].Columns = 65535  # header claims 8 GiB, file holds 2.9 kB
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    d = discover(tmp_path)
    assert sum(s.n_slices for st in d.studies for s in st.stacks) == 1
    assert any("implausible Rows/Columns" in w for w in d.warnings)


def test_large_matrix_with_tiny_pixel_data_fails_before_decoding(tmp_path):
    d = series(1)[0]
    d.Rows = d.Columns = 8192  # within header limits, but 128 MiB per frame
    save(d, tmp_path / "IM0")
    stack = one_stack(tmp_path)
    assert "field of view 5734" in stack.unusable  # discovery already refuses it …
    with pytest.raises(IntegrityError, match="field of view"):
        load_stack(stack)
    with pytest.raises(IntegrityError, match="implausibly large"):  # … and so does the load guard
        load_stack(dataclasses.replace(stack, unusable=None))


def test_constant_frame_is_excluded(tmp_path):
    ds = series(3)
    ds[0].PixelData = np.full((40, 36), 7, np.uint16).tobytes()
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    loaded = load_stack(one_stack(tmp_path))
    assert loaded.excluded == ((ds[0].SOPInstanceUID, "constant image (blank frame)"),)


def test_nan_float_pixels_are_excluded(tmp_path):
    ds = series(2)
    for d in ds:
        arr = np.frombuffer(d.PixelData, np.uint16).reshape(40, 36).astype(np.float32)
        del d.PixelData
        for kw in ("BitsStored", "HighBit", "PixelRepresentation"):
            delattr(d, kw)
        d.BitsAllocated = 32
        if d is ds[1]:
            arr[3, 3] = np.nan
        d.FloatPixelData = arr.tobytes()
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    loaded = load_stack(one_stack(tmp_path))
    assert loaded.excluded == ((ds[1].SOPInstanceUID, "NaN or infinite pixel values"),)
    assert loaded.pixels.shape == (1, 40, 36)


def test_geometry_changed_after_discovery_is_excluded(tmp_path):
    ds = series(3)
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    stack = one_stack(tmp_path)
    moved = ds[2].copy()
    moved.ImageOrientationPatient = list(tilted_axial(15.0))
    save(moved, tmp_path / "IM2")
    loaded = load_stack(stack)
    assert [k for k, _ in loaded.excluded] == [ds[2].SOPInstanceUID]
    assert "geometry" in loaded.excluded[0][1]


def test_slice_disagreeing_with_its_stack_is_excluded(tmp_path):
    ds = series(3)
    for i, d in enumerate(ds):
        save(d, tmp_path / f"IM{i}")
    stack = one_stack(tmp_path)
    import dataclasses

    alien = mr_slice(study_uid=ds[0].StudyInstanceUID, series_uid=ds[0].SeriesInstanceUID,
                     position=(0, 0, 50), orientation=tilted_axial(12.0), rows=40, cols=36)
    save(alien, tmp_path / "ALIEN")
    alien_info = [s for st in discover(tmp_path / "ALIEN").studies for s in st.stacks][0].slices[0]
    mixed = dataclasses.replace(stack, slices=stack.slices + (alien_info,))
    loaded = load_stack(mixed)
    assert loaded.excluded == ((alien.SOPInstanceUID, "geometry disagrees with its stack (matrix, spacing or orientation)"),)


def test_all_slices_bad_raises_integrity_error_one_line(tmp_path):
    ds = series(2)
    paths = [save(d, tmp_path / f"IM{i}") for i, d in enumerate(ds)]
    stack = one_stack(tmp_path)
    for p in paths:
        p.write_bytes(p.read_bytes()[:-1000])
    with pytest.raises(IntegrityError) as e:
        load_stack(stack)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path) not in msg and "none of its 2 image(s)" in msg


def test_deleted_file_is_excluded_not_crash(tmp_path):
    ds = series(3)
    paths = [save(d, tmp_path / f"IM{i}") for i, d in enumerate(ds)]
    stack = one_stack(tmp_path)
    paths[0].unlink()
    loaded = load_stack(stack)
    assert [k for k, _ in loaded.excluded] == [ds[0].SOPInstanceUID]
    with pytest.raises(IntegrityError):
        read_headers(stack)


def test_pydicom_warnings_during_load_are_redacted(tmp_path, caplog):
    d = series(2)
    # an unknown character set makes pydicom warn quoting the raw value
    for i, x in enumerate(d):
        x.SpecificCharacterSet = "ISO_IR 999"
        p = save(x, tmp_path / "DOE_JOHN" / f"IM{i}")
        raw = p.read_bytes()
        assert raw.count(b"ISO_IR 999") == 1
        p.write_bytes(raw.replace(b"ISO_IR 999", b"DOE^JOHN  "))
    with caplog.at_level(logging.DEBUG):
        stack = one_stack(tmp_path / "DOE_JOHN")
        load_stack(stack)
        read_headers(stack)
    assert "Unknown encoding" in caplog.text  # the warning did happen …
    assert "DOE" not in caplog.text  # … without the value or the path
    for v in PHI.values():
        assert v not in caplog.text


def test_pixel_pattern_is_within_bits():
    p = pattern_pixels(8, 8, 0, 12)
    assert p.max() < 4096 and p.min() >= 0 and np.ptp(p) > 0
