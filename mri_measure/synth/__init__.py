"""mri_measure.synth."""
