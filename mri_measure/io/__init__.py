"""mri_measure.io."""
