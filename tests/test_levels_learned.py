"""From disc-detector probabilities to discs counted from the sacrum (numpy only)."""

from __future__ import annotations

import numpy as np

from mri_measure.levels.learned import DISC, SACRUM, VERTEBRA, discs_from_probabilities

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
