"""The environment a user gets from pyproject.toml is complete.

A fresh clone in a fresh virtual environment once failed the README's first
command: a module imported a package no dependency list named, and every
machine that had it installed by chance stayed green. These tests fail the
suite for that, whatever happens to be installed:

* every module of ``mri_measure`` and ``napari_mri_measure`` imports, in a fresh
  interpreter (nothing the test session imported earlier can hide a gap);
* ``pip check``: the installed distributions agree with each other;
* every third-party import in the package and the plugin (also lazy ones inside
  functions, which importing a module does not reach) belongs to a distribution
  declared in pyproject.toml, under core or the extra of the code that imports
  it; every import in tests/benchmarks/scripts is declared somewhere;
* test code starts console scripts through the interpreter, never from PATH.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"mri_measure": ROOT / "mri_measure", "napari_mri_measure": ROOT / "plugins" / "napari_mri_measure"}
SCANNED = ("mri_measure", "plugins", "tests", "benchmarks", "scripts")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _canon(re.split(r"[\s\[<>=!~;@(]", req.strip(), maxsplit=1)[0])


def declared() -> dict[str, set[str]]:
    """Extra ("core" for [project] dependencies) -> canonical distribution names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = {"core": {_req_name(r) for r in project["dependencies"]}}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out[extra] = {_req_name(r) for r in reqs} - {"mri-measure"}
    return out


def _local_names() -> set[str]:
    """Top-level names that are this repository's own modules (helpers beside tests, etc.)."""
    names = set(PACKAGES)
    for part in SCANNED:
        for py in (ROOT / part).rglob("*.py"):
            names.add(py.stem)
            names.update(p.name for p in py.relative_to(ROOT).parents if p.name)
    return names


def third_party_imports(part: str) -> dict[str, set[str]]:
    """Top-level third-party module -> files (relative) importing it, from the source by ast."""
    skip = set(sys.stdlib_module_names) | _local_names() | {"__future__"}
    found: dict[str, set[str]] = {}
    for py in sorted((ROOT / part).rglob("*.py")):
        tree = ast.parse(py.read_text(), str(py))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in skip and not top.startswith("_"):
                    found.setdefault(top, set()).add(str(py.relative_to(ROOT)))
    return found


def _extras_for(relpath: str) -> set[str]:
    """Which extras the code in this file may rely on besides core (by package / module name)."""
    parts = Path(relpath).with_suffix("").parts
    if parts[0] == "plugins":
        return {"napari"}
    extras = set()
    for part in parts[1:]:
        if part in ("segment", "training"):
            extras.update(("model", "train"))
        if part.startswith("batch"):  # mri_measure/batch/, batch_*.py, cli/batch.py
            extras.add("batch")
        if part == "dicomweb":  # io/dicomweb.py: the DICOMweb client
            extras.add("pacs")
        if part == "testing":  # fault injection + truth segmenter, used by the batch tests
            extras.update(("model", "batch"))
    return extras


@functools.cache
def _module_to_dists() -> dict[str, list[str]]:
    return md.packages_distributions()  # scans every installed distribution: once


def _dists_of(module: str) -> set[str]:
    return {_canon(d) for d in _module_to_dists().get(module, [])}


def test_declared_dependencies_parse_and_include_the_known_ones():
    dec = declared()
    assert {"model", "train", "batch", "napari", "test", "all"} <= set(dec)
    assert "reportlab" in dec["core"]  # the package the first fresh-venv run was missing
    assert "torch" in dec["train"] and "torch" not in dec["core"] and "torch" not in dec["model"]
    assert "onnxruntime" in dec["model"]  # measuring on a CPU needs no torch


