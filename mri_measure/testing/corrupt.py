"""Seeded generator of broken inputs made from valid synthetic studies.

Each corruption takes the bytes (or the parsed dataset) of one valid DICOM
file and returns a damaged version. ``make_broken_case`` copies a clean CD,
damages one or more of its files and records what was done, so a harness can
check that the tool answers with a typed error or a correct result.

Used by ``tests/hardening`` (a seeded subset) and by
``benchmarks/bench_robustness.py`` (the full run of ≥ 2,000 cases).
"""

from __future__ import annotations

import io
import random
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence


@dataclass(frozen=True)
class BrokenCase:
    kind: str
    root: Path  # what to hand to the tool (a CD folder, a zip, a file)
    damaged: tuple[str, ...]  # SOPInstanceUIDs of damaged images (may be empty)
    note: str = ""


# --------------------------------------------------------------------------- byte level


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def flip_header_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    end = min(len(b), 132 + 1500)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(132, end)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def flip_pixel_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    start = max(132, len(b) - len(b) // 2)
    for _ in range(rng.randint(1, 32)):
        i = rng.randrange(start, len(b))
        b[i] = rng.randrange(256)
    return bytes(b)


def garbage_file(data: bytes, rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 4096)))


def dicm_then_garbage(data: bytes, rng: random.Random) -> bytes:
    return b"\0" * 128 + b"DICM" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 2048)))


# --------------------------------------------------------------------------- dataset level


