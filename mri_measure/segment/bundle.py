"""Model bundles: ``models/<name>/`` with ``metadata.json``, a safetensors
weights file and ``MODEL_CARD.md``.

``metadata.json`` (format ``mri-measure-bundle/1``) records the name and
version, the label map, each network's architecture and keyword arguments,
the preprocessing (canonical orientation, working spacings and sizes,
intensity normalisation), the weights file name and its sha256, and the
training provenance (command, seed, steps, wall time, hardware, torch
version). Weights are verified against the sha256 *before* they are parsed,
and parsed with safetensors (no pickle).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mri_measure

from ..errors import ModelError

BUNDLE_FORMAT = "mri-measure-bundle/1"
DEFAULT_BUNDLE_NAME = "lumbar-axial-unet"
DISC_DETECTOR_BUNDLE_NAME = "sagittal-disc-unet"
WEIGHTS_NAME = "model.safetensors"
METADATA_NAME = "metadata.json"


def models_dir() -> Path:
    """``models/`` beside the package (editable install / source checkout)."""
    return Path(mri_measure.__file__).resolve().parents[1] / "models"


def default_bundle_dir() -> Path:
    return models_dir() / DEFAULT_BUNDLE_NAME


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_metadata(bundle_dir: Path) -> dict[str, Any]:
    """Parse and sanity-check ``metadata.json``; :class:`ModelError` if unusable."""
    bundle_dir = Path(bundle_dir)
    meta_path = bundle_dir / METADATA_NAME
    if not bundle_dir.is_dir():
        raise ModelError(
            f"model bundle folder not found ({bundle_dir.name}); pass --model with a bundle "
            "folder or retrain it with `mri-measure train --out models/lumbar-axial-unet`"
        )
    if not meta_path.is_file():
        raise ModelError(
            f"model bundle {bundle_dir.name} has no {METADATA_NAME}; the bundle is incomplete, "
            "restore it from the repository or retrain it"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"model bundle {bundle_dir.name}: {METADATA_NAME} is not valid JSON ({exc.__class__.__name__}); "
            "restore it from the repository or retrain"
        ) from None
    if meta.get("format") != BUNDLE_FORMAT:
        raise ModelError(
            f"model bundle {bundle_dir.name}: format {meta.get('format')!r} is not {BUNDLE_FORMAT!r}; "
            "use a bundle made by this version of mri-measure"
        )
    for key in ("name", "version", "weights", "sha256", "networks", "preprocessing", "labels"):
        if key not in meta:
            raise ModelError(f"model bundle {bundle_dir.name}: metadata.json lacks {key!r}; retrain the bundle")
    return meta


def verified_weights_path(bundle_dir: Path, meta: dict[str, Any]) -> Path:
    """The weights file, after checking it exists and its sha256 matches the metadata."""
    path = Path(bundle_dir) / meta["weights"]
    if not path.is_file():
        raise ModelError(
            f"model bundle {Path(bundle_dir).name}: weights file {meta['weights']} is missing; "
            "restore it from the repository (git lfs is not used) or retrain"
        )
    digest = sha256_file(path)
    if digest != meta["sha256"]:
        raise ModelError(
            f"model bundle {Path(bundle_dir).name}: weights sha256 {digest[:12]}… does not match "
            f"metadata {str(meta['sha256'])[:12]}…; the file is corrupt or was replaced — restore or retrain"
        )
    return path


def load_state(path: Path) -> dict[str, Any]:
    """The tensors of a (verified) weights file, parsed with safetensors on the
    CPU; :class:`ModelError` when the file cannot be read. Imports torch."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read model weights ({exc.__class__.__name__}); restore or retrain the bundle") from None


def disc_detector_sha256() -> str | None:
    """sha256 of the shipped disc detector's weights as its metadata records it
    (no torch, no hashing), or ``None`` when the bundle is absent or unreadable."""
    ident = bundle_identity(DISC_DETECTOR_BUNDLE_NAME)
    return ident["sha256"] if ident else None


def bundle_identity(name: str = DISC_DETECTOR_BUNDLE_NAME) -> dict[str, str | None] | None:
    """Name, version and weights sha256 of a shipped bundle as its metadata records
    them (no torch; the sha256 is verified whenever the weights are loaded), or
    ``None`` when the bundle is absent or unreadable."""
    try:
        meta = json.loads((models_dir() / name / METADATA_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not meta.get("sha256"):
        return None
    return {k: (str(meta[k]) if meta.get(k) is not None else None) for k in ("name", "version", "sha256")}


def write_metadata(bundle_dir: Path, meta: dict[str, Any]) -> Path:
    path = Path(bundle_dir) / METADATA_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
