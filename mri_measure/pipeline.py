"""mri_measure.pipeline (under construction)."""
