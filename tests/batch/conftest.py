"""Fixtures for the batch tests: a pool of tiny synthetic studies written once
per session, and per-test archives assembled from copies of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from batch_archive import build_pool  # noqa: E402

POOL_SIZE = 6


@pytest.fixture(scope="session")
def pool(tmp_path_factory) -> list[Path]:
    return build_pool(tmp_path_factory.mktemp("batch-pool"), POOL_SIZE)
