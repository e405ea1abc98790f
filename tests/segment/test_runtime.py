"""The engines behind the shipped models: ONNX Runtime on a CPU, torch otherwise,
same logits (mri_measure.segment.runtime)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mri_measure.errors import ModelError
from mri_measure.segment import bundle as B
from mri_measure.segment import runtime


def _bundles():
    return [(B.models_dir() / "lumbar-axial-unet", ("localiser", "segmenter")),
            (B.models_dir() / "sagittal-disc-unet", ("detector",))]


@pytest.mark.parametrize("bundle,parts", _bundles(), ids=lambda v: getattr(v, "name", str(v)))
def test_onnx_export_matches_the_safetensors_weights(bundle, parts, monkeypatch):
    """The committed .onnx files compute what model.safetensors computes (a retrained
    bundle that was not re-exported fails here, and is refused at run time)."""
    meta = B.read_metadata(bundle)
    monkeypatch.setenv(runtime.ENV, "onnx")
    onnx = runtime.load_networks(bundle, meta, parts)
    monkeypatch.setenv(runtime.ENV, "torch")
    torch_nets = runtime.load_networks(bundle, meta, parts)
    rng = np.random.default_rng(7)
    for part in parts:
        assert onnx[part].backend == "onnx" and torch_nets[part].backend == "torch"
        for shape in ((3, 1, 96, 96), (1, 1, 144, 112)):
            x = (rng.random(shape, dtype=np.float32) * 1.4 - 0.2).astype(np.float32)
            a, b = onnx[part](x), torch_nets[part](x)
            assert a.shape == b.shape == (shape[0], len(meta["labels"]) if part != "localiser" else 2, *shape[2:])
            assert float(np.abs(a - b).max()) < 1e-3, part


def test_measure_on_a_cpu_never_imports_torch():
    code = ("import sys; from mri_measure.segment import load_segmenter;"
            "from mri_measure.segment.disc_detector import load_disc_detector;"
            "s = load_segmenter(); d = load_disc_detector();"
            "import numpy as np; s.predict(np.zeros((1, 64, 64), np.float32) + 1, (0.8, 0.8), (1, 0, 0, 0, 1, 0));"
            "print(s.backend, d.backend, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in __import__("os").environ.items() if k != runtime.ENV})
    assert out.stdout.split() == ["onnx", "onnx", "False"], out.stderr[-2000:]


def _copy(tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(B.default_bundle_dir(), dst, ignore=shutil.ignore_patterns("checkpoint*", "train.log"))
    return dst


def test_a_damaged_onnx_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(runtime.ENV, raising=False)
    dst = _copy(tmp_path)
    f = dst / "segmenter.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="segmenter.onnx sha256"):
        runtime.load_networks(dst, B.read_metadata(dst), ("localiser", "segmenter"))
    f.unlink()
    with pytest.raises(ModelError, match="segmenter.onnx is missing"):
        runtime.load_networks(dst, B.read_metadata(dst), ("localiser", "segmenter"))


def _edit_metadata(dst, edit) -> None:
    meta = json.loads((dst / "metadata.json").read_text())
    edit(meta)
    (dst / "metadata.json").write_text(json.dumps(meta))


def test_stale_export_after_retraining_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(runtime.ENV, raising=False)
    dst = _copy(tmp_path)
    # exported from other weights
    _edit_metadata(dst, lambda meta: meta["onnx"]["segmenter"].update(weights_sha256="0" * 64))
    with pytest.raises(ModelError, match="re-export"):
        runtime.load_networks(dst, B.read_metadata(dst), ("localiser", "segmenter"))


def test_a_bundle_without_onnx_runs_on_torch_with_the_same_result(tmp_path, monkeypatch):
    """A bundle trained before the ONNX export (no ``onnx`` entry) still runs, on torch."""
    from mri_measure.segment.inference import load_segmenter

    monkeypatch.delenv(runtime.ENV, raising=False)
    dst = _copy(tmp_path)
    _edit_metadata(dst, lambda meta: meta.pop("onnx"))
    for f in dst.glob("*.onnx"):
        f.unlink()
    old, new = load_segmenter(), load_segmenter(dst)
    assert (old.backend, new.backend) == ("onnx", "torch")
    rng = np.random.default_rng(3)
    img = np.zeros((2, 160, 160), np.float32)
    img[:, 60:100, 70:95] = 900.0  # a bright canal-sized blob on a noisy background
    img += rng.normal(100.0, 10.0, img.shape).astype(np.float32)
    a = old.predict(img, (0.7, 0.7), (1, 0, 0, 0, 1, 0))
    b = new.predict(img, (0.7, 0.7), (1, 0, 0, 0, 1, 0))
    assert float(np.abs(a - b).max()) < 1e-3


def test_backend_variable_is_checked(monkeypatch):
    monkeypatch.setenv(runtime.ENV, "tensorrt")
    with pytest.raises(ModelError, match="MRI_MEASURE_BACKEND"):
        runtime.requested_backend()
