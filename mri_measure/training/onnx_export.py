"""Export a bundle's networks to ONNX for :mod:`mri_measure.segment.runtime`:
``python -m mri_measure.training.onnx_export models/lumbar-axial-unet [more bundles]``.

Each network of ``metadata.json`` (``networks``) is built from
``model.safetensors``, its BatchNorms folded, and written as
``<part>.onnx`` (opset 17; batch, height and width dynamic). ``metadata.json``
then records under ``onnx`` each file's name and sha256 and the sha256 of the
safetensors weights it came from, so a bundle retrained without re-export is
refused rather than run with stale weights. Before writing, the exported
graph is run with ONNX Runtime and compared with torch on random inputs; an
export that differs by more than :data:`MAX_LOGIT_DIFF` is not written.

Training calls :func:`export_onnx` at the end of every run
(:mod:`.train`, :mod:`.disc_train`), so a fresh bundle is complete.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..segment import bundle as _bundle
from ..segment.network import fuse_for_inference
from ..segment.torch_backend import build_part

OPSET = 17
MAX_LOGIT_DIFF = 1e-3
#: (batch, height, width) of the check inputs per network; multiples of 16 fit every depth ≤ 5
CHECK_SHAPES = ((2, 96, 96), (1, 160, 128))


def _export_part(net: torch.nn.Module, path: Path) -> None:
    x = torch.zeros((1, 1, 96, 96), dtype=torch.float32)
    buf = io.BytesIO()
    torch.onnx.export(net, (x,), buf, dynamo=False, opset_version=OPSET, input_names=["x"],
                      output_names=["logits"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}})
    tmp = path.with_suffix(".onnx.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def _check(net: torch.nn.Module, path: Path, seed: int = 0) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n, h, w in CHECK_SHAPES:
        x = rng.random((n, 1, h, w), dtype=np.float32) * 1.5 - 0.25
        with torch.inference_mode():
            ref = net(torch.from_numpy(x)).numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def export_onnx(bundle_dir: str | Path, log=print) -> dict[str, dict[str, str]]:
    """Write ``<part>.onnx`` for every network of the bundle and record them in
    ``metadata.json``; returns the ``onnx`` entry."""
    bundle_dir = Path(bundle_dir)
    meta = _bundle.read_metadata(bundle_dir)
    state = _bundle.load_state(_bundle.verified_weights_path(bundle_dir, meta))
    entry: dict[str, dict[str, str]] = {}
    for part in meta["networks"]:
        net = fuse_for_inference(build_part(meta, state, part))
        path = bundle_dir / f"{part}.onnx"
        _export_part(net, path)
        diff = _check(net, path)
        if diff > MAX_LOGIT_DIFF:
            path.unlink()
            raise ModelError(f"{bundle_dir.name}/{part}.onnx differs from torch by {diff:.2e} in the logits; not written")
        entry[part] = {"file": path.name, "sha256": _bundle.sha256_file(path), "weights_sha256": meta["sha256"],
                       "network": meta["networks"][part],
                       "opset": str(OPSET), "max_logit_diff_vs_torch": f"{diff:.1e}"}
        log(f"{bundle_dir.name}: {path.name} written (max |Δ logit| vs torch {diff:.1e})")
    meta["onnx"] = entry
    _bundle.write_metadata(bundle_dir, meta)
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mri_measure.training.onnx_export", description=__doc__.split("\n")[0])
    ap.add_argument("bundles", nargs="+", help="model bundle folders (metadata.json + model.safetensors)")
    args = ap.parse_args(argv)
    try:
        for b in args.bundles:
            export_onnx(b)
    except ModelError as exc:
        print(f"onnx_export: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
