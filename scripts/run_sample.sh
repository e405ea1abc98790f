#!/usr/bin/env bash
# Set up and run the main job on the bundled synthetic sample CD.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mri-measure inspect sample_dicoms/stenosis_L4-L5
