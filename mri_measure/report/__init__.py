"""mri_measure.report."""
