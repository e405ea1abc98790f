#!/usr/bin/env bash
# Install everything mri-measure needs into the project's own virtual environment .venv
# (in the repository root; never the system's site-packages), on Debian/Ubuntu, Python >= 3.10.
#   bash scripts/setup.sh          # .venv with the model + batch + pacs extras (enough to run mri-measure;
#                                  #   the models run on ONNX Runtime, torch is not installed)
#   bash scripts/setup.sh --test   # + every extra (train: torch; napari, test) and the system packages the test
#                                  #   suite uses (xvfb, Qt xcb libs, dicom3tools for dciodvfy,
#                                  #   poppler-utils for pdftoppm/pdftotext, orthanc + orthanc-dicomweb for
#                                  #   the DICOMweb tests against a real PACS)
# Idempotent: a healthy .venv set up from the same pyproject.toml is reused as is (seconds).
# Afterwards: `source .venv/bin/activate`, or call .venv/bin/python / .venv/bin/mri-measure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
VPY=$VENV/bin/python
TORCH="torch==2.13.0"   # the CPU build; an unpinned resolve would pull GBs of CUDA wheels
say() { echo "setup: $*" >&2; }

mode=run
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  *) say "unknown option '$1' (use no option or --test)"; exit 2 ;;
esac

if [[ $mode == test ]]; then
  need=()
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v dciodvfy >/dev/null || need+=(dicom3tools)
  command -v pdftoppm >/dev/null || need+=(poppler-utils)
  # a real PACS for tests/dicomweb: the tests start their own Orthanc on a free loopback port
  # (the package's system service, where the init system starts one, is not used)
  dpkg -s orthanc >/dev/null 2>&1 || need+=(orthanc)
  dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
  for lib in libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-xinput0 libxcb-image0 \
             libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 \
             libgl1 libegl1 libfontconfig1 libdbus-1-3; do
    dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
  done
  if (( ${#need[@]} )); then
    say "installing system packages: ${need[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# --- the virtual environment -------------------------------------------------------------------
venv_healthy() {
  [[ -x $VPY && -f $VENV/pyvenv.cfg ]] || return 1
  grep -Eqi '^include-system-site-packages *= *false' "$VENV/pyvenv.cfg" || return 1
  "$VPY" -c 'import sys; sys.exit(not (sys.prefix != sys.base_prefix and sys.version_info >= (3, 10)))' \
    2>/dev/null || return 1
  "$VPY" -m pip --version >/dev/null 2>&1 || return 1
}

if ! venv_healthy; then
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    say "needs Python >= 3.10 as '$PY' (set PYTHON=/path/to/python3.X)"; exit 2
  fi
  [[ -e $VENV ]] && { say "replacing the broken or foreign .venv"; rm -rf "$VENV"; }
  say "creating .venv with $("$PY" --version 2>&1)"
  if ! "$PY" -m venv "$VENV"; then
    rm -rf "$VENV"
    say "'$PY -m venv' failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
    exit 2
  fi
fi

# --- the packages ------------------------------------------------------------------------------
# A stamp of what was installed, from which checkout: skip pip when nothing changed.
want() {
  { echo "$ROOT"; echo "$TORCH"; echo "$1"; sha256sum pyproject.toml; } | sha256sum | cut -d' ' -f1
}
stamp_ok() { [[ -f $VENV/.setup-$1 && "$(cat "$VENV/.setup-$1")" == "$(want "$1")" ]]; }

extras="model,batch,pacs"; [[ $mode == test ]] && extras="all"
installed_here() {  # the editable install points at this checkout (run from / so ./ is not on sys.path)
  (cd / && "$VPY" -c 'import sys, mri_measure; sys.exit(not mri_measure.__file__.startswith(sys.argv[1]))' \
     "$ROOT/" 2>/dev/null)
}
if { stamp_ok all || stamp_ok "$extras"; } && installed_here; then
  say ".venv is up to date ($extras)"
  exit 0
fi

rm -f "$VENV"/.setup-*
if [[ $mode == test ]]; then
  # torch (training, ONNX export, the torch-vs-ONNX parity tests) only for the test set-up: measuring
  # runs the models with ONNX Runtime. Pinned and installed first, so no resolve pulls CUDA wheels.
  say "installing into .venv: $TORCH, then -e .[$extras] (first time: a few minutes)"
  "$VPY" -m pip install -q --disable-pip-version-check "$TORCH"
else
  say "installing into .venv: -e .[$extras] (first time: a minute or two)"
fi
"$VPY" -m pip install -q --disable-pip-version-check -e ".[$extras]"
if ! "$VPY" -m pip check >/dev/null; then
  "$VPY" -m pip check >&2 || true
  say "the installed packages conflict (see above)"; exit 1
fi
want "$extras" > "$VENV/.setup-$extras"
say ".venv ready ($extras)"
