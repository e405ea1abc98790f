#!/usr/bin/env bash
# Set up the project's .venv with every extra + the system packages (scripts/setup.sh --test) and
# run the whole test suite in it. Arguments go to pytest:
#   bash scripts/test.sh                  # everything (what CI runs)
#   bash scripts/test.sh -m "not slow"    # the fast tier: no long fuzz / cluster runs
#   bash scripts/test.sh tests/io -x      # one folder, stop at the first failure
#   MRI_MEASURE_TEST_WORKERS=0 bash scripts/test.sh   # one process (no pytest-xdist workers)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-xcb}
# two pytest-xdist workers, each test file on one worker (its module fixtures made once): many tests
# wait on subprocesses, servers and Xvfb, so two run well on two cores. MRI_MEASURE_TEST_WORKERS=0: serial.
workers=(-n "${MRI_MEASURE_TEST_WORKERS:-2}" --dist loadfile)
for a in "$@"; do [[ $a == -n || $a == -n* || $a == --numprocesses* ]] && workers=(); done
rc=0
.venv/bin/python -m pytest -q "${workers[@]}" "$@" || rc=$?
if (( rc == 5 )); then
  echo "test.sh: pytest collected or selected no tests: that is a failure, not a pass" >&2
fi
exit "$rc"
