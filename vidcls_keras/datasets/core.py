"""What the two TFDS video builders share: listing, splits, per-video embedding, cache, report.

`builders/youtube_videos` and `builders/video_folder` are thin `tfds.core.GeneratorBasedBuilder`s
that mix in `VideoEmbeddingsMixin` and differ only in how they list their videos. Everything
else happens here, once:

    list videos -> assign_splits -> EmbeddingJob per video -> (key, example) -> TFDS writer
                                    (plain generator, or Beam when tfds build gets Beam options)

Per video, `EmbeddingJob` hashes the file, looks up the embedding cache, and on a miss samples
`num_frames` frames (`vidcls_keras.video.sample_frames`), embeds them with the CLIP image encoder
(`vidcls_keras.clip.FrameEmbedder`) and stores the result in the cache (temp file + `os.replace`,
so a killed build leaves no half entry and a rerun embeds only what is missing).

The embedder is chosen per builder instance: `Builder(embedder="tiny:0")` in Python, or the
environment variable `VIDCLS_EMBEDDER` for `tfds build` (which passes no builder arguments to a
builder given by path); default `preset:clip-vit-base-patch32`. Its spec, embedding width and
weights fingerprint go into the dataset's `metadata.json`, and a dataset or cache made by another
embedder is refused with `EmbedderMismatchError`.

Videos that cannot be decoded are left out and listed, with the reason, in `build_report.json` /
`build_report.csv` inside the dataset's version folder (written before TFDS renames its temporary
folder into place, so a finished dataset always has its report).
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import pathlib
import re
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "preset:clip-vit-base-patch32"
EMBEDDER_ENV = "VIDCLS_EMBEDDER"
EMBEDDER_KINDS = ("preset", "hf", "tiny")
CACHE_DIR_ENV = "VIDCLS_CACHE_DIR"
DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/vidcls_keras/embeddings")
# Bump when what a cache entry holds, or how it is computed, changes: old entries are then unused.
CACHE_FORMAT = 2  # 2: fingerprints no longer hash Keras weight paths (per-process names)

SPLIT_NAMES = ("train", "validation", "test")
TEST_FRACTION = 0.1  # the original's 90/10 train/test split
VALIDATION_FRACTION = 0.1  # of what is left after the test split
SPLIT_SEED = 0
MIN_VIDEOS = 3  # one per split

REPORT_JSON = "build_report.json"
REPORT_CSV = "build_report.csv"
REPORT_CSV_FIELDS = ("video_id", "label", "split", "status", "reason", "path")
_STATUS_FILE = "build_status-{split}.json"  # one per split, merged into the report at the end

FRAME_SIZE = 224
FRAME_INDEX_RULE = "int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % num_frames"
SPLIT_RULE = (
    "ids sorted; test = ceil(10%) of all, validation = ceil(10%) of the rest, train = the rest; "
    "sklearn.model_selection.train_test_split(random_state=0), stratified by label, unless a "
    "class has fewer than 2 videos or a split has fewer places than there are classes, in which "
    "case that split is drawn unstratified (same seed) and the report says so. Videos that fail "
    "to decode are dropped from the split they were assigned to; nothing moves between splits."
)


class EmbedderMismatchError(ValueError):
    """A dataset or an embedding cache was made by a different embedder than the one requested."""


class VideoListError(ValueError):
    """The manual data cannot be turned into a labelled list of videos."""


# --------------------------------------------------------------------------------------------
# Builder configs.


@dataclasses.dataclass
class VideoConfig(tfds.core.BuilderConfig):
    """A builder config: how many evenly spaced frames to embed per video.

    Attributes:
        num_frames: frames sampled per video (fewer for videos that have fewer frames).
    """

    num_frames: int = 100


def frame_configs() -> list[VideoConfig]:
    """The configs both builders offer: `frames100` (the original's) and `frames16` (quick)."""
    return [
        VideoConfig(
            name="frames100",
            num_frames=100,
            description="100 evenly spaced frames per video, as in the original project.",
        ),
        VideoConfig(
            name="frames16",
            num_frames=16,
            description="16 evenly spaced frames per video: about 6x faster to build.",
        ),
    ]


# --------------------------------------------------------------------------------------------
# The embedder: chosen by spec, loaded lazily once per process.


def validate_embedder_spec(spec: str, *, source: str = "embedder") -> str:
    """Checks the form of an embedder spec (`preset:<name-or-dir>`, `hf:<dir>`, `tiny:<seed>`).

    Args:
        spec: the spec to check.
        source: where it came from, named in the error (e.g. the environment variable).

    Returns:
        The spec, stripped.

    Raises:
        ValueError: the spec is not of that form.
    """
    spec = spec.strip()
    kind, sep, value = spec.partition(":")
    problem = None
    if not sep or not value:
        problem = "it has no '<kind>:<value>' form"
    elif kind not in EMBEDDER_KINDS:
        problem = f"unknown kind {kind!r}"
    elif kind == "tiny" and not re.fullmatch(r"-?\d+", value):
        problem = "a tiny embedder's value is its integer seed"
    if problem:
        raise ValueError(
            f"{source}={spec!r}: {problem}. Use 'preset:clip-vit-base-patch32' (default), "
            "'preset:/path/to/preset_dir', 'hf:/path/to/huggingface_checkpoint' or 'tiny:<seed>' "
            "(random weights, for tests)."
        )
    return spec


def requested_embedder(embedder: str | None) -> tuple[str, bool]:
    """The embedder spec a builder should use, and whether it was asked for explicitly.

    Order: the `embedder` argument, else `$VIDCLS_EMBEDDER`, else `DEFAULT_EMBEDDER`.

    Returns:
        `(spec, explicit)`; `explicit` is False only for the default.
    """
    if embedder is not None:
        return validate_embedder_spec(embedder, source="embedder"), True
    from_env = os.environ.get(EMBEDDER_ENV, "").strip()
    if from_env:
        return validate_embedder_spec(from_env, source=f"${EMBEDDER_ENV}"), True
    return DEFAULT_EMBEDDER, False


_EMBEDDERS: dict[str, Any] = {}  # spec -> FrameEmbedder, one per process (and Beam worker)
_FINGERPRINTS: dict[str, str] = {}


def _use_project_keras_backend() -> None:
    """Makes Keras run on the backend vidcls_keras chose (`$KERAS_BACKEND`, default jax).

    `import tensorflow` imports Keras, so under `tfds build` (and in Beam workers, which may
    unpickle TFDS objects before ours) Keras is loaded with its own default backend, TensorFlow,
    before `vidcls_keras/__init__.py` could set `KERAS_BACKEND=jax`. The embedder would then run
    on TensorFlow, and its embeddings would differ in the last bits from those of a Python
    build or of an earlier run that filled the cache. Keras is reloaded with the chosen backend
    here, before any Keras object of ours exists.

    Raises:
        RuntimeError: vidcls_keras' Keras code was already imported with the other backend.
    """
    import keras

    wanted = os.environ.get("KERAS_BACKEND", "jax")
    if keras.backend.backend() == wanted:
        return
    if "vidcls_keras.clip" in sys.modules:  # too late: its classes hold the old Keras
        raise RuntimeError(
            f"Keras runs on {keras.backend.backend()!r}, not {wanted!r}: something imported "
            "keras (tensorflow does) before vidcls_keras. Import vidcls_keras first, or set "
            f"KERAS_BACKEND={wanted} in the environment."
        )
    logger.warning(
        "Keras was imported with the %r backend before vidcls_keras set KERAS_BACKEND=%s "
        "(tensorflow imports keras); reloading Keras with %r.",
        keras.backend.backend(),
        wanted,
        wanted,
    )
    with warnings.catch_warnings():
        # Keras warns that objects made before the switch are unusable: none exist yet.
        warnings.simplefilter("ignore", UserWarning)
        keras.config.set_backend(wanted)


_BACKEND_LOCK = threading.Lock()


def _clip_module():
    """`vidcls_keras.clip`, imported only once Keras runs on the project's backend.

    Imported lazily: reading a built dataset needs neither Keras nor CLIP weights.
    """
    with _BACKEND_LOCK:  # the plain path's lookahead thread may get here too
        _use_project_keras_backend()
        from vidcls_keras.clip import image as clip
    return clip


def load_embedder(spec: str):
    """The `FrameEmbedder` for `spec`, loaded on first use and kept for the process's lifetime.

    Raises:
        ValueError: it cannot be loaded (the message names the spec and how to choose another).
    """
    if spec not in _EMBEDDERS:
        try:
            embedder = _clip_module().FrameEmbedder.from_spec(spec)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"embedder {spec!r} could not be loaded: {str(error).rstrip('.')}. Choose the embedder with "
                f"${EMBEDDER_ENV} (or the builder's `embedder=` argument), e.g. "
                f"{EMBEDDER_ENV}=tiny:0 for a quick test or "
                f"{EMBEDDER_ENV}=preset:/path/to/preset_dir."
            ) from error
        # Also under its canonical spec (relative directories made absolute), which the
        # dataset records and the per-video jobs ask for.
        _EMBEDDERS[spec] = _EMBEDDERS[embedder.spec] = embedder
    return _EMBEDDERS[spec]


