"""Shared fixtures. Real clips live in ../shared/data (never copied into the repository).

Constants and helpers that tests import live in support.py (see its docstring for why).
"""

import os
import pathlib
import shutil
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

# One JAX compilation cache for the whole run, shared by this process and the subprocesses it
# starts (the demo, the notebooks' kernels and the fresh-process tests inherit the variables):
# many tests compile the same tiny model, and XLA compiling it again is most of their time.
# Every program is cached (no minimum compile time or size). The folder is new for each run and
# removed at its end, so no run reads another's programs; a cached program is the compiled
# executable itself, so results are unchanged. A cache the user set is used as it is.
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="vidcls-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    if "jax" in sys.modules:  # imported before this file (by a plugin): set its config too
        import jax

        jax.config.update("jax_compilation_cache_dir", _JAX_CACHE)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

import pytest  # noqa: E402
from support import SHARED_VIDEOS, YOUTUBE_CSV, require_shared  # noqa: E402


def pytest_unconfigure(config: pytest.Config) -> None:
    """Removes the JAX compilation cache this run made (a user's own cache is left alone)."""
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_videos() -> pathlib.Path:
    """Folder of the 8 real clips; skips the test when ../shared/data is absent (fails in CI)."""
    return require_shared(SHARED_VIDEOS, "real clips")


@pytest.fixture(scope="session")
def youtube_csv() -> pathlib.Path:
    """The real Youtube Videos Dataset CSV; skips when ../shared/data is absent (fails in CI)."""
    return require_shared(YOUTUBE_CSV, "real dataset CSV")
