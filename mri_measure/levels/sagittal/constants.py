"""Tuning constants of the classical sagittal disc finder, in one place.

Lengths are millimetres on the canonical grid (:data:`GRID_MM` per pixel);
ratios are relative to the discs already found on the same column, so they
hold whatever the body size. Grouped by the stage that uses them (see
:mod:`mri_measure.levels.sagittal`). Values were tuned on the synthetic
phantom and on the development half of the SPIDER slices
(``benchmarks/bench_levels_spider.py``); changing one changes the levels
found — re-run that benchmark.
"""

from __future__ import annotations

from ..names import LEVELS_FROM_SACRUM

# ---------------------------------------------------------------- naming
#: Names exist for this many discs above the sacrum (L5-S1 … T1-T2).
N_NAMED = len(LEVELS_FROM_SACRUM)

# ---------------------------------------------------------------- 1. canonical view
#: Millimetres per canonical pixel (before any size normalisation).
GRID_MM = 1.0

# ---------------------------------------------------------------- 2. canal
#: The straightening follows the canal smoothed at this scale (mm).
PATH_SMOOTH_MM = 10.0
#: The mid-sagittal slice is looked for this close (mm) to the stack centre.
MID_RADIUS_MM = 10.0

# ---------------------------------------------------------------- 3. column profile
#: A row of the column counts when this share of its body band is inside the image.
BAND_INSIDE = 0.6
#: Between two discs the profile falls below this fraction of the weaker one
#: (otherwise the weaker peak is a shoulder, not a disc).
DIP = 0.7

# ---------------------------------------------------------------- 4. size normalisation
#: Adult lumbar disc spacing (centre to centre, mm); also the default spacing.
NOMINAL_PERIOD_MM = 40.0
#: The size normalisation stays within 1/1.6 … 1.6.
MAX_RESCALE = 1.6
#: Columns within ±3 % of nominal are not resampled.
RESCALE_TOL = 0.03
#: A disc chosen on the resampled column moves to the 1 mm profile's peak this close (mm).
SNAP_MM = 4

# ---------------------------------------------------------------- 5. discs and sacrum
#: Discs closer than this (mm) are one disc (less when the column's spacing is small).
MIN_SPACING_MM = 18
#: Ignore responses this close (mm) to the very ends of the tracked canal.
EDGE_MARGIN_MM = 3
#: A band whose length × mass is under this × the median disc's is not disc-like…
ENDS_LIKE = 0.5
#: …and one over this × is a full, ordinary disc…
ORDINARY_LIKE = 0.75
#: …and when no disc-like band follows a disc within this many spacings, the column ends.
ENDS_WINDOW = 1.6
#: A missed disc is filled in (when ``FILL``) where two discs are FILL_MIN…FILL_MAX
#: local spacings apart, at a profile maximum of at least FILL_FLOOR × the reference.
FILL, FILL_MIN, FILL_MAX, FILL_FLOOR = True, 1.65, 2.6, 0.25
#: Two consecutive spacings both shorter than this × the period: a band inside a body.
SPLIT_SHORT = 0.7
#: A "disc" sloping more than this (degrees, like the S1 endplate) lies in the sacrum (S1-S2).
SACRAL_SLOPE_STOP_DEG = 37.0
#: A spacing this many times the median ends the column (past the sacrum).
GAP_STOP = 2.6
#: In the lower column, a band weaker than this × the median disc is noise.
WEAK_LOW = 0.6
#: A band this faint (× the median disc) after a gap this long (× the spacing) lies below the sacrum.
FAINT, FAINT_GAP = 0.65, 1.45
#: A slope this much (degrees) above the previous disc's is a reversal: past the sacrum.
REVERSAL_DEG = 25.0
#: Any band this strong (× the median disc) below a steep one means the column goes on.
BELOW_FLOOR = 0.15

# ---------------------------------------------------------------- 6. plane
#: The disc centre lies this far (mm) anterior of the canal centre.
DISC_OFFSET_MM = 28.0
