"""Find the discs on a sagittal T2 stack (one module per stage).

:func:`find_discs` first asks the learned disc detector
(:mod:`mri_measure.segment.disc_detector`, post-processed by
:mod:`mri_measure.levels.learned`) on the mid-sagittal slice; where torch or
its bundle is missing or it sees no sacrum, the classical column analysis
(no model) answers instead. Classical steps, in millimetres on a grid
resampled from the DICOM geometry (pixel spacing and orientation come from the
headers, never assumed):

1. **canonical view** — each sagittal slice is resampled (1 mm grid) so that
   rows run head → feet (−z) and columns anterior → posterior (+y);
2. **canal** — the bright CSF tube (darker on both sides, tissue beyond) is
   tracked top to bottom by dynamic programming; the mid-sagittal slice is
   the middle of the run of near-central slices that show it well;
3. **column** — the image is straightened along the canal and the vertebral
   body band just anterior to it is summarised row by row into a disc-ness
   profile: edge energy across the band (endplates) + how far the band
   differs from the bodies around it (bright nucleus or dark degenerate
   disc). Only the part of the band inside the image counts, so a disc cut by
   the border of the field of view is still seen when most of its band is;
4. **size normalisation** — bodies and discs alternate, so the profile's
   autocorrelation gives the disc spacing (most negative at half of it). When
   it differs from a nominal adult column (40 mm), the slice is resampled so
   that it becomes nominal and the discs are chosen there (step 5): every
   length the choice uses is then relative to the patient's own vertebrae,
   whatever the body size — or the pixel spacing, when it is unknown. Each
   chosen disc goes back to the nearest profile peak of the 1 mm column, where
   its plane is fitted (step 6);
5. **discs and sacrum** — candidates are the profile's peaks at least half a
   spacing apart. Going down the column, the count ends where **the column
   ends at the sacrum**: once no *disc-like* band follows the last disc within
   1.6 spacings, that disc is L5-S1. Disc-like is measured in 2-D, relative to
   the discs already found: a disc runs across the whole vertebral body
   (band length along its own direction) and differs from the bone on both
   sides over its height (band mass); the remnant lines of the fused sacral
   segments are short (the sacrum narrows) and thin. Kept from before: a big
   gap, a faint band after a gap or a slope reversal also end the column, and
   a band sloping like the S1 endplate (≥ 37°) is the S1-S2 remnant when more
   disc-like column follows — unless it is itself disc-like with the column
   ending below it (a steep L5-S1), or a full, ordinary disc follows at a
   regular spacing (a sheared, slipped disc). Then the regular alternation is
   used twice: a band that splits one spacing into two short ones lies inside
   a body (dropped), and a gap of about two spacings hides a missed disc (the
   best profile maximum in its middle is added). The last disc is L5-S1 and
   the others are counted upward from it;
6. **plane** — each disc's orientation is the angle across which its band is
   sharpest, refined by a line through the mid-points between its two
   endplate edges; normals that disagree with both neighbours (a sheared,
   slipped disc) take their mean; centres map back to patient coordinates.

Validated on the synthetic phantom (exact truth) and on 21 real SPIDER slices
(``benchmarks/bench_levels_spider.py``: developed on one half, the other half
held out; also at several assumed pixel spacings); see benchmarks/RESULTS.md.

Modules: :mod:`.canonical` (step 1), :mod:`.canal` (2), :mod:`.profile` (3),
:mod:`.choose` (4, 5), :mod:`.band` (the disc band's shape and orientation,
used by 5 and 6), :mod:`.find` (the entry point, learned first, and 6);
every tuning constant is in :mod:`.constants`.
"""

from __future__ import annotations

from .canonical import CanonicalView, canonical_view
from .find import LUMBARISED_S1, SACRUM_NOT_IN_VIEW, DiscFinding, find_disc_levels, find_discs

__all__ = ["find_discs", "find_disc_levels", "DiscFinding", "SACRUM_NOT_IN_VIEW", "LUMBARISED_S1",
           "canonical_view", "CanonicalView"]
