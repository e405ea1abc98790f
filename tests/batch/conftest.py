"""Fixtures for the batch tests: a pool of tiny synthetic studies written once
per session, and per-test archives assembled from copies of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.batch.batch_archive import build_pool

POOL_SIZE = 6


@pytest.fixture(scope="session")
def pool(tmp_path_factory) -> list[Path]:
    return build_pool(tmp_path_factory.mktemp("batch-pool"), POOL_SIZE)
