#!/usr/bin/env bash
# Set up the project's .venv (scripts/setup.sh) and run the main job on the bundled synthetic
# sample CD: prints the per-level table and writes JSON/CSV/HTML/PDF/SEG/SR to out/sample/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m mri_measure measure sample_dicoms/stenosis_L4-L5/CD --out out/sample "$@"
