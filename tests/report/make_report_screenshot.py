"""Regenerate ``docs/report_screenshot.png`` (the README's picture of report.html).

    python tests/report/make_report_screenshot.py [OUT_DIR]

Writes a synthetic patient CD (``mri_measure.synth.write_cd``, moderate
stenosis), runs the real pipeline on it with the ground-truth segmenter
(``TruthSegmenter``: the outlines are the phantom's truth, not a model's),
writes the full report set into OUT_DIR (default: a temporary folder) and
takes a headless-chromium screenshot of report.html. Needs chromium (apt);
not a test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def build_phantom_study(root: Path, seed: int = 3):
    from mri_measure.pipeline import analyse_study
    from mri_measure.testing.truth import TruthSegmenter
    from mri_measure.synth import write_cd

    cd = write_cd(root, seed=seed, stenosis="moderate", axial="blocks")
    return analyse_study(cd, segmenter=TruthSegmenter.from_npz(root / "truth_labels.npz"))


def main() -> None:
    from mri_measure.report import write_all

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    analysis = build_phantom_study(out / "src")
    paths = write_all(analysis, out / "report")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    shot = out / "screenshot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={tempfile.mkdtemp()}", f"--screenshot={shot}",
                    "--window-size=1100,2300", paths["html"].as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
    target = REPO / "docs" / "report_screenshot.png"
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    print(f"{target.relative_to(REPO)}: {target.stat().st_size // 1024} KB; outputs in {out}")


if __name__ == "__main__":
    main()
