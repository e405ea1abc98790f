"""mri_measure.batch (under construction)."""
