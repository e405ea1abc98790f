import shutil

import pytest

from mri_measure.errors import ModelError
from mri_measure.segment import load_segmenter
from mri_measure.segment.bundle import default_bundle_dir, read_metadata


def test_shipped_bundle_metadata_is_complete():
    meta = read_metadata(default_bundle_dir())
    assert meta["labels"] == {"0": "background", "1": "dural_sac", "2": "lf_left", "3": "lf_right"}
    tr = meta["training"]
    for key in ("command", "seed", "wall_time_s", "hardware", "torch_version", "steps"):
        assert tr[key] not in (None, "")
    assert (default_bundle_dir() / meta["weights"]).stat().st_size < 30 * 2**20
    assert (default_bundle_dir() / "MODEL_CARD.md").is_file()


def test_sha256_mismatch_is_a_model_error(tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), dst, ignore=shutil.ignore_patterns("checkpoint*", "train.log"))
    w = dst / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_segmenter(dst)


def test_missing_bundle_and_files_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_segmenter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="metadata.json"):
        load_segmenter(tmp_path / "empty")
    dst = tmp_path / "noweights"
    shutil.copytree(default_bundle_dir(), dst, ignore=shutil.ignore_patterns("checkpoint*", "*.safetensors"))
    with pytest.raises(ModelError, match="missing"):
        load_segmenter(dst)


def test_device_choice():
    import torch

    with pytest.raises(ModelError, match="unknown device"):
        load_segmenter(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            load_segmenter(device="cuda")


def test_importing_segment_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, mri_measure.segment; assert 'torch' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"


def test_bad_metadata_values_are_model_errors(tmp_path):
    import json

    dst = tmp_path / "b"
    shutil.copytree(default_bundle_dir(), dst, ignore=shutil.ignore_patterns("checkpoint*", "train.log"))
    meta = json.loads((dst / "metadata.json").read_text())
    meta.setdefault("inference", {})["temperature"] = 500.0
    (dst / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="temperature"):
        load_segmenter(dst)
    meta["networks"]["segmenter"]["kwargs"]["base"] = 7  # weights no longer fit
    meta["inference"]["temperature"] = 1.0
    (dst / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit"):
        load_segmenter(dst)
    (dst / "metadata.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_segmenter(dst)
