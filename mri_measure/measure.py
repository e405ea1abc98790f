"""mri_measure.measure (under construction)."""
