"""The words every layer shares: label values, stack roles, level sources.

One definition each (docs/design.md, label contract):

* :class:`Label`: the values of every label map, SEG segment and napari
  labels layer, ``0`` background, ``1`` dural sac / central canal, ``2``
  ligamentum flavum patient-left, ``3`` ligamentum flavum patient-right, with
  each segment's names, display colours and the SNOMED CT codes the DICOM SEG
  uses for it;
* :class:`StackRole`: what a stack is for (``axial_t2``, ``sagittal_t2``,
  ``localizer``, ``other``);
* :class:`LevelSource`: where a slice's disc level came from (``sagittal``,
  ``axial_blocks``, ``user``, ``unknown``).

The enums are ``int`` / ``str`` subclasses: they compare equal to, hash like
and serialise to JSON as the bare values written before they existed, so
``measurements.json`` keeps its exact strings and integers.

Foundation layer: imports only the standard library (numpy inside :func:`one_hot`).

>>> Label.CANAL == 1, Label(2).display_name, Label.LF_RIGHT.segment_label
(True, 'LF left', 'Ligamentum flavum, patient right')
>>> StackRole("axial_t2") is StackRole.AXIAL_T2, f"{StackRole.SAGITTAL_T2}", LevelSource.USER
(True, 'sagittal_t2', 'user')
>>> import json; json.dumps({"source": LevelSource.USER, "label": Label.CANAL})
'{"source": "user", "label": 1}'
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any, NamedTuple


class Code(NamedTuple):
    """A coded concept as DICOM writes it: (CodeValue, CodingSchemeDesignator, CodeMeaning)."""

    value: str
    scheme_designator: str
    meaning: str


#: Coding scheme designators under which these SNOMED CT codes may appear when read back.
SNOMED_SCHEMES = ("SCT", "SNM3", "SRT")
SCT_ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
SCT_DURA_MATER = Code("18545000", "SCT", "Dura mater")
SCT_LIGAMENT = Code("52082005", "SCT", "Ligament")
SCT_LEFT = Code("7771000", "SCT", "Left")
SCT_RIGHT = Code("24028007", "SCT", "Right")
SCT_LUMBAR_SPINE = Code("122496007", "SCT", "Lumbar spine")


class _StrEnum(str, Enum):
    """A ``str`` enum whose ``str()`` and f-string form is its value on every Python."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __repr__(self) -> str:  # reprs of the dataclasses that hold one read as before: 'user'
        return repr(str(self.value))


class Label(IntEnum):
    """Label values of every mask (the label contract)."""

    BACKGROUND = 0
    CANAL = 1  # dural sac / central canal
    LF_LEFT = 2  # ligamentum flavum, patient-left
    LF_RIGHT = 3  # ligamentum flavum, patient-right

    @classmethod
    def structures(cls) -> tuple[Label, ...]:
        """The labels that are structures (everything but background), in value order."""
        return (cls.CANAL, cls.LF_LEFT, cls.LF_RIGHT)

    @property
    def key(self) -> str:
        """Machine name: ``background``, ``dural_sac``, ``lf_left``, ``lf_right``."""
        return _LABEL_INFO[self][0]

    @property
    def display_name(self) -> str:
        """Short name shown beside the images: ``canal``, ``LF left``, ``LF right``."""
        return _LABEL_INFO[self][1]

    @property
    def segment_label(self) -> str | None:
        """DICOM SEG SegmentLabel (``None`` for background, which has no segment)."""
        return _LABEL_INFO[self][2]

    @property
    def colour_rgba(self) -> tuple[float, float, float, float]:
        """Display colour (RGBA, 0–1) of the labels layer and its legend."""
        return _LABEL_INFO[self][3]

    @property
    def seg_cielab(self) -> tuple[float, float, float] | None:
        """RecommendedDisplayCIELabValue of the SEG segment (as DICOM CIELab, unscaled)."""
        return _LABEL_INFO[self][4]

    @property
    def property_type(self) -> Code | None:
        """SEG SegmentedPropertyType (SNOMED CT), ``None`` for background."""
        return _LABEL_INFO[self][5]

    @property
    def laterality(self) -> Code | None:
        """SEG SegmentedPropertyTypeModifier (patient side), if the structure has one."""
        return _LABEL_INFO[self][6]


_LABEL_INFO: dict[
    Label,
    tuple[str, str, str | None, tuple[float, float, float, float],
          tuple[float, float, float] | None, Code | None, Code | None],
] = {
    Label.BACKGROUND: ("background", "background", None, (0.0, 0.0, 0.0, 0.0), None, None, None),
    Label.CANAL: ("dural_sac", "canal", "Dural sac", (0.10, 0.75, 1.00, 1.0),  # cyan-blue
                  (85.0, -38.0, -20.0), SCT_DURA_MATER, None),
    Label.LF_LEFT: ("lf_left", "LF left", "Ligamentum flavum, patient left",
                    (1.00, 0.55, 0.10, 1.0), (70.0, 25.0, 75.0), SCT_LIGAMENT, SCT_LEFT),  # orange
    Label.LF_RIGHT: ("lf_right", "LF right", "Ligamentum flavum, patient right",
                     (0.30, 0.90, 0.30, 1.0), (60.0, 90.0, -55.0), SCT_LIGAMENT, SCT_RIGHT),  # green
}


