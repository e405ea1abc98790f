"""Which engine runs a bundle's networks: ONNX Runtime on a CPU, torch on a GPU.

``measure`` on a CPU runs the networks with ONNX Runtime from the ``.onnx``
files of the bundle (exported from the safetensors weights by
:mod:`mri_measure.training.onnx_export`; each file's sha256 is in
``metadata.json`` under ``onnx`` and checked before it is loaded). torch is
then never imported: its import alone took 2.2–2.5 s of a 9 s run on the
sample CD, and ONNX Runtime also runs these U-Nets about twice as fast on two
cores. torch runs them instead

- on a GPU (``--device cuda``),
- when ``MRI_MEASURE_BACKEND=torch`` is set (benchmarks and the parity test
  compare the two; ``onnx`` forces ONNX Runtime and fails without it),
- when ONNX Runtime is not installed or the bundle has no ``.onnx`` file for
  a network (a bundle trained by an older version).

Both give the same logits to ~1e-5 (``tests/segment/test_runtime.py``); the
weights' identity (``sha256`` in metadata, in every report) is the
safetensors file's, of which the ONNX files are a derived copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ModelError
from . import bundle as _bundle
from .threads import inference_threads

ENV = "MRI_MEASURE_BACKEND"
BACKENDS = ("onnx", "torch")

Net = Callable[[np.ndarray], np.ndarray]


def requested_backend() -> str | None:
    """``MRI_MEASURE_BACKEND`` (onnx / torch), or ``None`` to choose automatically."""
    name = os.environ.get(ENV, "").strip().lower()
    if not name:
        return None
    if name not in BACKENDS:
        raise ModelError(f"{ENV}={name!r} is not one of {', '.join(BACKENDS)}; unset it or fix it")
    return name


def onnx_runtime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxNet:
    """An ONNX Runtime session as a numpy function: ``net(x)`` with ``x``
    (N, 1, H, W) float32 returns float32 logits (N, C, H, W)."""

    backend = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.inter_op_num_threads = 1
        threads = inference_threads()
        if threads is not None:
            so.intra_op_num_threads = threads
        # idle pool threads sleep instead of spinning (as OMP_WAIT_POLICY=PASSIVE for torch):
        # on a busy machine or in a Dask worker, spinning burns the other processes' cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors for a bad file
            raise ModelError(f"cannot load {path.name} with ONNX Runtime ({exc.__class__.__name__}); "
                             "restore the bundle or re-export it (python -m mri_measure.training.onnx_export)") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32)


def onnx_path(bundle_dir: Path, meta: dict[str, Any], part: str) -> Path | None:
    """The verified ``.onnx`` file of ``part``, or ``None`` when the bundle has none."""
    entry = (meta.get("onnx") or {}).get(part)
    if not isinstance(entry, dict) or not entry.get("file") or not entry.get("sha256"):
        return None
    path = Path(bundle_dir) / str(entry["file"])
    if not path.is_file():
        raise ModelError(f"model bundle {Path(bundle_dir).name}: {entry['file']} is missing; restore it "
                         "from the repository or re-export it (python -m mri_measure.training.onnx_export)")
    digest = _bundle.sha256_file(path)
    if digest != entry["sha256"]:
        raise ModelError(f"model bundle {Path(bundle_dir).name}: {entry['file']} sha256 {digest[:12]}… does not "
                         f"match metadata {str(entry['sha256'])[:12]}…; the file is corrupt or was replaced — "
                         "restore or re-export it")
    if entry.get("network") is not None and entry["network"] != (meta.get("networks") or {}).get(part):
        raise ModelError(f"model weights do not fit the {part} architecture in metadata.json (its ONNX export "
                         "was made for another); the bundle is inconsistent — retrain or re-export it")
    if entry.get("weights_sha256") not in (None, meta.get("sha256")):
        raise ModelError(f"model bundle {Path(bundle_dir).name}: {entry['file']} was exported from other weights "
                         "than model.safetensors; re-export it (python -m mri_measure.training.onnx_export)")
    return path


def load_networks(bundle_dir: Path, meta: dict[str, Any], parts: tuple[str, ...],
                  device: str = "cpu") -> dict[str, Net]:
    """Callable networks ``part → net(x) -> logits`` of a bundle, on the engine
    chosen as the module docstring says. :class:`ModelError` with one line when
    the bundle is unusable or the device is unavailable."""
    name = (device or "cpu").strip().lower()
    if name != "cpu" and not name.startswith("cuda"):
        raise ModelError(f"unknown device {device!r}; use cpu or cuda")
    want = requested_backend()
    weights = _bundle.verified_weights_path(bundle_dir, meta)
    if name == "cpu" and want != "torch":
        paths = {p: onnx_path(bundle_dir, meta, p) for p in parts}
        have = all(v is not None for v in paths.values())
        if want == "onnx" and not have:
            raise ModelError(f"{ENV}=onnx but model bundle {Path(bundle_dir).name} has no ONNX export; "
                             "re-export it (python -m mri_measure.training.onnx_export) or unset it")
        if have and (want == "onnx" or onnx_runtime_available()):
            if not onnx_runtime_available():
                raise ModelError(f"{ENV}=onnx but onnxruntime is not installed; pip install -e '.[model]'")
            return {p: OnnxNet(path) for p, path in paths.items() if path is not None}
    try:
        from .torch_backend import load_parts
    except ImportError:
        raise ModelError("running the model needs onnxruntime (CPU) or torch (GPU); "
                         "install them with pip install -e '.[model]' (or '.[train]' for torch)") from None
    return load_parts(meta, weights, parts, name)  # type: ignore[return-value]


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Numerically stable softmax (float32), in place on a float32 copy."""
    z = np.array(logits, dtype=np.float32, copy=True)
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z