def _rewrite(data: bytes, edit: Callable[[Dataset], None]) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    edit(ds)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def absurd_rows_cols(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        ds.Rows = 65535
        ds.Columns = 65535

    return _rewrite(data, edit)


def absurd_bits_allocated(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        ds.BitsAllocated = rng.choice([0, 1, 7, 64, 255])

    return _rewrite(data, edit)


def values_beyond_bits_stored(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        if "PixelData" not in ds or ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.BitsStored = 4
            return
        arr = ds.pixel_array.copy()
        arr[arr.shape[0] // 2 :, :] = 2 ** int(ds.BitsStored) + 100 if int(ds.BitsStored) < 16 else arr[0, 0]
        ds.BitsStored = min(int(ds.BitsStored), 12)
        ds.HighBit = ds.BitsStored - 1
        ds.PixelData = arr.astype(arr.dtype).tobytes()

    return _rewrite(data, edit)


def _bad_values(rng: random.Random, n: int) -> list[str]:
    choice = rng.choice(["nan", "inf", "garbage", "empty", "zero", "negative", "short"])
    if choice == "nan":
        return ["NaN"] * n
    if choice == "inf":
        return ["Infinity"] * n
    if choice == "garbage":
        return ["abc"] * n
    if choice == "zero":
        return ["0"] * n
    if choice == "negative":
        return ["-0.7"] * n
    if choice == "short":
        return ["1"]
    return []


def _set_raw(ds: Dataset, keyword: str, values: list[str]) -> None:
    tag = pydicom.datadict.tag_for_keyword(keyword)
    if not values:
        if keyword in ds:
            del ds[keyword]
        return
    raw = "\\".join(values).encode()
    if len(raw) % 2:
        raw += b" "
    ds[tag] = pydicom.dataelem.RawDataElement(tag, "DS", len(raw), raw, 0, False, True)


def bad_pixel_spacing(data: bytes, rng: random.Random) -> bytes:
    return _rewrite(data, lambda ds: _set_raw(ds, "PixelSpacing", _bad_values(rng, 2)))


def bad_position(data: bytes, rng: random.Random) -> bytes:
    return _rewrite(data, lambda ds: _set_raw(ds, "ImagePositionPatient", _bad_values(rng, 3)))


def bad_orientation(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        if rng.random() < 0.3:
            ds.ImageOrientationPatient = [1, 0, 0, 1, 0, 0]  # degenerate: row == column
        else:
            _set_raw(ds, "ImageOrientationPatient", _bad_values(rng, 6))

    return _rewrite(data, edit)


def wrong_vr_length(data: bytes, rng: random.Random) -> bytes:
    """Overwrite the 4-byte length of a random explicit-VR element with garbage."""
    b = bytearray(data)
    # find 'DS', 'US', 'UI', 'LO' VR markers in the header region and damage the length
    region = bytes(b[132 : min(len(b), 132 + 2000)])
    spots = [i for vr in (b"DS", b"US", b"UI", b"LO", b"IS", b"CS") for i in _find_all(region, vr)]
    if not spots:
        return flip_header_bytes(data, rng)
    i = 132 + rng.choice(spots)
    if rng.random() < 0.5:
        b[i : i + 2] = rng.choice([b"SQ", b"OB", b"UN", b"FD", b"XX"])
    else:
        b[i + 2 : i + 4] = rng.randrange(65536).to_bytes(2, "little")
    return bytes(b)


def _find_all(hay: bytes, needle: bytes) -> list[int]:
    out, start = [], 0
    while True:
        i = hay.find(needle, start)
        if i < 0:
            return out
        out.append(i)
        start = i + 1


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        depth = rng.choice([20, 40, 60])  # pydicom writes up to ~100 levels; deeper overflows its writer
        inner = Dataset()
        inner.CodeValue = "X"
        for _ in range(depth):
            outer = Dataset()
            outer.ReferencedImageSequence = DicomSequence([inner])
            inner = outer
        ds.ReferencedImageSequence = DicomSequence([inner])

    return _rewrite(data, edit)


def corrupt_codestream(data: bytes, rng: random.Random) -> bytes:
    """Damage the encapsulated codestream (compressed syntaxes) or pixel bytes."""
    b = bytearray(data)
    for marker in (b"\xff\xd8", b"\xff\x4f\xff\x51"):  # JPEG SOI, JPEG 2000 SOC+SIZ
        i = bytes(b).find(marker)
        if i >= 0:
            for _ in range(rng.randint(4, 64)):
                j = rng.randrange(i, len(b))
                b[j] = rng.randrange(256)
            return bytes(b)
    return flip_pixel_bytes(data, rng)


def constant_frame(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        arr = np.full_like(ds.pixel_array, rng.choice([0, 100]))
        ds.PixelData = arr.tobytes()

    return _rewrite(data, edit)


def shifted_geometry(data: bytes, rng: random.Random) -> bytes:
    """A slice whose position disagrees with its neighbours (moved 37 mm in-plane)."""

    def edit(ds: Dataset) -> None:
        ipp = [float(v) for v in ds.ImagePositionPatient]
        ipp[0] += 37.0
        ds.ImagePositionPatient = ipp

    return _rewrite(data, edit)


def inconsistent_spacing(data: bytes, rng: random.Random) -> bytes:
    def edit(ds: Dataset) -> None:
        r, c = (float(v) for v in ds.PixelSpacing)
        f = rng.choice([0.5, 1.5, 2.0])
        ds.PixelSpacing = [r * f, c * f]

    return _rewrite(data, edit)


FILE_CORRUPTIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": truncate,
    "flip_header_bytes": flip_header_bytes,
    "flip_pixel_bytes": flip_pixel_bytes,
    "garbage_file": garbage_file,
    "dicm_then_garbage": dicm_then_garbage,
    "absurd_rows_cols": absurd_rows_cols,
    "absurd_bits_allocated": absurd_bits_allocated,
    "values_beyond_bits_stored": values_beyond_bits_stored,
    "bad_pixel_spacing": bad_pixel_spacing,
    "bad_position": bad_position,
    "bad_orientation": bad_orientation,
    "wrong_vr_length": wrong_vr_length,
    "deep_nesting": deep_nesting,
    "corrupt_codestream": corrupt_codestream,
    "constant_frame": constant_frame,
    "shifted_geometry": shifted_geometry,
    "inconsistent_spacing": inconsistent_spacing,
}

#: Corruptions after which the damaged slice must not be measured as if nothing happened.
MUST_EXCLUDE_OR_FAIL = {
    "truncate",
    "garbage_file",
    "dicm_then_garbage",
    "absurd_rows_cols",
    "absurd_bits_allocated",
    "values_beyond_bits_stored",
    "bad_pixel_spacing",
    "bad_position",
    "bad_orientation",
    "constant_frame",
    "shifted_geometry",
    "inconsistent_spacing",
    "duplicate_uid_different_pixels",  # which copy is right is unknowable: neither is measured
}


def dicom_files(cd: Path) -> list[Path]:
    return sorted(p for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR")


def axial_files(cd: Path) -> list[Path]:
    out = []
    for p in dicom_files(cd):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        iop = [float(v) for v in ds.ImageOrientationPatient]
        normal = np.cross(iop[:3], iop[3:])
        if abs(normal[2]) > 0.7:
            out.append(p)
    return out


def make_broken_case(clean_cd: Path, workdir: Path, rng: random.Random, kind: str | None = None,
                     *, targets: list[Path] | None = None) -> BrokenCase:
    """Copy ``clean_cd`` into ``workdir`` and damage it with one corruption kind."""
    kind = kind or rng.choice(sorted(FILE_CORRUPTIONS) + ["duplicate_uid_different_pixels"])
    dst = workdir / "CD"
    shutil.copytree(clean_cd, dst)
    rel = [p.relative_to(clean_cd) for p in (targets or axial_files(clean_cd))]
    if kind == "duplicate_uid_different_pixels":
        a, b = rng.sample(rel, 2)
        ds_a = pydicom.dcmread(dst / a)
        ds_b = pydicom.dcmread(dst / b)
        ds_b.SOPInstanceUID = ds_a.SOPInstanceUID
        ds_b.file_meta.MediaStorageSOPInstanceUID = ds_a.SOPInstanceUID
        ds_b.save_as(dst / b)
        return BrokenCase(kind, dst, (str(ds_a.SOPInstanceUID),))
    victim = rng.choice(rel)
    original = (dst / victim).read_bytes()
    uid = str(pydicom.dcmread(io.BytesIO(original), stop_before_pixels=True).SOPInstanceUID)
    damaged = FILE_CORRUPTIONS[kind](original, rng)
    (dst / victim).write_bytes(damaged)
    uids = {uid}
    try:  # the damage may have changed the UID itself: the file now claims another one
        uids.add(str(pydicom.dcmread(io.BytesIO(damaged), stop_before_pixels=True, force=True).SOPInstanceUID))
    except Exception:
        pass
    return BrokenCase(kind, dst, tuple(sorted(uids)))


# --------------------------------------------------------------------------- containers


def zip_with_traversal(clean_cd: Path, workdir: Path) -> BrokenCase:
    z = workdir / "traversal.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in dicom_files(clean_cd):
            zf.write(p, p.relative_to(clean_cd).as_posix())
        zf.writestr("../../escaped_by_zip.txt", b"should never be written")
        zf.writestr("/tmp/absolute_by_zip.txt", b"should never be written")
    return BrokenCase("zip_traversal", z, ())


def zip_bomb(workdir: Path, size_mb: int = 2048) -> BrokenCase:
    """A small zip whose member inflates to ``size_mb`` MB of zeros."""
    z = workdir / "bomb.zip"
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("IM0001", "w", force_zip64=True) as f:
            for _ in range(size_mb):
                f.write(chunk)
    return BrokenCase("zip_bomb", z, ())


def symlink_loop(clean_cd: Path, workdir: Path) -> BrokenCase:
    dst = workdir / "CD"
    shutil.copytree(clean_cd, dst)
    (dst / "loop").symlink_to(dst, target_is_directory=True)
    (dst / "a").mkdir()
    (dst / "a" / "b").symlink_to(dst / "a", target_is_directory=True)
    return BrokenCase("symlink_loop", dst, ())


def dicomdir_pointing_outside(clean_cd: Path, workdir: Path) -> BrokenCase:
    """DICOMDIR whose first image record references ../../etc/passwd-like IDs."""
    dst = workdir / "CD"
    shutil.copytree(clean_cd, dst)
    dd = dst / "DICOMDIR"
    if dd.exists():
        ds = pydicom.dcmread(dd)
        for rec in ds.DirectoryRecordSequence:
            if "ReferencedFileID" in rec:
                rec.ReferencedFileID = ["..", "..", "..", "etc", "passwd"]
                break
        ds.save_as(dd, enforce_file_format=False)
    return BrokenCase("dicomdir_outside_root", dst, ())


def junk_folder(workdir: Path, n: int = 10_000, rng: random.Random | None = None) -> BrokenCase:
    rng = rng or random.Random(0)
    dst = workdir / "junk"
    dst.mkdir()
    for i in range(n):
        (dst / f"f{i:05d}").write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
    return BrokenCase("junk_folder", dst, ())
