"""mri_measure.levels (under construction)."""
