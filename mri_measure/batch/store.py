"""Batch output folder: per-study results written atomically, done markers,
and the consolidated tables rebuilt from them.

Layout under ``OUT``::

    studies/<key>/measurements.json   the study's measurements (schema_version "1.1";
                                      a "1" document of an older run is read too)
    studies/<key>/DONE                JSON marker, written last: key, model sha256,
                                      software version, input fingerprint
    studies/<key>/ERROR.json          the last failure of this study (removed on success)
    studies/<key>/STORED.json         with --store-to: where its SEG/SR went (server as
                                      scheme://host:port, new series UIDs, instance counts)
    studies/<key>/STORE_ERROR.json    with --store-to: the last failure to store them
    reports/<key>/                    with --reports: the study's full output set, as
                                      ``measure --out`` writes it (measurements.json/.csv,
                                      report.html/.pdf, seg.dcm, sr.dcm)
    units/<key>/ERROR.json            an input unit (zip, folder) that could not be read
    results.parquet, results.csv      one row per (study, level), rebuilt from DONE studies
    errors.csv                        one row per failed study or unit (kind ``store``:
                                      measured, but its SEG/SR could not be stored)
    stored.csv                        with --store-to: one row per series stored

``<key>`` is opaque: the first 16 hex digits of the SHA-256 of the
StudyInstanceUID (or, for a unit, of its path relative to ROOT). Nothing in
this folder names a patient, a birth date or an input path.

Every file is written to a temporary name in the same folder and moved into
place with :func:`os.replace`; a study counts as done only once ``DONE`` is
there, and ``DONE`` is written after ``measurements.json`` (and after the study's
reports folder, which is filled in a hidden staging folder and renamed into
place whole). The tables are
rebuilt from scratch from the per-study files, so rebuilding is idempotent:
a run killed at any point and resumed ends with exactly one row per
(study, level).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..errors import InputError
from ..report.json_csv import LEVEL_COLUMNS, level_method_of, read_measurements

STUDIES_DIR = "studies"
UNITS_DIR = "units"
REPORTS_DIR = "reports"
MEASUREMENTS = "measurements.json"
DONE = "DONE"
ERROR = "ERROR.json"
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
ERRORS_CSV = "errors.csv"
STORED = "STORED.json"
STORE_ERROR = "STORE_ERROR.json"
STORED_CSV = "stored.csv"

#: Columns of results.parquet / results.csv, in order.
RESULT_COLUMNS = (
    "study_key",
    *LEVEL_COLUMNS,
    "n_slices_at_level",
    "n_warnings",
    "model_name",
    "model_sha256",
    "software_version",
)

ERROR_COLUMNS = ("key", "kind", "error_class", "message")
STORED_COLUMNS = ("study_key", "target", "modality", "series_instance_uid", "n_instances")

#: typed columns of the results table, derived from the shared level columns (units in the names)
_FLOAT_COLUMNS = tuple(c for c in LEVEL_COLUMNS if c.endswith(("_mm", "_mm2", "_confidence")))
_BOOL_COLUMNS = ("canal_narrowed", "lf_thickened", "meets_mild_imaging_criteria", "borderline")


def opaque_key(text: str) -> str:
    """A short stable key that reveals nothing about ``text``.

    >>> opaque_key("1.2.826.0.1.3680043.8.498.1")
    '6dadc91b850d6b88'
    >>> len(opaque_key("anything"))
    16
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(sop_keys: Iterable[str]) -> str:
    """SHA-256 over the sorted image keys of a study: changes when images are
    added to or removed from the study, so ``--resume`` redoes it."""
    h = hashlib.sha256()
    for k in sorted(set(sop_keys)):
        h.update(k.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace to one line and cap its length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def atomic_write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically (temporary file in the same folder + os.replace)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@dataclass(frozen=True)
class Identity:
    """What a done marker must match for ``--resume`` to skip a study."""

    model_sha256: str | None
    software_version: str

    def as_dict(self) -> dict[str, Any]:
        return {"model_sha256": self.model_sha256, "software_version": self.software_version}


class BatchStore:
    """The batch output folder (see the module docstring)."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.root = Path(out_dir)
        if self.root.exists() and not self.root.is_dir():
            from ..errors import OptionError

            raise OptionError("--out must be a folder (it exists as a file)")
        (self.root / STUDIES_DIR).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ per study
    def study_dir(self, key: str) -> Path:
        return self.root / STUDIES_DIR / key

    def read_done(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.study_dir(key) / DONE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def report_dir(self, key: str) -> Path:
        return self.root / REPORTS_DIR / key

    def is_done(self, key: str, identity: Identity, fingerprint: str | None = None,
                *, reports: bool = False, stored_to: str | None = None) -> bool:
        """True when ``key`` finished with this model and software (and, if
        given, the same set of input images) and its JSON is readable; with
        ``reports``, its reports folder must be there too; with ``stored_to``
        (``scheme://host:port`` of ``--store-to``), its SEG/SR must have been stored there."""
        if reports and not (self.report_dir(key) / MEASUREMENTS).is_file():
            return False
        if stored_to is not None and (self.read_stored(key) or {}).get("target") != stored_to:
            return False
        marker = self.read_done(key)
        if marker is None:
            return False
        if marker.get("model_sha256") != identity.model_sha256:
            return False
        if marker.get("software_version") != identity.software_version:
            return False
        if fingerprint is not None and marker.get("fingerprint") != fingerprint:
            return False
        return (self.study_dir(key) / MEASUREMENTS).is_file()

    def write_success(
        self, key: str, doc: Mapping[str, Any], identity: Identity, fingerprint: str,
        files: Mapping[str, bytes] | None = None,
    ) -> None:
        """The reports folder (``files``, if any), measurements.json, then the DONE
        marker; clears an old failure."""
        d = self.study_dir(key)
        # an older DONE must not vouch for the new JSON while it is being replaced,
        # nor an older STORED for results of this run not yet stored
        for name in (DONE, STORED, STORE_ERROR):
            try:
                (d / name).unlink()
            except FileNotFoundError:
                pass
        if files:
            self.write_reports(key, files)
        else:  # re-measured without --reports: an older report set would contradict the JSON
            shutil.rmtree(self.report_dir(key), ignore_errors=True)
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_text(d / MEASUREMENTS, text + "\n")
        marker = {"study_key": key, "fingerprint": fingerprint, **identity.as_dict()}
        atomic_write_text(d / DONE, json.dumps(marker, indent=2) + "\n")
        try:
            (d / ERROR).unlink()
        except FileNotFoundError:
            pass

    def write_reports(self, key: str, files: Mapping[str, bytes]) -> Path:
        """Replace ``reports/<key>/`` with ``files`` (name → bytes) whole: written
        into a hidden staging folder beside it, then renamed into place."""
        target = self.report_dir(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=target.parent))
        try:
            for name, data in files.items():
                if Path(name).name != name or name.startswith("."):
                    raise ValueError("a report file name must be a plain name")
                atomic_write_bytes(stage / name, data)
            os.chmod(stage, 0o777 & ~_umask())
            aside = None
            if target.exists():
                aside = target.parent / f".{key}.old-{os.getpid()}"
                os.rename(target, aside)
            os.rename(stage, target)
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return target

    def read_stored(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.study_dir(key) / STORED).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def write_stored(self, key: str, target: str, series: Sequence[Mapping[str, Any]]) -> None:
        """What ``--store-to`` stored for a done study (written after its DONE)."""
        d = self.study_dir(key)
        doc = {"study_key": key, "target": target, "series": [dict(s) for s in series]}
        atomic_write_text(d / STORED, json.dumps(doc, indent=2) + "\n")
        try:
            (d / STORE_ERROR).unlink()
        except FileNotFoundError:
            pass

    def write_store_failure(self, key: str, target: str, error_class: str, message: str) -> None:
        doc = {"key": key, "kind": "store", "target": target, "error_class": error_class,
               "message": one_line(message)}
        atomic_write_text(self.study_dir(key) / STORE_ERROR, json.dumps(doc, indent=2) + "\n")

    def write_failure(self, key: str, error_class: str, message: str, *, kind: str = "study") -> None:
        base = self.root / (STUDIES_DIR if kind == "study" else UNITS_DIR) / key
        doc = {"key": key, "kind": kind, "error_class": error_class, "message": one_line(message)}
        atomic_write_text(base / ERROR, json.dumps(doc, indent=2) + "\n")

    # ------------------------------------------------------------------ consolidation
    def done_keys(self) -> list[str]:
        base = self.root / STUDIES_DIR
        return sorted(p.parent.name for p in base.glob(f"*/{DONE}"))

    def iter_done(self) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(key, DONE marker, measurements dict) of every done study, by key."""
        for key in self.done_keys():
            marker = self.read_done(key)
            try:  # version 1 (an older run resumed) or 1.x
                doc = read_measurements(self.study_dir(key) / MEASUREMENTS)
            except InputError:
                continue  # cannot happen with the write order above; never guess
            if marker is not None:
                yield key, marker, doc

    def result_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key, marker, doc in self.iter_done():
            rows.extend(rows_for_study(key, doc, marker))
        return rows

    def error_rows(self) -> list[dict[str, Any]]:
        rows = []
        done = set(self.done_keys())
        for kind, sub in (("study", STUDIES_DIR), ("unit", UNITS_DIR)):
            for p in sorted((self.root / sub).glob(f"*/{ERROR}")):
                if kind == "study" and p.parent.name in done:
                    continue
                try:
                    doc = json.loads(p.read_text(encoding="utf-8"))
                except ValueError:
                    continue
                rows.append({c: doc.get(c, "") for c in ERROR_COLUMNS})
        for key in sorted(done):  # measured, but the SEG/SR could not be stored
            try:
                doc = json.loads((self.study_dir(key) / STORE_ERROR).read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                continue
            rows.append({c: doc.get(c, "") for c in ERROR_COLUMNS})
        return rows

    def stored_rows(self) -> list[dict[str, Any]]:
        rows = []
        for key in self.done_keys():
            doc = self.read_stored(key)
            for s in (doc or {}).get("series", ()):
                rows.append({"study_key": key, "target": doc.get("target"), **s})
        return rows

    def consolidate(self) -> tuple[int, int]:
        """Rebuild results.parquet, results.csv and errors.csv from the per-study
        files; returns (number of result rows, number of error rows)."""
        rows = self.result_rows()
        errors = self.error_rows()
        write_results(rows, self.root / RESULTS_PARQUET, self.root / RESULTS_CSV)
        write_csv(errors, ERROR_COLUMNS, self.root / ERRORS_CSV)
        stored = self.stored_rows()
        if stored or (self.root / STORED_CSV).exists():
            write_csv(stored, STORED_COLUMNS, self.root / STORED_CSV)
        return len(rows), len(errors)


def rows_for_study(key: str, doc: Mapping[str, Any], marker: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per level of a study's measurements.json; a study in which no
    slice could be given a level gets one row with ``level`` empty, so every
    done study appears in the table."""
    model = doc.get("model") or {}
    common = {
        "study_key": key,
        "n_warnings": len(doc.get("warnings") or ()),
        "model_name": model.get("name"),
        "model_sha256": marker.get("model_sha256"),
        "software_version": marker.get("software_version"),
    }
    levels: Sequence[Mapping[str, Any]] = doc.get("levels") or ()
    if not levels:
        return [{**{c: None for c in RESULT_COLUMNS}, **common}]
    rows = []
    for lv in levels:
        row = {c: lv.get(c) for c in RESULT_COLUMNS}
        row.update(common)
        row["level_method"] = level_method_of(lv)  # a version-1 document: from level_source
        row["borderline_reasons"] = ";".join(lv.get("borderline_reasons") or ())
        row["n_slices_at_level"] = len(lv.get("slice_sop_instance_uids") or ())
        rows.append(row)
    return rows


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in columns])
    return atomic_write_text(path, buf.getvalue())


def write_results(rows: Sequence[Mapping[str, Any]], parquet_path: Path, csv_path: Path) -> None:
    """results.parquet (typed columns) and results.csv, both atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            (
                c,
                pa.float64()
                if c in _FLOAT_COLUMNS
                else pa.bool_()
                if c in _BOOL_COLUMNS
                else pa.int64()
                if c in ("n_slices_at_level", "n_warnings")
                else pa.string(),
            )
            for c in RESULT_COLUMNS
        ]
    )
    table = pa.Table.from_pylist([{c: r.get(c) for c in RESULT_COLUMNS} for r in rows], schema=schema)
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{parquet_path.name}.", suffix=".tmp", dir=parquet_path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, parquet_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    write_csv(rows, RESULT_COLUMNS, csv_path)
