"""DICOM ingestion: discover studies/stacks (headers only), load stack pixels.

Public API (see docs/INTERNAL_API.md):

- :func:`discover` — ``path -> Discovery`` (CD/DICOMDIR/folder/zip/file).
- :func:`load_stack` — ``Stack -> LoadedStack`` (float32, rescaled, checked).
- :func:`read_headers` — ``Stack -> list[Dataset]`` (no pixels, slice order).
"""

from .discover import discover
from .load import load_stack, read_headers

__all__ = ["discover", "load_stack", "read_headers"]
