"""npe2 manifest: valid, discovered through the entry point, every command importable."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import npe2

import napari_mri_measure

MANIFEST = Path(napari_mri_measure.__file__).with_name("napari.yaml")


def test_manifest_validates_and_names_reader_writer_widget_sample():
    mf = npe2.PluginManifest.from_file(MANIFEST)
    assert mf.name == "mri-measure"  # must equal the distribution name
    c = mf.contributions
    assert len(c.readers) == 1 and c.readers[0].accepts_directories
    assert len(c.writers) == 1 and c.writers[0].layer_types == ["labels"]
    assert c.writers[0].filename_extensions == [".dcm"]
    assert len(c.widgets) == 1 and len(c.sample_data) == 1
    for cmd in c.commands:
        module, attr = cmd.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), cmd.python_name
    assert all(cmd.python_name.startswith("napari_mri_measure._qt.")
               for cmd in c.commands if cmd.id.endswith("widget"))


def test_npe2_cli_validates_the_manifest():
    out = subprocess.run([sys.executable, "-m", "npe2", "validate", str(MANIFEST)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "valid" in (out.stdout + out.stderr), out.stdout + out.stderr


def test_entry_point_registers_the_manifest():
    pm = npe2.PluginManager()
    pm.discover()
    assert "mri-measure" in pm._manifests
    readers = [r.command for r in pm.iter_compatible_readers(["study_folder"])]
    assert "mri-measure.get_reader" in readers