def test_every_package_and_plugin_import_is_declared_under_its_extra():
    dec = declared()
    problems = []
    for part in ("mri_measure", "plugins"):
        for module, files in sorted(third_party_imports(part).items()):
            dists = _dists_of(module)
            if not dists:
                problems.append(f"{module}: imported by {sorted(files)} but no installed distribution provides it")
                continue
            for f in sorted(files):
                allowed = dec["core"].union(*(dec[e] for e in _extras_for(f)))
                if not dists & allowed:
                    where = "core" + "".join(f" or [{e}]" for e in sorted(_extras_for(f)))
                    problems.append(f"{f} imports {module} ({'/'.join(sorted(dists))}), not declared in {where}")
    assert problems == [], "declare these in pyproject.toml:\n" + "\n".join(problems)


def test_every_test_benchmark_and_script_import_is_declared():
    dec = declared()
    every = set().union(*dec.values())
    problems = []
    for part in ("tests", "benchmarks", "scripts"):
        for module, files in sorted(third_party_imports(part).items()):
            dists = _dists_of(module)
            if not (dists & every or _canon(module) in every):
                problems.append(f"{module} ({'/'.join(sorted(dists)) or 'not installed'}): {sorted(files)[:3]}")
    assert problems == [], "declare these in pyproject.toml (the test extra):\n" + "\n".join(problems)


_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys, traceback
root = sys.argv[1]
failed, done = {}, []
for top in ("mri_measure", "napari_mri_measure"):
    pkg = importlib.import_module(top)
    assert pkg.__file__.startswith(root), (top, pkg.__file__)
    names = [top] + [m.name for m in pkgutil.walk_packages(pkg.__path__, top + ".",
                                                            onerror=lambda n: failed.setdefault(n, "walk"))]
    for name in names:
        if name.endswith(".__main__"):
            continue  # runs the CLI; covered by the CLI tests
        try:
            importlib.import_module(name)
            done.append(name)
        except BaseException as exc:
            failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
print(json.dumps({"failed": failed, "done": done}))
"""


def test_every_module_of_package_and_plugin_imports_in_a_fresh_interpreter():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    res = subprocess.run([sys.executable, "-c", _IMPORT_ALL, str(ROOT)], capture_output=True, text=True,
                         timeout=600, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["failed"] == {}, "\n".join(f"{k}: {v}" for k, v in doc["failed"].items())
    done = set(doc["done"])
    # the walk really went through both trees, sub-packages included
    for top, path in PACKAGES.items():
        expected = set()
        for py in path.rglob("*.py"):
            parts = py.relative_to(path).with_suffix("").parts
            if py.name == "__main__.py" or not all((path / Path(*parts[:i]) / "__init__.py").exists()
                                                   for i in range(len(parts))):
                continue
            expected.add(".".join((top, *parts)).removesuffix(".__init__"))
        assert expected <= done, sorted(expected - done)


def test_pip_check_finds_no_broken_requirements():
    res = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


_RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "system"}


def test_test_code_never_starts_a_console_script_from_path():
    """`dask`, `mri-measure`, `lint-imports` ... may not be on PATH: use sys.executable -m."""
    scripts = {ep.name for ep in md.entry_points(group="console_scripts")} | {"mri-measure", "dask"}
    offenders = []
    for part in ("tests", "benchmarks", "scripts"):
        for py in sorted((ROOT / part).rglob("*.py")):
            for node in ast.walk(ast.parse(py.read_text(), str(py))):
                head = None
                if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
                    head = node.elts[0]  # an argv literal, wherever it is built
                elif isinstance(node, ast.Call) and node.args:  # a shell string
                    fn = node.func
                    if (fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")) in _RUNNERS:
                        head = node.args[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str) \
                        and head.value.split(" ")[0] in scripts:
                    offenders.append(f"{py.relative_to(ROOT)}:{node.lineno}: {head.value}")
    assert offenders == [], offenders


@pytest.mark.parametrize("extra", ["model", "batch", "napari", "test"])
def test_all_extra_names_every_extra(extra):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (all_req,) = project["optional-dependencies"]["all"]
    assert extra in re.search(r"\[(.*)\]", all_req).group(1).split(",")
