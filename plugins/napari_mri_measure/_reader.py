"""napari reader: a patient CD root, a DICOMDIR, a folder of DICOM files, or one file.

:func:`get_reader` answers ``None`` unless the path looks like DICOM after a
cheap sniff (a ``DICOMDIR`` by name, or the ``DICM`` magic at byte offset 128
of a file or of one of the first few files of a folder); only then does the
returned reader discover and load the study with :mod:`mri_measure.io`.

One image layer per stack, in millimetres (see :mod:`._layers`), named by role
and series, with the :class:`~mri_measure.types.Stack` and the
:class:`~mri_measure.types.Study` in ``metadata["mri_measure"]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._layers import image_layer_data

log = logging.getLogger(__name__)

#: How many files of a folder the sniff opens (their first 132 bytes) before giving up.
SNIFF_MAX_FILES = 12
#: How many directory entries the sniff looks at in total.
SNIFF_MAX_ENTRIES = 400

LayerData = tuple[Any, dict[str, Any], str]


def _has_dicm_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _walk_files(root: Path, max_entries: int) -> Iterator[Path]:
    """Regular files under ``root``, breadth-first, shallow folders first."""
    seen = 0
    queue = [root]
    while queue:
        folder = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_file():
                    yield Path(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(Path(entry.path))
            except OSError:
                continue
        queue.extend(subdirs)


def looks_like_dicom(path: str | os.PathLike[str]) -> bool:
    """Cheap sniff: DICOMDIR (by name), or DICM at offset 128 of the file or of
    one of the first few files found under the folder."""
    p = Path(path)
    if p.is_file():
        return p.name.upper() == "DICOMDIR" or _has_dicm_magic(p)
    if not p.is_dir():
        return False
    try:
        if any(e.name.upper() == "DICOMDIR" and e.is_file() for e in os.scandir(p)):
            return True
    except OSError:
        return False
    opened = 0
    for f in _walk_files(p, SNIFF_MAX_ENTRIES):
        if f.name.upper() == "DICOMDIR":
            return True
        opened += 1
        if _has_dicm_magic(f):
            return True
        if opened >= SNIFF_MAX_FILES:
            break
    return False


def _single_path(path: Any) -> str | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not isinstance(path, (str, os.PathLike)):
        return None
    return os.fspath(path)


def get_reader(path: Any) -> Callable[[Any], list[LayerData]] | None:
    """napari reader hook: a reader function, or ``None`` when not confident."""
    p = _single_path(path)
    if p is None or not looks_like_dicom(p):
        return None
    return read_study


def read_study(path: Any, *, extra_meta: dict | None = None) -> list[LayerData]:
    """Discover and load every stack under ``path``: one image layer tuple per stack.

    Axial stacks are visible; other planes are added hidden when axials exist
    (they share the slider axis but not its meaning)."""
    from mri_measure import discover, load_stack

    p = _single_path(path)
    if p is None:
        return []
    found = discover(p)
    layers: list[LayerData] = []
    for study in found.studies:
        has_axial = any(st.plane == "axial" for st in study.stacks)
        for stack in study.stacks:
            loaded = load_stack(stack)
            if not loaded.slices:
                log.info("stack %s: no slice passed the integrity checks", stack.stack_id)
                continue
            visible = stack.plane == "axial" or not has_axial
            layers.append(
                image_layer_data(loaded, study=study, visible=visible, extra_meta=extra_meta)
            )
    return layers
