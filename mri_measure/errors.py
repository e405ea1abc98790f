"""Typed errors.

Every error a user can cause (bad input, missing model, impossible option)
is an :class:`MriMeasureError`; the CLI prints its message as one line on
stderr and exits with code 2.  Anything else escaping is a bug (exit 1).

Messages say what is wrong and what to do, and never carry patient data or
file paths from the input (they may name a file *kind*, a tag keyword, or an
opaque index).
"""

from __future__ import annotations


class MriMeasureError(Exception):
    """Base class of every error the user can act on."""

    exit_code = 2


class InputError(MriMeasureError):
    """The input (path, archive, DICOM content) is unusable."""


class NoDicomError(InputError):
    """No DICOM files were found at the given path."""


class NoAxialT2Error(InputError):
    """The study has no axial T2 stack to measure."""


class AmbiguousSeriesError(InputError):
    """Several candidate axial T2 series; the user must pick one with --series."""


class IntegrityError(InputError):
    """A DICOM file parsed but its content cannot be trusted (truncated,
    inconsistent pixel data length, values beyond BitsStored, bad geometry)."""


class UnsupportedError(InputError):
    """Valid DICOM that this tool cannot use (wrong modality, unsupported syntax)."""


class ModelError(MriMeasureError):
    """The segmentation model bundle is missing, corrupt or incompatible."""


class OptionError(MriMeasureError):
    """A command-line or API option is invalid."""


class OutputError(MriMeasureError):
    """The output folder cannot be used: not a folder, not writable, no free
    space, busy with another run, or holding another study's results."""


class DicomwebError(InputError):
    """A DICOMweb server could not be used: unreachable, credentials refused
    (401/403), study not found (404), a timeout, or another HTTP failure.
    Messages name the server only as ``scheme://host:port`` (never credentials)."""
