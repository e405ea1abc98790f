"""``fetch_study(on_instance=)``: progress per instance against the real Orthanc, and
an exception raised there (a GUI's Cancel) stops the retrieval and comes back as it
is — not as a one-line DicomwebError."""

from __future__ import annotations

import pytest

from tests.dicomweb.orthanc import PASSWORD, USER


class Stop(Exception):
    pass


def test_on_instance_reports_progress_and_its_exception_stops_the_fetch(orthanc, sample_on_pacs, tmp_path):
    from mri_measure.io.dicomweb import Connection, fetch_study
    from mri_measure.pipeline import needed_series

    conn = Connection(orthanc.dicomweb, user=USER, password=PASSWORD)
    calls: list[tuple[int, int | None]] = []
    (tmp_path / "all").mkdir()
    report = fetch_study(conn, sample_on_pacs, tmp_path / "all", select=needed_series,
                         on_instance=lambda done, expected: calls.append((done, expected)))
    assert report.n_instances == 30 and len(list((tmp_path / "all").iterdir())) == 30
    assert [d for d, _ in calls] == list(range(1, 31)) and {e for _, e in calls} == {30}

    def stop_after_3(done: int, expected: int | None) -> None:
        if done >= 3:
            raise Stop()

    (tmp_path / "part").mkdir()
    with pytest.raises(Stop):
        fetch_study(conn, sample_on_pacs, tmp_path / "part", select=needed_series, workers=1,
                    on_instance=stop_after_3)
    assert len(list((tmp_path / "part").iterdir())) == 3  # one worker: it stopped at once
