"""A real Orthanc PACS with the DICOMweb plugin, for the tests (Debian packages
``orthanc`` and ``orthanc-dicomweb``; ``bash scripts/setup.sh --test`` installs them).

:func:`start_orthanc` runs ``Orthanc`` on a free loopback port with a storage
folder and a generated configuration (DICOMweb on ``/dicom-web/``, basic
authentication with one test user, no DICOM port), waits until it answers, and
:meth:`Orthanc.stop` ends it. Instances are uploaded through Orthanc's own REST
API (``POST /instances``), not through the code under test.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

USER, PASSWORD = "radiology", "t0p-s3cret-pw"
PLUGIN_GLOBS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def orthanc_binary() -> str:
    path = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None)
    if path is None:
        pytest.fail("Orthanc not found: run `bash scripts/setup.sh --test` (installs orthanc, orthanc-dicomweb)")
    return path


def dicomweb_plugin() -> str:
    """The plugin's .so, as the orthanc-dicomweb package installs it."""
    try:
        listed = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True,
                                timeout=30).stdout.split()
    except OSError:
        listed = []
    found = [p for p in listed if "libOrthancDicomWeb.so" in p and os.path.isfile(p)]
    found += [p for g in PLUGIN_GLOBS for p in sorted(glob.glob(g))]
    if not found:
        pytest.fail("the Orthanc DICOMweb plugin is missing: run `bash scripts/setup.sh --test` "
                    "(installs orthanc-dicomweb)")
    return found[0]


@dataclass
class Orthanc:
    port: int
    folder: Path
    proc: subprocess.Popen | None = None
    uploaded: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def rest(self) -> requests.Session:
        s = requests.Session()
        s.auth = (USER, PASSWORD)
        s.trust_env = False
        return s

    def upload(self, folder: Path) -> int:
        """POST every DICOM file under ``folder`` (DICOMDIR aside) to ``/instances``."""
        n = 0
        with self.rest() as s:
            for p in sorted(folder.rglob("*")):
                if not p.is_file() or p.name.upper() == "DICOMDIR" or p.suffix in (".json", ".npz"):
                    continue
                r = s.post(f"{self.url}/instances", data=p.read_bytes(), timeout=30)
                r.raise_for_status()
                n += 1
        return n

    def series_of(self, study_uid: str) -> list[dict]:
        with self.rest() as s:
            r = s.get(f"{self.dicomweb}/studies/{study_uid}/series", timeout=30)
            r.raise_for_status()
            return r.json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


def start_orthanc(folder: Path) -> Orthanc:
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    storage = folder / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    server = Orthanc(free_port(), folder)
    config = {
        "Name": "mri-measure-tests",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": server.port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full",
                     "SeriesMetadata": "Full"},
        "StorageCompression": False,
        "HttpThreadsCount": 16,
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")
    server.proc = subprocess.Popen([binary, str(cfg)], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    with server.rest() as s:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                pytest.fail("Orthanc exited at start: " + (folder / "orthanc.log").read_text()[-2000:])
            try:
                if s.get(f"{server.url}/system", timeout=2).status_code == 200:
                    plugins = s.get(f"{server.url}/plugins", timeout=5).json()
                    assert "dicom-web" in plugins, f"DICOMweb plugin not loaded: {plugins}"
                    return server
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
    server.stop()
    pytest.fail("Orthanc did not answer within 60 s: " + (folder / "orthanc.log").read_text()[-2000:])
