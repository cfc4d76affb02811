"""Tests for vidcls_keras.inference.classifier: VideoClassifier on real clips, tiny models.

The two kinds of model (a training output directory, an end-to-end file) agree; a sequence head's
embeddings are the dataset's, bit for bit (`embedding.pipeline`).
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from inference_runs import (  # noqa: E402, F401 (fixtures)
    ATOL,
    CLIP_NAME,
    LABELS,
    MAX_FRAMES,
    classifier,
    embedder,
    end_to_end,
    end_to_end_path,
    reference_softmax,
    train_dir,
    write_train_dir,
)

from vidcls_keras import (
    clip,  # noqa: E402
    video,  # noqa: E402
)
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.inference.classifier import VideoClassifier, pad_frames  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.models.end_to_end import EndToEndClassifier  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402


def test_predict_each_shared_clip(classifier, embedder, shared_videos):
    clips = sorted(p for p in shared_videos.iterdir() if p.suffix in video.VIDEO_EXTENSIONS)
    assert len(clips) == 8
    for path in clips:
        probabilities = classifier.predict_proba(path)
        assert probabilities.shape == (len(LABELS),)
        np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
        # The training-time path, spelled out: embed_video -> pad -> head -> softmax.
        frames, padding_mask = pad_frames(
            pipeline.embed_video(embedder, path, MAX_FRAMES), MAX_FRAMES
        )
        logits = classifier.model.predict_on_batch({"frames": frames, "padding_mask": padding_mask})
        np.testing.assert_allclose(probabilities, reference_softmax(logits)[0], atol=ATOL)
        predictions = classifier.predict(path, top_k=3)
        assert [p["label"] for p in predictions] == [
            LABELS[i] for i in np.argsort(-probabilities, kind="stable")[:3]
        ]
        scores = [p["score"] for p in predictions]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(score, float) for score in scores)


def test_predict_accepts_frames_and_matches_the_path(classifier, shared_videos):
    path = shared_videos / CLIP_NAME
    frames = video.sample_frames(path, MAX_FRAMES)
    assert classifier.predict(frames, top_k=4) == classifier.predict(path, top_k=4)
    assert len(classifier(frames, top_k=10)) == len(LABELS)  # top_k is capped
    with pytest.raises(ValueError, match="uint8"):
        classifier.predict(frames.astype(np.float32))
    with pytest.raises(ValueError, match="1 to 4"):
        classifier.predict(np.concatenate([frames, frames]))


def test_num_frames_defaults_to_the_model_and_is_checked(train_dir, shared_videos):
    assert VideoClassifier.load(train_dir).num_frames == MAX_FRAMES
    two = VideoClassifier.load(train_dir, num_frames=2)
    assert two.frames(shared_videos / CLIP_NAME).shape[0] == 2
    assert len(two.predict(shared_videos / CLIP_NAME)) == 3
    with pytest.raises(ValueError, match="num_frames=5"):
        VideoClassifier.load(train_dir, num_frames=5)


def test_end_to_end_reproduces_training_embeddings_and_head(
    end_to_end, classifier, embedder, shared_videos
):
    """Encoder in the artefact == embedding.pipeline.embed_video; probabilities == softmax(head)."""
    model = end_to_end.model
    assert isinstance(model, EndToEndClassifier)
    assert model.label_names == list(LABELS)
    assert model.num_frames == MAX_FRAMES
    assert model.embedder_spec == embedder.spec == "tiny:0"

    path = shared_videos / CLIP_NAME
    training_embeddings = pipeline.embed_video(
        embedder, path, MAX_FRAMES
    )  # what the dataset stores
    pixels = clip.preprocess(video.sample_frames(path, MAX_FRAMES))
    np.testing.assert_allclose(
        np.asarray(model.image_encoder.predict_on_batch(pixels)), training_embeddings, atol=ATOL
    )
    for count in (MAX_FRAMES, 2):  # all slots real, and two padded slots
        frames, frames_mask = pad_frames(training_embeddings[:count], MAX_FRAMES)
        expected = reference_softmax(
            classifier.model.predict_on_batch({"frames": frames, "padding_mask": frames_mask})
        )
        padded, padding_mask = pad_frames(pixels[:count], MAX_FRAMES)
        probabilities = model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask})
        np.testing.assert_allclose(probabilities, expected, atol=ATOL)


def test_end_to_end_file_gives_the_same_predictions(end_to_end, classifier, shared_videos):
    assert end_to_end.kind == "end_to_end"
    for name in (CLIP_NAME, "moviepy__fire2.mp4"):
        frames = video.sample_frames(shared_videos / name, MAX_FRAMES)
        for count in (MAX_FRAMES, 1):
            np.testing.assert_allclose(
                end_to_end.predict_proba(frames[:count]),
                classifier.predict_proba(frames[:count]),
                atol=ATOL,
            )


def test_frame_head_end_to_end_round_trip(shared_videos, tmp_path):
    """The single-frame head: mean of per-frame probabilities, in both paths and after reload."""
    keras.utils.set_random_seed(1)
    # Its own encoder: the frame head freezes the one it is given.
    encoder = clip.FrameEmbedder.tiny(0).image_encoder
    head = build_model("frame", num_classes=len(LABELS), image_encoder=encoder)
    two_stage = VideoClassifier(head, LABELS, MAX_FRAMES, "tiny:0")
    assert two_stage.kind == "pixels"
    frames = video.sample_frames(shared_videos / CLIP_NAME, 3)
    logits = head.predict_on_batch({"pixels": clip.preprocess(frames)})
    expected = reference_softmax(logits).mean(axis=0)
    np.testing.assert_allclose(two_stage.predict_proba(frames), expected, atol=ATOL)

    two_stage.to_end_to_end().save(tmp_path / "frame.keras")
    end_to_end = VideoClassifier.load(tmp_path / "frame.keras")
    assert end_to_end.model.embedder_spec == "tiny:0" and end_to_end.model.image_encoder is None
    np.testing.assert_allclose(end_to_end.predict_proba(frames), expected, atol=ATOL)


def test_cli_folder_json(train_dir, shared_videos, capsys):
    assert main([str(train_dir), str(shared_videos), "--json", "--top-k", "2"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = sorted(p for p in shared_videos.iterdir() if p.suffix in video.VIDEO_EXTENSIONS)
    assert [record["input"] for record in records] == [str(p) for p in expected]
    for record in records:
        assert record["ok"] is True and "error" not in record
        assert len(record["predictions"]) == 2
        assert {p["label"] for p in record["predictions"]} <= set(LABELS)


def test_embeddings_are_the_embedding_pipelines_bit_for_bit(classifier, embedder, shared_videos):
    path = shared_videos / CLIP_NAME
    assert classifier.num_frames == MAX_FRAMES  # config.json without num_frames: max_frames
    np.testing.assert_array_equal(
        classifier.embeddings(path), pipeline.embed_video(embedder, path, MAX_FRAMES)
    )
    frames = video.sample_frames(path, 3)
    np.testing.assert_array_equal(
        classifier.embeddings(frames), pipeline.embed_frames(embedder, frames, MAX_FRAMES)
    )


def test_the_runs_num_frames_sets_sampling_and_extra_rows_are_trimmed_as_in_training(
    embedder, shared_videos, tmp_path
):
    """A run whose dataset sampled 6 frames per video for a head of 4 slots (--max-frames 4)."""
    from vidcls_keras import data

    keras.utils.set_random_seed(2)
    head = build_model(
        "transformer",
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=clip.TINY_CONFIG.embed_dim,
        num_heads=2,
        intermediate_dim=16,
        hidden_dim=8,
    )
    run_dir = write_train_dir(tmp_path / "run", head, "transformer", "frames", num_frames=6)
    loaded = VideoClassifier.load(run_dir)
    assert loaded.num_frames == loaded.frame_limit == 6
    path = shared_videos / CLIP_NAME
    embeddings = pipeline.embed_video(embedder, path, 6)  # what the dataset stored
    np.testing.assert_array_equal(loaded.embeddings(path), embeddings)
    frames, padding_mask = data.pad_or_trim(embeddings, MAX_FRAMES)  # what training fed the head
    logits = head.predict_on_batch(
        {"frames": np.asarray(frames)[None], "padding_mask": np.asarray(padding_mask)[None]}
    )
    np.testing.assert_allclose(loaded.predict_proba(path), reference_softmax(logits)[0], atol=ATOL)
    assert VideoClassifier.load(run_dir, num_frames=2).num_frames == 2
    with pytest.raises(ValueError, match="num_frames=7"):
        VideoClassifier.load(run_dir, num_frames=7)


@pytest.mark.slow
def test_prediction_embeds_a_video_exactly_as_its_dataset_did(shared_videos, tmp_path, monkeypatch):
    """A video_folder dataset (tiny:0, 16 frames per video) and a run's classifier over it."""
    from support import build_video_folder

    from vidcls_keras import data

    names = {"a": ["mmaction2__demo.mp4", "moviepy__fire2.mp4"], "b": ["imageio__test.webm"]}
    builder = build_video_folder(shared_videos, tmp_path, names, monkeypatch)
    head = build_model(
        "mean", num_classes=2, max_frames=8, embed_dim=clip.TINY_CONFIG.embed_dim
    )  # 8 slots for 16-frame videos: the classifier must still embed 16 frames
    run_dir = write_train_dir(
        tmp_path / "run",
        head,
        "mean",
        "frames",
        label_names=["a", "b"],
        max_frames=8,
        num_frames=16,
    )
    loaded = VideoClassifier.load(run_dir)
    assert loaded.num_frames == 16
    seen = 0
    for split in builder.info.splits:
        examples, _ = data.load_split("video_folder/frames16", split, str(tmp_path / "tfds"))
        for example in examples.as_numpy_iterator():
            video_id = example["video_id"].decode()
            stored = example["embeddings"]
            np.testing.assert_array_equal(
                loaded.embeddings(tmp_path / "videos" / video_id), stored, err_msg=video_id
            )
            seen += 1
    assert seen == 3
