"""Write the tptbox slices that are *not* evaluation slices as sac-only training cases.

    PYTHONPATH=. python benchmarks/real_refs/export_training_cases.py --out DIR

One ``tptbox_k<k>.npz`` per slice in the ``mri-measure train --user-cases``
format (:mod:`mri_measure.training.data`): the axial slice as cut by
``volumes.py``, label 1 = dural sac (tptbox's automatic labels 60 + 61),
``spacing_mm`` and ``orientation`` from the NIfTI header, and
``lf_annotated = False`` — the ligamentum flavum is not labelled, so training
learns only sac against the rest from these slices. Evaluation slices
(:func:`benchmarks.real_refs.eval_slices`) are never written; after a fine-tune
on these cases the tptbox rows of ``bench_real.py`` are same-subject figures,
the sct rows stay independent. Needs ``../shared/data``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.real_refs import eval_slices, training_cases  # noqa: E402


def export(out: Path) -> list[int]:
    tc = training_cases()
    assert not set(int(k) for k in tc["k"]) & set(eval_slices()["tptbox"])
    out.mkdir(parents=True, exist_ok=True)
    for img, lab, k in zip(tc["images"], tc["labels"], tc["k"]):
        np.savez_compressed(out / f"tptbox_k{int(k):02d}.npz", image=img, labels=lab,
                            spacing_mm=np.asarray(tc["spacing_mm"], np.float64),
                            orientation=np.asarray(tc["orientation"], np.float64),
                            lf_annotated=np.asarray(False))
    return [int(k) for k in tc["k"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ks = export(Path(ap.parse_args().out))
    print(f"{len(ks)} sac-only training slices written (tptbox k = {', '.join(map(str, ks))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