def one_hot(labels: Any) -> Any:
    """(rows, cols) label map -> (4, rows, cols) float32 one-hot of the contract labels;
    any value other than 1–3 counts as background.

    >>> import numpy as np
    >>> one_hot(np.array([[0, 1], [2, 7]])).sum(axis=0).tolist(), one_hot(np.array([[7]]))[0].tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0]])
    """
    import numpy as np

    lab = np.asarray(labels)
    out = np.zeros((len(Label), *lab.shape), dtype=np.float32)
    for value in Label.structures():
        out[value] = lab == value
    out[Label.BACKGROUND] = 1.0 - out[1:].sum(axis=0)
    return out


def label_from_codes(scheme: str, code: str, modifiers: set[str] | frozenset[str]) -> Label | None:
    """The label of a SEG segment from its property type code and modifier code values
    (as :mod:`mri_measure.report.seg` writes them); ``None`` when it is not one of ours.

    >>> label_from_codes("SCT", "52082005", {"24028007"})
    <Label.LF_RIGHT: 3>
    >>> label_from_codes("SCT", "52082005", {"7771000", "24028007"}) is None
    True
    """
    if scheme.upper() not in SNOMED_SCHEMES:
        return None
    if code == SCT_DURA_MATER.value:
        return Label.CANAL
    sides = {m for m in modifiers if m in (SCT_LEFT.value, SCT_RIGHT.value)}
    if code == SCT_LIGAMENT.value and len(sides) == 1:
        return Label.LF_LEFT if SCT_LEFT.value in sides else Label.LF_RIGHT
    return None


def label_from_segment_label(text: str) -> Label | None:
    """The label whose SEG SegmentLabel is ``text`` (case and surrounding space ignored)."""
    wanted = text.strip().lower()
    for lab in Label.structures():
        if (lab.segment_label or "").lower() == wanted:
            return lab
    return None


class StackRole(_StrEnum):
    """What a stack is for (decided by :mod:`mri_measure.io.roles`)."""

    AXIAL_T2 = "axial_t2"
    SAGITTAL_T2 = "sagittal_t2"
    LOCALIZER = "localizer"
    OTHER = "other"


class LevelSource(_StrEnum):
    """Where a slice's disc level came from (:data:`LEVEL_SOURCE_PRECEDENCE` breaks
    ties when a level's slices disagree: a user's word first)."""

    SAGITTAL = "sagittal"
    AXIAL_BLOCKS = "axial_blocks"
    USER = "user"
    UNKNOWN = "unknown"

    @property
    def words(self) -> str:
        """How a report says it: ``sagittal``, ``axial blocks``, ``user``, ``unknown``."""
        return self.value.replace("_", " ")


class LevelMethod(_StrEnum):
    """How a level was found (``level_method`` in ``measurements.json`` 1.1): the
    :class:`LevelSource` refined by which sagittal disc finder named the discs.

    >>> LevelMethod.from_source("sagittal", "learned"), LevelMethod.from_source("axial_blocks")
    ('sagittal_disc_detector', 'axial_block_fallback')
    >>> LevelMethod.from_source("sagittal")  # a version-1 document does not say which finder
    'sagittal_discs'
    """

    SAGITTAL_DISC_DETECTOR = "sagittal_disc_detector"  # the learned detector on the sagittal T2
    SAGITTAL_COLUMN_ANALYSIS = "sagittal_column_analysis"  # its classical fallback
    SAGITTAL_DISCS = "sagittal_discs"  # discs on the sagittal T2, finder not recorded
    AXIAL_BLOCK_FALLBACK = "axial_block_fallback"  # counted over the axial blocks
    USER_OVERRIDE = "user_override"  # a reader's --level / napari correction
    NONE = "none"  # no level

    @classmethod
    def from_source(cls, source: LevelSource | str, disc_method: str | None = None) -> LevelMethod:
        """The method of a level whose source is ``source``; ``disc_method`` is
        :attr:`DiscPlane.method <mri_measure.types.DiscPlane.method>` of the discs
        that named it (``"learned"`` or ``"classical"``), when known."""
        src = LevelSource(source)
        if src is LevelSource.SAGITTAL:
            return {"learned": cls.SAGITTAL_DISC_DETECTOR,
                    "classical": cls.SAGITTAL_COLUMN_ANALYSIS}.get(disc_method or "", cls.SAGITTAL_DISCS)
        return {LevelSource.AXIAL_BLOCKS: cls.AXIAL_BLOCK_FALLBACK, LevelSource.USER: cls.USER_OVERRIDE,
                LevelSource.UNKNOWN: cls.NONE}[src]


#: Tie-break order of level sources (first wins).
LEVEL_SOURCE_PRECEDENCE = (LevelSource.USER, LevelSource.SAGITTAL, LevelSource.AXIAL_BLOCKS,
                           LevelSource.UNKNOWN)

__all__ = [
    "Code", "Label", "LevelMethod", "LevelSource", "LEVEL_SOURCE_PRECEDENCE", "SNOMED_SCHEMES", "StackRole",
    "SCT_ANATOMICAL_STRUCTURE", "SCT_DURA_MATER", "SCT_LEFT", "SCT_LIGAMENT", "SCT_LUMBAR_SPINE",
    "SCT_RIGHT", "label_from_codes", "label_from_segment_label", "one_hot",
]
