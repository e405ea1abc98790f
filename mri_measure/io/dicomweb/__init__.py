"""Studies from a PACS, results back into it: DICOMweb (QIDO-RS, WADO-RS, STOW-RS)
with ``dicomweb-client`` (the ``pacs`` extra). docs/dicomweb.md tells the whole story.

- :mod:`.connection` — URLs, :class:`Connection` (auth, TLS, timeout; secrets never
  shown), the client, every server failure as one-line :class:`~mri_measure.errors.DicomwebError`;
- :mod:`.fetch` — :func:`fetch_study` / :func:`fetched_study`: the series the analysis
  needs, chosen from the headers before any pixel, into a (temporary) folder;
- :mod:`.search` — :func:`search_mr_studies` (batch over a server);
- :mod:`.stow` — :func:`store_files` (``--store-to``).
"""

from .connection import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WORKERS,
    ENV_CA_BUNDLE,
    ENV_PASSWORD,
    ENV_TOKEN,
    ENV_USER,
    Connection,
    first_value,
    is_url,
    open_client,
    request,
    split_study_url,
    where,
)
from .fetch import FetchReport, fetch_study, fetched_study, series_metadata, study_from_metadata, study_series
from .search import StudyHit, search_mr_studies
from .stow import Stored, store_files

__all__ = [
    "DEFAULT_TIMEOUT_S", "DEFAULT_WORKERS", "ENV_CA_BUNDLE", "ENV_PASSWORD", "ENV_TOKEN", "ENV_USER",
    "Connection", "FetchReport", "Stored", "StudyHit", "fetch_study", "fetched_study", "first_value",
    "is_url", "open_client", "request", "search_mr_studies", "series_metadata", "split_study_url",
    "store_files", "study_from_metadata", "study_series", "where",
]