def embedder_fingerprint(spec: str) -> str:
    """sha256 over the image encoder's weights (shapes and float32 bytes), cached per process.

    Two embedders with the same spec but different weights (a preset folder that was
    re-converted, say) get different fingerprints, so caches and datasets cannot mix them.
    """
    if spec not in _FINGERPRINTS:
        _FINGERPRINTS[spec] = weights_fingerprint(load_embedder(spec).image_encoder)
    return _FINGERPRINTS[spec]


def weights_fingerprint(model: keras.Model) -> str:
    """sha256 over `model.weights` in order: position, shape, dtype and float bytes of each.

    Not the weights' paths: Keras makes layer names unique per process ("residual_attention_2"
    once another encoder was built), and a fingerprint must match across processes (Beam
    workers, later builds reading the cache).
    """
    digest = hashlib.sha256()
    for index, weight in enumerate(model.weights):
        value = np.asarray(weight.value)
        digest.update(repr((index, value.shape, str(value.dtype))).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Listing the videos.


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to turn into an example.

    Attributes:
        video_id: unique id, also the TFDS key (YouTube id, or `<class>/<file name>`).
        path: absolute path of the file.
        label: class name.
        title: title ("" when unknown).
    """

    video_id: str
    path: str
    label: str
    title: str = ""


@dataclasses.dataclass
class VideoList:
    """What a builder found in its manual folder.

    Attributes:
        videos: the videos to embed.
        class_names: label names, in label-index order.
        problems: one dict per listed-but-unusable item (`video_id`, `label`, `status`, `reason`,
            `path`), e.g. status `missing` for a CSV row whose video is not on disk.
        source: facts about the input for the report (paths, CSV cleaning counts, ...).
    """

    videos: list[Video]
    class_names: list[str]
    problems: list[dict[str, str]] = dataclasses.field(default_factory=list)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)


def video_features(class_names: Sequence[str] | None, embed_dim: int) -> tfds.features.FeaturesDict:
    """The features of every video dataset of the project (both builders, test and bench data).

    Args:
        class_names: the label names; None sets them at build time.
        embed_dim: width of one frame embedding.

    Returns:
        `video_id`, `title`, `label`, `embeddings` (num_frames, embed_dim) float32, `num_frames`,
        and the dataset's fixed `frame` (FRAME_SIZE, FRAME_SIZE, 3) uint8.
    """
    label = (
        tfds.features.ClassLabel(names=list(class_names))
        if class_names is not None
        else tfds.features.ClassLabel()
    )
    return tfds.features.FeaturesDict(
        {
            "video_id": tfds.features.Text(doc="YouTube id, or <class>/<file name>."),
            "title": tfds.features.Text(doc='Video title ("" when unknown).'),
            "label": label,
            "embeddings": tfds.features.Tensor(
                shape=(None, embed_dim),
                dtype=np.float32,
                doc="CLIP image embedding of each sampled frame, in time order.",
            ),
            "num_frames": tfds.features.Scalar(
                dtype=np.int32, doc="Rows of `embeddings` (fewer for short videos)."
            ),
            "frame": tfds.features.Image(
                shape=(FRAME_SIZE, FRAME_SIZE, 3),
                doc=f"Sampled frame number {FRAME_INDEX_RULE}, resized + center-cropped.",
            ),
        }
    )


def _problem(video_id: str, label: str, status: str, reason: str, path: str = "") -> dict:
    return {
        "video_id": video_id,
        "label": label,
        "split": "",
        "status": status,
        "reason": reason,
        "path": path,
    }


def list_video_folder(root: str | os.PathLike) -> VideoList:
    """Lists `<root>/<class>/<file>`: class names are the sub-folder names, sorted.

    Only files directly inside a class folder whose suffix is in
    `vidcls_keras.video.VIDEO_EXTENSIONS` are videos; hidden entries are ignored, and other files
    and nested folders are listed in the report as `skipped`. Video ids are `<class>/<file name>`.

    Raises:
        VideoListError: `root` has no class folder, or a class folder has no video.
    """
    from vidcls_keras.video import VIDEO_EXTENSIONS

    root = pathlib.Path(root)
    if not root.is_dir():
        raise VideoListError(f"manual_dir {root} is not a folder: pass --manual_dir <folder>.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise VideoListError(
            f"manual_dir {root} has no class folders: put videos in <manual_dir>/<class>/<file>."
        )
    videos, problems, empty = [], [], []
    for class_dir in class_dirs:
        found = 0
        for path in sorted(class_dir.iterdir()):
            video_id = f"{class_dir.name}/{path.name}"
            if path.name.startswith("."):
                continue
            if path.is_dir():
                reason = "nested folder ignored: only <class>/<file> is read"
                problems.append(
                    _problem(video_id, class_dir.name, "skipped", reason, str(path.absolute()))
                )
            elif path.suffix.lower() not in VIDEO_EXTENSIONS:
                reason = f"suffix {path.suffix!r} is not one of {', '.join(VIDEO_EXTENSIONS)}"
                problems.append(
                    _problem(video_id, class_dir.name, "skipped", reason, str(path.absolute()))
                )
            else:
                videos.append(Video(video_id, str(path.absolute()), class_dir.name))
                found += 1
        if not found:
            empty.append(class_dir.name)
    if empty:
        raise VideoListError(
            f"class folder(s) {', '.join(empty)} in {root} hold no video "
            f"({', '.join(VIDEO_EXTENSIONS)}): add videos or remove the folder(s)."
        )
    return VideoList(
        videos=videos,
        class_names=[d.name for d in class_dirs],
        problems=problems,
        source={"manual_dir": str(root.absolute())},
    )


def list_youtube_videos(
    csv_path: str | os.PathLike, videos_dir: str | os.PathLike, class_names: Sequence[str]
) -> VideoList:
    """Lists the CSV's downloadable videos found as `<videos_dir>/<category>/<id>.<ext>`.

    The CSV is cleaned by `vidcls_keras.download.read_video_list`; a cleaned entry whose file is
    absent is reported as `missing` (with the downloader's reason from `manifest.csv` if it has
    one), never silently dropped.

    Raises:
        VideoListError: the CSV is absent, or names a category outside `class_names`.
    """
    from vidcls_keras.youtube import download

    csv_path, videos_dir = pathlib.Path(csv_path), pathlib.Path(videos_dir)
    if not csv_path.is_file():
        raise VideoListError(
            f"{csv_path} not found: put the dataset's youtube.csv in the manual_dir (see the "
            "builder's MANUAL_DOWNLOAD_INSTRUCTIONS)."
        )
    entries, cleaning = download.read_video_list(csv_path)
    unknown = sorted({e.category for e in entries} - set(class_names))
    if unknown:
        raise VideoListError(
            f"{csv_path}: categories {unknown} are not among {list(class_names)}; "
            "use builders/video_folder for other classes."
        )
    manifest = {}
    if (videos_dir / download.MANIFEST_NAME).is_file():
        manifest = {row["id"]: row for row in download.read_manifest(videos_dir)}
    videos, problems = [], []
    for entry in entries:
        path = download.find_existing(videos_dir, entry)
        if path is None:
            row = manifest.get(entry.video_id)
            if row and row["status"] == "failed":
                reason = f"not on disk; download failed: {row['reason']}"
            else:
                reason = f"not on disk: no file {entry.category}/{entry.video_id}.* in {videos_dir}"
            problems.append(_problem(entry.video_id, entry.category, "missing", reason))
        else:
            videos.append(Video(entry.video_id, str(path.absolute()), entry.category, entry.title))
    return VideoList(
        videos=videos,
        class_names=list(class_names),
        problems=problems,
        source={
            "csv": str(csv_path.absolute()),
            "videos_dir": str(videos_dir.absolute()),
            "csv_rows_read": cleaning.rows_read,
            "csv_rows_rejected": cleaning.rejected_counts(),
            "csv_exact_duplicates": cleaning.exact_duplicates,
            "csv_entries": cleaning.num_entries,
        },
    )


# --------------------------------------------------------------------------------------------
# Splits.


def _split_off(
    videos: list[Video], fraction: float, seed: int, name: str
) -> tuple[list[Video], list[Video], str | None]:
    """`(rest, taken, note)`: ceil(fraction * n) videos taken, stratified when possible."""
    from sklearn.model_selection import train_test_split

    labels = [v.label for v in videos]
    counts = collections.Counter(labels)
    num_taken = math.ceil(fraction * len(videos))  # as sklearn rounds a float test_size
    note = None
    if min(counts.values()) < 2:
        small = sorted(label for label, count in counts.items() if count < 2)
        note = f"{name}: unstratified, classes with fewer than 2 videos: {small}"
    elif num_taken < len(counts) or len(videos) - num_taken < len(counts):
        note = (
            f"{name}: unstratified, {num_taken} of {len(videos)} places for {len(counts)} classes"
        )
    rest, taken = train_test_split(
        videos,
        test_size=num_taken,
        random_state=seed,
        shuffle=True,
        stratify=None if note else labels,
    )
    return rest, taken, note


def assign_splits(
    videos: Sequence[Video],
    *,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[dict[str, list[Video]], list[str]]:
    """Splits videos into train / validation / test, deterministically (see `SPLIT_RULE`).

    The result depends only on the set of `(video_id, label)` pairs (videos are sorted by id
    first), so the same videos always give the same splits, whatever the listing order.

    Args:
        videos: the videos (unique ids).
        test_fraction: share of all videos in `test` (rounded up).
        validation_fraction: share of the non-test videos in `validation` (rounded up).
        seed: `random_state` for sklearn.

    Returns:
        `({"train": [...], "validation": [...], "test": [...]}, notes)`, each list sorted by id;
        `notes` says which splits could not be stratified.

    Raises:
        VideoListError: fewer than `MIN_VIDEOS` videos, or duplicate ids.
    """
    ordered = sorted(videos, key=lambda v: v.video_id)
    ids = [v.video_id for v in ordered]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, c in collections.Counter(ids).items() if c > 1)
        raise VideoListError(f"duplicate video ids {duplicates[:5]}: ids must be unique.")
    if len(ordered) < MIN_VIDEOS:
        raise VideoListError(
            f"{len(ordered)} video(s) found: at least {MIN_VIDEOS} are needed (one per split)."
        )
    rest, test, test_note = _split_off(ordered, test_fraction, seed, "test")
    train, validation, validation_note = _split_off(rest, validation_fraction, seed, "validation")
    splits = {
        "train": sorted(train, key=lambda v: v.video_id),
        "validation": sorted(validation, key=lambda v: v.video_id),
        "test": sorted(test, key=lambda v: v.video_id),
    }
    return splits, [note for note in (test_note, validation_note) if note]


# --------------------------------------------------------------------------------------------
# The embedding cache.


def default_cache_dir() -> pathlib.Path:
    """`$VIDCLS_CACHE_DIR`, else `~/.cache/vidcls_keras/embeddings`."""
    return pathlib.Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, as hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def frame_index(video_id: str, num_frames: int) -> int:
    """Index of the stored frame among a video's `num_frames` sampled frames (`FRAME_INDEX_RULE`).

    Stable across runs, machines and Python's hash seed.
    """
    return int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % num_frames


def _atomic_write_bytes(path: pathlib.Path, data: bytes) -> None:
    """Writes `data` to a unique temp file beside `path`, then renames it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """Per-video embeddings on disk, keyed by file content, frame count and embedder.

    Layout: `<root>/<embedder slug>-<sha256(spec)[:12]>/embedder.json` (the spec, weights
    fingerprint and width that made every entry below it) and
    `.../frames<N>/<sha[:2]>/<sha256 of the video file>.npz` holding `embeddings` float32
    `(k, D)`, the stored `frame` uint8 `(224, 224, 3)` with its `frame_index`, and the spec and
    fingerprint again (checked on every read).

    Attributes:
        root: the cache folder (see `default_cache_dir`).
        spec: embedder spec.
        fingerprint: `embedder_fingerprint(spec)`.
        embed_dim: embedding width D.
    """

    root: str
    spec: str
    fingerprint: str
    embed_dim: int

    @property
    def folder(self) -> pathlib.Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.spec).strip("-")[:48]
        digest = hashlib.sha256(self.spec.encode()).hexdigest()[:12]
        return pathlib.Path(self.root) / f"v{CACHE_FORMAT}" / f"{slug}-{digest}"

    def check(self) -> None:
        """Creates `embedder.json`, or refuses a folder whose entries another embedder made.

        Raises:
            EmbedderMismatchError: same spec, different weights.
        """
        record = {"spec": self.spec, "fingerprint": self.fingerprint, "embed_dim": self.embed_dim}
        path = self.folder / "embedder.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != record:
                raise EmbedderMismatchError(
                    f"embedding cache {self.folder} was made by embedder {stored}, but this "
                    f"build uses {record}: the weights behind {self.spec!r} changed. Delete "
                    f"{self.folder} or point ${CACHE_DIR_ENV} elsewhere."
                )
        else:
            _atomic_write_bytes(path, json.dumps(record, indent=1).encode())

    def entry_path(self, content_sha256: str, num_frames: int) -> pathlib.Path:
        return self.folder / f"frames{num_frames}" / content_sha256[:2] / f"{content_sha256}.npz"

    def load(self, content_sha256: str, num_frames: int) -> dict[str, np.ndarray] | None:
        """The entry's arrays, or None when there is none.

        Raises:
            EmbedderMismatchError: the entry was written by another embedder.
        """
        path = self.entry_path(content_sha256, num_frames)
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            with np.load(handle) as npz:
                entry = {name: npz[name] for name in npz.files}
        if str(entry["spec"]) != self.spec or str(entry["fingerprint"]) != self.fingerprint:
            raise EmbedderMismatchError(
                f"cache entry {path} was written by embedder {str(entry['spec'])!r} "
                f"({str(entry['fingerprint'])[:12]}), not {self.spec!r} "
                f"({self.fingerprint[:12]}): delete it."
            )
        return entry

    def save(
        self,
        content_sha256: str,
        num_frames: int,
        embeddings: np.ndarray,
        frame: np.ndarray,
        index: int,
    ) -> None:
        """Stores an entry atomically (a reader sees the whole entry or none)."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            embeddings=embeddings,
            frame=frame,
            frame_index=np.int64(index),
            spec=np.str_(self.spec),
            fingerprint=np.str_(self.fingerprint),
        )
        _atomic_write_bytes(self.entry_path(content_sha256, num_frames), buffer.getvalue())


# --------------------------------------------------------------------------------------------
# The per-video function (plain and Beam paths both call it).


@dataclasses.dataclass
class VideoResult:
    """What became of one video.

    Attributes:
        video: the video.
        status: `embedded` (computed now), `cached` (read from the cache) or `failed`.
        reason: why it failed ("" otherwise).
        example: the TFDS example (None when failed).
    """

    video: Video
    status: str
    reason: str = ""
    example: dict[str, Any] | None = None

    def status_row(self, split: str) -> dict[str, str]:
        return {
            "video_id": self.video.video_id,
            "label": self.video.label,
            "split": split,
            "status": self.status,
            "reason": self.reason,
            "path": self.video.path,
        }


@dataclasses.dataclass
class _Prepared:
    """A video after the CPU half of `EmbeddingJob`: hashed, looked up, decoded on a miss.

    Attributes:
        video: the video.
        content_sha256: sha256 of its file.
        embeddings: float32 `(k, D)` from the cache, or None (embed `pixels`).
        pixels: float32 `(k, 224, 224, 3)`, CLIP-preprocessed frames (cache miss only).
        frame: uint8 `(224, 224, 3)`, the stored frame.
        failure: why the video cannot be used ("" when it can).
    """

    video: Video
    content_sha256: str = ""
    embeddings: np.ndarray | None = None
    pixels: np.ndarray | None = None
    frame: np.ndarray | None = None
    failure: str = ""


MAX_ENCODER_BATCH = 32  # clip.DEFAULT_BATCH_SIZE: the fastest of 8/16/32/64 on 2 CPU cores


def encoder_batch_size(num_frames: int) -> int:
    """Frames per encoder call for `num_frames`-frame videos: equal calls of <= 32 frames.

    100 -> 4 calls of 25, 16 -> 1 call of 16: a full-length video needs no padding rows (with
    `FrameEmbedder`'s fixed 32 a 16-frame video would be half padding). Each video is embedded
    on its own, always in the same rows of the same-shaped calls, so its embeddings are bit for
    bit the same whichever other videos a build embeds (resumed, plain or Beam); packing frames
    of several videos into one call would change their last bits. A change of this rule must
    bump `CACHE_FORMAT`.
    """
    calls = math.ceil(num_frames / MAX_ENCODER_BATCH)
    return math.ceil(num_frames / calls)


_BATCHED: dict[tuple[str, int], Any] = {}  # (spec, batch size) -> FrameEmbedder sharing weights


def _embed_pixels(spec: str, pixels: np.ndarray, batch_size: int) -> np.ndarray:
    """Embeds one video's CLIP-preprocessed pixels `(k, 224, 224, 3)`: float32 `(k, D)`."""
    if (spec, batch_size) not in _BATCHED:
        embedder = load_embedder(spec)
        _BATCHED[spec, batch_size] = type(embedder)(
            embedder.image_encoder, spec=embedder.spec, batch_size=batch_size
        )
    return np.asarray(_BATCHED[spec, batch_size].embed(pixels), dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class EmbeddingJob:
    """Turns one `Video` into a `VideoResult`; picklable, so Beam workers can run it.

    `prepare` (hash, cache lookup, decode, CLIP preprocessing) and `finish` (the encoder, cache
    write, example) are separate so that the plain path can run the next video's `prepare` in a
    thread while this one's `finish` runs; `__call__` runs both, as Beam does. The embedder is
    loaded lazily, once per process, on the first cache miss (so a fully cached rebuild never
    loads it), and its weights are checked against `fingerprint` there.

    Attributes:
        spec: embedder spec.
        fingerprint: the driver's `embedder_fingerprint(spec)`.
        embed_dim: embedding width D.
        num_frames: frames to sample per video.
        cache_root: embedding cache folder.
    """

    spec: str
    fingerprint: str
    embed_dim: int
    num_frames: int
    cache_root: str

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.cache_root, self.spec, self.fingerprint, self.embed_dim)

    def __call__(self, video: Video) -> VideoResult:
        return self.finish(self.prepare(video))

    def prepare(self, video: Video) -> _Prepared:
        """The CPU half: hash the file, look it up in the cache, decode and preprocess on a miss.

        Raises:
            EmbedderMismatchError: the cache entry was made by another embedder.
        """
        from vidcls_keras.video import VideoDecodeError, sample_frames

        clip = _clip_module()

        prepared = _Prepared(video)
        try:
            prepared.content_sha256 = file_sha256(video.path)
        except OSError as error:
            prepared.failure = f"cannot read the file: {error}"
            return prepared
        cached = self.cache.load(prepared.content_sha256, self.num_frames)
        if cached is not None:
            prepared.embeddings = cached["embeddings"]
            index = frame_index(video.video_id, len(prepared.embeddings))
            if int(cached["frame_index"]) == index:
                prepared.frame = cached["frame"]
                return prepared
            # The same file under another id stores another frame: decode it, embed nothing.
        try:
            frames = sample_frames(video.path, self.num_frames)
        except VideoDecodeError as error:
            prepared.failure = f"cannot decode: {error}"
            return prepared
        if prepared.embeddings is not None and len(frames) != len(prepared.embeddings):
            raise ValueError(
                f"{video.path}: {len(frames)} frames decode now, {len(prepared.embeddings)} "
                f"when it was cached: delete {self.cache.folder} (the decoder changed)."
            )
        index = frame_index(video.video_id, len(frames))
        prepared.frame = clip.center_crop_uint8(frames[index : index + 1])[0]
        if prepared.embeddings is None:
            prepared.pixels = clip.preprocess(frames)
        return prepared

    def finish(self, prepared: _Prepared) -> VideoResult:
        """The encoder half: embed on a cache miss, store the entry, build the example."""
        video = prepared.video
        if prepared.failure:
            return VideoResult(video, "failed", prepared.failure)
        if prepared.embeddings is not None:
            embeddings, status = prepared.embeddings, "cached"
        else:
            if embedder_fingerprint(self.spec) != self.fingerprint:
                raise EmbedderMismatchError(
                    f"embedder {self.spec!r} in process {os.getpid()} does not have the weights "
                    "the build started with: give every worker the same weights."
                )
            embeddings = _embed_pixels(
                self.spec, prepared.pixels, encoder_batch_size(self.num_frames)
            )
            if embeddings.shape != (len(prepared.pixels), self.embed_dim):
                raise ValueError(
                    f"embedder {self.spec!r} returned shape {embeddings.shape} for "
                    f"{len(prepared.pixels)} frames; expected (k, {self.embed_dim})."
                )
            index = frame_index(video.video_id, len(embeddings))
            self.cache.save(
                prepared.content_sha256, self.num_frames, embeddings, prepared.frame, index
            )
            status = "embedded"
        example = {
            "video_id": video.video_id,
            "title": video.title,
            "label": video.label,
            "embeddings": np.asarray(embeddings, dtype=np.float32),
            "num_frames": np.int32(len(embeddings)),
            "frame": np.asarray(prepared.frame, dtype=np.uint8),
        }
        return VideoResult(video, status, example=example)


def _write_status(rows: list[dict[str, str]], path: str) -> None:
    """Writes one split's status rows (epath: under Beam the data_dir may be a bucket)."""
    rows = sorted(rows, key=lambda row: row["video_id"])
    epath.Path(path).write_text(json.dumps(rows, indent=1))


def plain_examples(
    videos: Sequence[Video], job: EmbeddingJob, split: str, status_path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields `(video_id, example)` in id order; decodes the next video while embedding this one.

    Writes the per-video statuses to `status_path` once all videos are done.
    """
    rows = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # One video of lookahead: decoding (OpenCV), resizing (PIL) and XLA release the GIL.
        pending = pool.submit(job.prepare, videos[0]) if videos else None
        for position in range(len(videos)):
            prepared = pending.result()
            if position + 1 < len(videos):
                pending = pool.submit(job.prepare, videos[position + 1])
            result = job.finish(prepared)
            rows.append(result.status_row(split))
            if result.example is not None:
                yield result.video.video_id, result.example
    if not any(row["status"] != "failed" for row in rows):
        raise VideoListError(
            f"split {split!r}: all {len(rows)} of its videos failed to decode "
            f"({rows[0]['reason'] if rows else 'no videos'}); TFDS cannot write an empty split."
        )
    _write_status(rows, status_path)


def beam_examples(videos: Sequence[Video], job: EmbeddingJob, split: str, status_path: str):
    """The same as `plain_examples`, as a Beam `PTransform` (one element per video).

    `Reshuffle` breaks fusion with `Create`, so the runner spreads videos over its workers.
    """
    beam = tfds.core.lazy_imports.apache_beam

    def expand(pipeline):
        results = (
            pipeline
            | "Videos" >> beam.Create(list(videos))
            | "Spread" >> beam.Reshuffle()
            | "Embed" >> beam.Map(job)
        )
        _ = (
            results
            | "StatusRow" >> beam.Map(VideoResult.status_row, split)
            | "AllRows" >> beam.combiners.ToList()
            | "WriteStatus" >> beam.Map(_write_status, path=status_path)
        )
        return (
            results
            | "Succeeded" >> beam.Filter(lambda result: result.example is not None)
            | "KeyExample" >> beam.Map(lambda result: (result.video.video_id, result.example))
        )

    return beam.ptransform_fn(expand)()


# --------------------------------------------------------------------------------------------
# The report.


def _count(rows: list[dict[str, str]], key: str) -> dict[str, int]:
    return dict(sorted(collections.Counter(row[key] for row in rows).items()))


def write_report(
    folder: epath.PathLike,
    *,
    header: Mapping[str, Any],
    listing: VideoList,
    assigned: Mapping[str, Sequence[Video]],
    notes: Sequence[str],
) -> dict[str, Any]:
    """Merges the per-split status files in `folder` into `build_report.json` / `.csv`.

    Returns:
        The report's `summary` (counts only), also stored in the dataset's metadata.
    """
    folder = epath.Path(folder)
    rows, splits = [], {}
    for split, videos in assigned.items():
        path = folder / _STATUS_FILE.format(split=split)
        split_rows = json.loads(path.read_text()) if path.exists() else []
        if path.exists():
            path.unlink()
        rows += split_rows
        kept = [row for row in split_rows if row["status"] != "failed"]
        splits[split] = {
            "assigned": len(videos),
            "examples": len(kept),
            "failed": len(split_rows) - len(kept),
            "assigned_per_class": _count([{"label": v.label} for v in videos], "label"),
            "examples_per_class": _count(kept, "label"),
        }
    failed = [row for row in rows if row["status"] == "failed"]
    statuses = _count(rows, "status")
    summary = {
        "listed": len(listing.videos) + sum(p["status"] == "missing" for p in listing.problems),
        "missing": sum(p["status"] == "missing" for p in listing.problems),
        "skipped_files": sum(p["status"] == "skipped" for p in listing.problems),
        "failed": len(failed),
        "examples": sum(s["examples"] for s in splits.values()),
        "embedded": statuses.get("embedded", 0),
        "from_cache": statuses.get("cached", 0),
        "examples_per_split": {split: s["examples"] for split, s in splits.items()},
    }
    report = {
        **header,
        "summary": summary,
        "split_rule": SPLIT_RULE,
        "split_notes": list(notes),
        "splits": splits,
        "source": listing.source,
        "failed": failed,
        "missing": [p for p in listing.problems if p["status"] == "missing"],
        "skipped": [p for p in listing.problems if p["status"] == "skipped"],
    }
    # No temp file needed: this folder is TFDS' temporary one until the dataset is complete.
    (folder / REPORT_JSON).write_text(json.dumps(report, indent=1))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=REPORT_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(failed + report["missing"] + report["skipped"])
    (folder / REPORT_CSV).write_text(table.getvalue())
    return summary


def format_summary(name: str, summary: Mapping[str, Any], folder: os.PathLike | str) -> str:
    """One line: examples per split, failures, missing videos, cache use, where the report is."""
    per_split = ", ".join(f"{k} {v}" for k, v in summary["examples_per_split"].items())
    return (
        f"{name}: {summary['examples']} examples ({per_split}); {summary['failed']} failed to "
        f"decode, {summary['missing']} missing, {summary['skipped_files']} files skipped; "
        f"{summary['embedded']} embedded, {summary['from_cache']} from cache; report: "
        f"{pathlib.Path(folder) / REPORT_JSON}"
    )


# --------------------------------------------------------------------------------------------
# The builder mixin.


class VideoEmbeddingsMixin:
    """Shared behaviour of the video builders; mix into `tfds.core.GeneratorBasedBuilder`.

    A builder using it calls `video_features` and `video_metadata` in `_info`, returns
    `video_split_generators(listing)` from `_split_generators`, and
    `video_examples(videos, split)` from `_generate_examples`.

    Args (constructor):
        embedder: embedder spec; None reads `$VIDCLS_EMBEDDER`, else uses the default. When the
            dataset already exists, an explicit spec must match the one it was built with.
        **kwargs: for `tfds.core.GeneratorBasedBuilder` (`data_dir`, `config`, `version`, ...).
    """

    def __init__(self, *, embedder: str | None = None, **kwargs: Any):
        self._requested_spec, self._explicit_spec = requested_embedder(embedder)
        self._use_beam = False
        self._listing: VideoList | None = None
        self._assigned: dict[str, list[Video]] = {}
        self._split_notes: list[str] = []
        super().__init__(**kwargs)
        self._original_state["embedder"] = embedder  # so pickled builders keep their embedder

    # -- _info ------------------------------------------------------------------------------

    @property
    def embedder_spec(self) -> str:
        """The embedder of this dataset (stored one if built, else the requested one)."""
        return self._embedder_choice()[0]

    def _embedder_choice(self) -> tuple[str, int]:
        """`(spec, embed_dim)`, deciding between the stored dataset and the request.

        Raises:
            EmbedderMismatchError: an explicit request differs from the built dataset's.
        """
        if hasattr(self, "_choice"):
            return self._choice
        stored = None
        metadata_path = epath.Path(self.data_path) / "metadata.json"
        if metadata_path.exists():
            stored = json.loads(metadata_path.read_text())
        if stored and not self._explicit_spec:
            self._choice = (stored["embedder"], int(stored["embed_dim"]))
            return self._choice
        embedder = load_embedder(self._requested_spec)
        spec = embedder.spec
        if stored and stored["embedder"] != spec:
            raise EmbedderMismatchError(
                f"{self.data_path} was built with embedder {stored['embedder']!r}, not {spec!r}: "
                f"unset ${EMBEDDER_ENV} (or pass embedder={stored['embedder']!r}) to read it, or "
                "use another --data_dir (or tfds build --overwrite) to build with the new one."
            )
        self._choice = (spec, int(embedder.embed_dim))
        return self._choice

    def video_features(self, class_names: Sequence[str] | None) -> tfds.features.FeaturesDict:
        """The features of both builders, at the chosen embedder's width (see `video_features`)."""
        return video_features(class_names, self._embedder_choice()[1])

    def video_metadata(self) -> tfds.core.MetadataDict:
        """`metadata.json`: the embedder, frame count and split rule (the report adds counts)."""
        spec, embed_dim = self._embedder_choice()
        return tfds.core.MetadataDict(
            embedder=spec,
            embed_dim=embed_dim,
            num_frames=self.builder_config.num_frames,
            frame_index=FRAME_INDEX_RULE,
            split_rule=SPLIT_RULE,
        )

    # -- generation -------------------------------------------------------------------------

    def _download_and_prepare(self, dl_manager, download_config) -> None:
        # Beam only when tfds build / DownloadConfig was given a runner or pipeline options;
        # otherwise a plain generator, so building needs no apache-beam.
        self._use_beam = bool(download_config.beam_runner or download_config.beam_options)
        super()._download_and_prepare(dl_manager, download_config)
        if self._listing is None:  # TFDS returned early (max_examples_per_split=0)
            return
        spec, embed_dim = self._embedder_choice()
        summary = write_report(
            self.data_path,  # still TFDS' temporary folder: the report is renamed with the data
            header={
                "dataset": self.name,
                "config": self.builder_config.name,
                "version": str(self.version),
                "embedder": spec,
                "embedder_fingerprint": embedder_fingerprint(spec),
                "embed_dim": embed_dim,
                "num_frames": self.builder_config.num_frames,
                "class_names": self._listing.class_names,
                "runner": "beam" if self._use_beam else "plain",
            },
            listing=self._listing,
            assigned=self._assigned,
            notes=self._split_notes,
        )
        self.info.metadata["build_summary"] = summary

    def _post_download_and_prepare_hook(self) -> None:
        summary = self.info.metadata.get("build_summary")
        if summary:
            print(
                format_summary(f"{self.name}/{self.builder_config.name}", summary, self.data_path)
            )

    def video_split_generators(self, listing: VideoList) -> dict[str, Any]:
        """Assigns splits, checks the cache and returns `{split: self._generate_examples(...)}`."""
        spec, embed_dim = self._embedder_choice()
        label_feature = self.info.features["label"]
        if label_feature.num_classes is None:
            label_feature.names = listing.class_names
        elif list(label_feature.names) != list(listing.class_names):
            raise VideoListError(
                f"classes {listing.class_names} differ from {label_feature.names}."
            )
        fingerprint = embedder_fingerprint(spec)
        self.info.metadata["embedder_fingerprint"] = fingerprint
        self.info.metadata["class_names"] = list(listing.class_names)
        self._job = EmbeddingJob(
            spec=spec,
            fingerprint=fingerprint,
            embed_dim=embed_dim,
            num_frames=self.builder_config.num_frames,
            cache_root=str(default_cache_dir()),
        )
        self._job.cache.check()
        self._listing = listing
        self._assigned, self._split_notes = assign_splits(listing.videos)
        for note in self._split_notes:
            logger.warning("%s: %s", self.name, note)
        return {
            split: self._generate_examples(videos=self._assigned[split], split=split)
            for split in SPLIT_NAMES
        }

    def video_examples(self, videos: Sequence[Video], split: str):
        """A generator of `(key, example)`, or the equivalent Beam `PTransform`."""
        status_path = os.fspath(epath.Path(self.data_path) / _STATUS_FILE.format(split=split))
        if self._use_beam:
            return beam_examples(videos, self._job, split, status_path)
        return plain_examples(videos, self._job, split, status_path)
