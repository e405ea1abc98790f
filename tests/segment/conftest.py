import pytest

from mri_measure.segment.bundle import default_bundle_dir


@pytest.fixture(scope="session")
def shipped():
    """The shipped segmenter (real weights)."""
    from mri_measure.segment import load_segmenter

    assert (default_bundle_dir() / "metadata.json").is_file(), "shipped bundle missing"
    return load_segmenter()
