"""Second, independent synthetic axial lumbar T2 generator (issue 18).

Training never imports this package (it lives under ``benchmarks/``); it
shares no code with ``mri_measure.synth`` or ``mri_measure.training``.

- :mod:`.shapes` — star-shaped spline outlines and variable-radius swept bands;
- :mod:`.texture` — spectral fractal noise, coil-array bias, Rician noise;
- :mod:`.anatomy` — one disc level's random anatomy (3-D, anatomy frame);
- :mod:`.phantom` — render a (tilted, thick) slice with exact truth.
"""
