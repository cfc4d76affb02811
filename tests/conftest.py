"""Shared fixtures. Real clips live in ../shared/data (never copied into the repository).

Constants and helpers that tests import live in support.py (see its docstring for why).
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402
from support import SHARED_VIDEOS, YOUTUBE_CSV, require_shared  # noqa: E402


@pytest.fixture(scope="session")
def shared_videos() -> pathlib.Path:
    """Folder of the 8 real clips; skips the test when ../shared/data is absent (fails in CI)."""
    return require_shared(SHARED_VIDEOS, "real clips")


@pytest.fixture(scope="session")
def youtube_csv() -> pathlib.Path:
    """The real Youtube Videos Dataset CSV; skips when ../shared/data is absent (fails in CI)."""
    return require_shared(YOUTUBE_CSV, "real dataset CSV")
