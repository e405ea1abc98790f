"""Training, calibration and evaluation of the segmentation networks (torch in
some modules), kept apart from the runtime in :mod:`mri_measure.segment` as
nnU-Net keeps ``training/`` apart from ``inference/``.

- :mod:`~mri_measure.training.train` — ``mri-measure train`` (axial two-stage U-Net);
- :mod:`~mri_measure.training.calibrate` — per-class logit offsets of a bundle;
- :mod:`~mri_measure.training.evaluate` — ``mri-measure evaluate`` (metrics, tables, plots);
- :mod:`~mri_measure.training.disc_train` — ``mri-measure train-discs`` (sagittal disc detector);
- :mod:`~mri_measure.training.data`, :mod:`~mri_measure.training.user_cases`,
  :mod:`~mri_measure.training.disc_data` — training pairs and user cases (numpy only);
- :mod:`~mri_measure.training.losses`, :mod:`~mri_measure.training.metrics`.

Input preprocessing is shared with the runtime through
:mod:`mri_measure.segment.preprocess`; nothing in :mod:`mri_measure.segment`
imports this package.
"""
