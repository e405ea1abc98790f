#!/usr/bin/env bash
# Set up (system + Python packages) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-xcb}
python3 -m pytest -q "$@"
