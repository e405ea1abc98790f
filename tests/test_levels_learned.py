"""From disc-detector probabilities to discs counted from the sacrum (numpy only)."""

from __future__ import annotations

import numpy as np

from mri_measure.levels.learned import DISC, SACRUM, VERTEBRA, discs_from_probabilities, read_column

BG = 0


def _maps(shape=(200, 120)) -> np.ndarray:
    return np.zeros(shape, np.int64)


def _prob(label: np.ndarray) -> np.ndarray:
    p = np.zeros((4,) + label.shape, np.float32)
    for k in range(4):
        p[k] = label == k
    return 0.9 * p + 0.025  # soft, still summing to 1


def _column(label: np.ndarray, n_discs: int, top: int = 10, body: int = 18, disc: int = 6) -> list[int]:
    """Bodies and discs down a straight column, the sacrum below; disc centre rows."""
    rows, r = [], top
    for _ in range(n_discs):
        label[r : r + body, 30:80] = VERTEBRA
        r += body
        label[r : r + disc, 30:80] = DISC
        rows.append(r + disc / 2 - 0.5)
        r += disc
    label[r : r + 40, 30:80] = SACRUM
    return rows


def test_counts_every_disc_down_to_the_sacrum():
    label = _maps()
    rows = _column(label, 6)
    got = discs_from_probabilities(_prob(label), grid_mm=1.5)
    assert [round(d.centre_px[0], 1) for d in got] == rows
    d = got[-1]
    assert abs(d.height_mm - 6 * 1.5) < 0.5 and abs(d.length_mm - 50 * 1.5) < 2
    assert abs(abs(d.normal_px[0]) - 1.0) < 1e-6 and d.normal_px[0] > 0  # along the column, to the feet


def test_no_sacrum_no_answer():
    label = _maps()
    _column(label, 5)
    label[label == SACRUM] = BG
    assert discs_from_probabilities(_prob(label), grid_mm=1.5) is None


def test_a_remnant_taken_for_a_disc_below_l5_s1_is_dropped():
    label = _maps()
    rows = _column(label, 5)
    sac_top = int(np.nonzero((label == SACRUM).any(1))[0].min())
    label[sac_top + 15 : sac_top + 18, 40:70] = DISC  # inside the sacrum
    got = discs_from_probabilities(_prob(label), grid_mm=1.5)
    assert [round(d.centre_px[0], 1) for d in got] == rows


def test_a_disc_in_two_pieces_is_one_and_a_blob_off_the_column_is_none():
    label = _maps()
    rows = _column(label, 5)
    r = int(rows[2])
    label[r - 2 : r + 3, 54:57] = VERTEBRA  # a cleft splits the middle disc side by side
    label[60:70, 100:112] = DISC  # bright bowel far from any bone
    got = discs_from_probabilities(_prob(label), grid_mm=1.5)
    assert len(got) == 5
    assert all(d.centre_px[1] < 90 for d in got)


def test_specks_are_not_discs():
    label = _maps()
    rows = _column(label, 5)
    label[int(rows[1]) + 8, 50] = DISC  # one pixel inside a body
    got = discs_from_probabilities(_prob(label), grid_mm=1.5)
    assert len(got) == 5


# ------------------------------------------------------------------ is the sacrum really seen (issue 20)


def _cut_column(sacrum_rows: int, below_rows: int, n_discs: int = 6) -> tuple[np.ndarray, float]:
    """A column whose image ends ``below_rows`` under the lowest disc's centre, with
    ``sacrum_rows`` rows of it labelled sacrum; the disc spacing is 24 px."""
    label = _maps((400, 120))
    rows = _column(label, n_discs)
    label[label == SACRUM] = BG
    end = int(rows[-1] + 0.5) + below_rows
    top = int(rows[-1] + 3.5)
    label[top : top + sacrum_rows, 30:80] = SACRUM
    return label[:end], rows[-1]


def test_a_sacrum_label_smaller_than_an_s1_body_is_not_a_sacrum_in_view():
    # 1.46 spacings of image below L5-S1 (the room rule alone, 1.2, would name it), but
    # only 6 rows labelled sacrum: the part of a lumbar body left by a cut
    label, _ = _cut_column(sacrum_rows=6, below_rows=35)
    assert read_column(_prob(label), 1.5).sacrum == "not_in_view"
    assert read_column(_prob(label), 1.5, check_view=False).discs is not None  # the old answer
    # the same small label with much image below: the detector missed most of the sacrum
    label, _ = _cut_column(sacrum_rows=6, below_rows=60)
    assert read_column(_prob(label), 1.5).sacrum == "seen"


def test_a_sacrum_cut_by_the_lower_edge_needs_more_room():
    label, _ = _cut_column(sacrum_rows=80, below_rows=35)  # big, but reaches the edge: 1.46 spacings
    assert read_column(_prob(label), 1.5).sacrum == "not_in_view"
    label, _ = _cut_column(sacrum_rows=80, below_rows=45)  # 1.9 spacings: S1 and S2 in view
    assert read_column(_prob(label), 1.5).sacrum == "seen"
    # NaN below the slice (``inside`` False): the edge of the view, not of the array
    label2 = np.pad(_cut_column(sacrum_rows=80, below_rows=35)[0], ((0, 12), (0, 0)))
    inside2 = np.ones(label2.shape, bool)
    inside2[-12:] = False
    assert read_column(_prob(label2), 1.5, inside2).sacrum == "not_in_view"


def test_a_column_on_no_sacrum_reports_the_room_below_it_and_the_finder_names_nothing():
    from mri_measure.levels.sagittal.find import _cut_above_sacrum
    from mri_measure.levels.sagittal.fuse import SliceColumn

    short, _ = _cut_column(sacrum_rows=0, below_rows=12)
    col = read_column(_prob(short), 1.5)
    assert col.discs is None and col.sacrum == "no_discs" and col.room is not None and col.room < 1.0
    tall, _ = _cut_column(sacrum_rows=0, below_rows=70)
    room_tall = read_column(_prob(tall), 1.5).room
    assert room_tall is not None and room_tall > 2.5
    assert _cut_above_sacrum([SliceColumn(0.0, "no_discs", room=col.room)])
    assert not _cut_above_sacrum([SliceColumn(0.0, "no_discs", room=room_tall)])  # may ask the classical
    assert not _cut_above_sacrum([SliceColumn(0.0, "no_discs")])  # hardly any discs: a failed detector
    seen = SliceColumn(3.0, "seen", [((3, 0, 0), (0, 0, 1), 9.0)])
    assert not _cut_above_sacrum([SliceColumn(0.0, "no_discs", room=col.room), seen])


def test_two_discs_joined_across_a_collapsed_body_are_two():
    label = _maps((260, 120))
    rows = _column(label, 7)
    a, b = int(rows[3] - 2.5), int(rows[4] + 3.5)  # disc 3, the body below it and disc 4
    label[a:b, 30:80] = DISC  # one region labelled disc, five times a disc's height
    got = discs_from_probabilities(_prob(label), grid_mm=1.5)
    assert len(got) == 7
    centres = [d.centre_px[0] for d in got]
    assert np.allclose(centres[:3], rows[:3]) and np.allclose(centres[5:], rows[5:])
    assert abs(centres[3] - rows[3]) < 7 and abs(centres[4] - rows[4]) < 7  # the halves' centres
