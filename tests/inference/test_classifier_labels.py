"""Open-set labels at prediction time (`VideoClassifier.predict_labels`, `predict --labels`).

Both text-aligned heads are trained by `train()` on the tiny on-disk dataset (tiny:0 embeddings,
1 epoch), reloaded in safe mode through `VideoClassifier.load`, and asked for labels they never
trained on; another head falls back to plain CLIP zero-shot, and says so.
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from inference_runs import CLIP_NAME, MAX_FRAMES, train_dir  # noqa: E402, F401 (fixture)

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "training"))
from tiny_videos import TINY_LABELS, build_tiny_dataset, tiny_config  # noqa: E402

from vidcls_keras import clip  # noqa: E402
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.inference.classifier import VideoClassifier, softmax  # noqa: E402
from vidcls_keras.models.aligned import logit_scale, video_embedding_model  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402
from vidcls_keras.retrieval import index, zeroshot  # noqa: E402
from vidcls_keras.training import open_set  # noqa: E402
from vidcls_keras.training.trainer import train  # noqa: E402

NEW_LABELS = ["street food", "museum tour", "mountain hike", "cooking show"]
ALIGNED = ("aligned_lstm", "aligned_transformer")


@pytest.fixture(scope="module")
def aligned_runs(tmp_path_factory):
    """Both aligned heads trained for one epoch; the lstm with a plain-name prompt template."""
    root = tmp_path_factory.mktemp("aligned")
    data_dir = build_tiny_dataset(root / "tfds")
    templates = {"aligned_lstm": "{label}", "aligned_transformer": "ensemble"}
    for name in ALIGNED:
        train(
            tiny_config(
                data_dir, root / name, model=name, epochs=1, prompt_template=templates[name]
            )
        )
    return {name: root / name for name in ALIGNED}


def uint8_frames(count=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ALIGNED)
def test_an_aligned_run_records_its_prompt_and_scores_new_labels(aligned_runs, name):
    run = aligned_runs[name]
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["prompt_template"] == ("{label}" if name == "aligned_lstm" else "ensemble")
    assert "class_text_embeddings" not in config["model_arguments"]

    classifier = VideoClassifier.load(run)  # safe mode (inference.classifier._load_keras)
    assert classifier.label_method == "aligned"
    assert classifier.prompt_template == config["prompt_template"]
    frames = uint8_frames()
    predictions = classifier.predict_labels(frames, NEW_LABELS, top_k=4)
    assert sorted(p["label"] for p in predictions) == sorted(NEW_LABELS)
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-5)

    # The reference: the head's video embedding and temperature against the new labels' texts,
    # embedded in the run's own prompt template by the run's embedder's text tower.
    embeddings = pipeline.embed_frames(clip.FrameEmbedder.from_spec("tiny:0"), frames, 4)
    padded = np.zeros((1, classifier.max_frames, embeddings.shape[1]), np.float32)
    padded[0, : len(embeddings)] = embeddings
    mask = np.arange(classifier.max_frames)[None] < len(embeddings)
    video = video_embedding_model(classifier.model).predict_on_batch(
        {"frames": padded, "padding_mask": mask}
    )
    texts = open_set.label_text_embeddings("tiny:0", NEW_LABELS, config["prompt_template"])
    expected = softmax(logit_scale(classifier.model) * video[0] @ texts.T)
    assert [p["label"] for p in predictions] == [NEW_LABELS[i] for i in np.argsort(-expected)]
    np.testing.assert_allclose(sorted(scores, reverse=True), np.sort(expected)[::-1], atol=1e-5)


@pytest.mark.parametrize("name", ALIGNED)
def test_the_trained_labels_need_no_text_tower_and_match_their_texts(aligned_runs, name):
    """Without new labels the stored class embeddings score; asking for the trained class names
    as texts gives the same probabilities (same tower, same template)."""
    classifier = VideoClassifier.load(aligned_runs[name])
    assert classifier._text_embedder is None
    frames = uint8_frames(seed=1)
    trained = classifier.predict(frames, top_k=3)
    assert classifier._text_embedder is None  # predicting the trained labels built no tower
    texts = [index.class_name_query(label) for label in TINY_LABELS]
    as_texts = classifier.predict_labels(frames, texts, top_k=3)
    assert [p["label"] for p in as_texts] == [index.class_name_query(p["label"]) for p in trained]
    np.testing.assert_allclose(
        [p["score"] for p in as_texts], [p["score"] for p in trained], atol=1e-5
    )


def test_another_head_falls_back_to_clip_zero_shot(train_dir):
    classifier = VideoClassifier.load(train_dir)  # the inference tests' transformer head
    assert classifier.label_method == "clip_zero_shot"
    frames = uint8_frames(count=MAX_FRAMES, seed=2)
    predictions = classifier.predict_labels(frames, NEW_LABELS, top_k=2)
    video = index.mean_frame_embedding(classifier.embeddings(frames))
    texts = zeroshot.class_text_embeddings(classifier._text_embedder, NEW_LABELS)
    expected = softmax(zeroshot.zero_shot_logits(video[None], texts))[0]
    order = np.argsort(-expected, kind="stable")[:2]
    assert [p["label"] for p in predictions] == [NEW_LABELS[i] for i in order]
    np.testing.assert_allclose([p["score"] for p in predictions], expected[order], atol=1e-5)


def test_predict_labels_on_the_command_line(aligned_runs, train_dir, shared_videos, capsys):
    clip_path = shared_videos / CLIP_NAME
    for run, method in ((aligned_runs["aligned_lstm"], "aligned"), (train_dir, "clip_zero_shot")):
        status = main(
            [str(run), str(clip_path), "--labels", *NEW_LABELS[:3], "--top-k", "2", "--json"]
        )
        assert status == 0
        record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert record["ok"] and record["method"] == method
        assert len(record["predictions"]) == 2
        assert {p["label"] for p in record["predictions"]} <= set(NEW_LABELS[:3])
    # Text output names the method; without --labels there is none.
    assert main([str(aligned_runs["aligned_lstm"]), str(clip_path), "--labels", "a", "b"]) == 0
    assert "(aligned)" in capsys.readouterr().out
    assert main([str(aligned_runs["aligned_lstm"]), str(clip_path)]) == 0
    out = capsys.readouterr().out
    assert "(aligned)" not in out and any(label in out for label in TINY_LABELS)


def test_an_empty_label_is_a_usage_error(aligned_runs, shared_videos, capsys):
    status = main(
        [str(aligned_runs["aligned_lstm"]), str(shared_videos / CLIP_NAME), "--labels", "food", " "]
    )
    assert status == 2
    assert "error: --labels:" in capsys.readouterr().err
