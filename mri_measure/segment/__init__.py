"""mri_measure.segment."""
