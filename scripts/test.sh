#!/usr/bin/env bash
# Set up the project's .venv with every extra + the system packages (scripts/setup.sh --test) and
# run the whole test suite in it. Arguments go to pytest:
#   bash scripts/test.sh                  # everything (what CI runs)
#   bash scripts/test.sh -m "not slow"    # the fast tier: no long fuzz / cluster runs
#   bash scripts/test.sh tests/io -x      # one folder, stop at the first failure
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-xcb}
rc=0
.venv/bin/python -m pytest -q "$@" || rc=$?
if (( rc == 5 )); then
  echo "test.sh: pytest collected or selected no tests: that is a failure, not a pass" >&2
fi
exit "$rc"
