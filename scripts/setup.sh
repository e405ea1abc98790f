#!/usr/bin/env bash
# Install everything mri-measure needs on a Debian/Ubuntu machine with Python >= 3.10.
#   bash scripts/setup.sh          # Python packages only (enough to run `mri-measure`)
#   bash scripts/setup.sh --test   # + system packages the test suite uses (xvfb, Qt xcb libs,
#                                  #   dicom3tools for dciodvfy, poppler-utils for pdftoppm)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [[ "${1:-}" == "--test" ]]; then
  need=()
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v dciodvfy >/dev/null || need+=(dicom3tools)
  command -v pdftoppm >/dev/null || need+=(poppler-utils)
  for lib in libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-xinput0 libxcb-image0 \
             libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 \
             libgl1 libegl1 libfontconfig1 libdbus-1-3; do
    dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
  done
  if (( ${#need[@]} )); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# torch first, pinned: the CPU build. An unpinned resolve would pull GBs of CUDA wheels.
$PY -m pip install -q "torch==2.13.0"
if [[ "${1:-}" == "--test" ]]; then
  $PY -m pip install -q -e ".[all]"
else
  $PY -m pip install -q -e ".[model,batch]"
fi
