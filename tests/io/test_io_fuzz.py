"""Corrupted bytes never escape as anything but a typed error or an exclusion."""

from __future__ import annotations

import numpy as np
import pytest
from tests.io.dicom_factory import save, stack_of
from pydicom.uid import generate_uid

from mri_measure.errors import MriMeasureError
from mri_measure.io import discover, load_stack, read_headers


def _mutations(raw: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    out = [("truncate@150", raw[:150]), ("truncate@200", raw[:200])]  # inside the file meta
    for cut in rng.integers(1, len(raw), 12):
        out.append((f"truncate@{cut}", raw[:cut]))
    for _ in range(12):
        b = bytearray(raw)
        start = int(rng.integers(132, min(len(raw), 900)))
        b[start:start + 8] = rng.bytes(8)
        out.append((f"flip@{start}", bytes(b)))
    for _ in range(6):  # absurd element lengths inside the header
        b = bytearray(raw)
        start = int(rng.integers(132, min(len(raw), 900)))
        b[start:start + 4] = b"\xff\xff\xff\x7f"
        out.append((f"length@{start}", bytes(b)))
    return out


@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_corruption_is_typed_error_or_exclusion(tmp_path, syntax):
    ds = stack_of(2, study_uid=generate_uid(), series_uid=generate_uid(), rows=32, cols=32)
    good = save(ds[0], tmp_path / "good" / "A", syntax)
    save(ds[1], tmp_path / "good" / "B", syntax)
    raw = good.read_bytes()
    rng = np.random.default_rng(7 if syntax == "explicit" else 8)
    outcomes = set()
    for i, (what, data) in enumerate(_mutations(raw, rng)):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        (folder / "X").write_bytes(data)
        try:
            d = discover(folder)
            for st in d.studies:
                for stack in st.stacks:
                    loaded = load_stack(stack)
                    read_headers(stack)
                    assert loaded.pixels.shape[0] + len(loaded.excluded) == stack.n_slices, what
                    assert np.all(np.isfinite(loaded.pixels)), what
            outcomes.add("ok")
        except MriMeasureError as exc:
            assert "\n" not in str(exc) and str(tmp_path) not in str(exc), what
            outcomes.add(type(exc).__name__)
    assert "NoDicomError" in outcomes  # truncated inside the file meta: nothing usable
    assert "ok" in outcomes


def test_damaged_zip_is_a_typed_error(tmp_path):
    import zipfile

    ds = stack_of(2, study_uid=generate_uid(), series_uid=generate_uid())
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, d in enumerate(ds):
            zf.write(save(d, tmp_path / f"IM{i}"), f"IM{i}")
    raw = archive.read_bytes()
    for i, data in enumerate([raw[: len(raw) // 2], raw[:-10], raw[:40] + b"\0" * 200 + raw[240:]]):
        bad = tmp_path / f"bad{i}.zip"
        bad.write_bytes(data)
        try:
            d = discover(bad)
        except MriMeasureError as exc:
            assert "\n" not in str(exc) and str(tmp_path) not in str(exc)
            continue
        for st in d.studies:  # whatever survived must load or be excluded, never crash
            for stack in st.stacks:
                try:
                    load_stack(stack)
                except MriMeasureError:
                    pass
