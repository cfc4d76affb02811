"""vidcls_keras.retrieval.video_embeddings: mean-pooled and aligned-run vectors of a split."""

import numpy as np
import pytest
from aligned_runs import expected_video_embeddings, tiny_aligned_head, write_run
from retrieval_datasets import CLASS_NAMES, DATASET

from vidcls_keras import data
from vidcls_keras.clip.tiny import TINY_EMBED_DIM
from vidcls_keras.models import build_model
from vidcls_keras.retrieval import index as index_module
from vidcls_keras.retrieval import video_embeddings

MAX_FRAMES = 3  # the random videos have 1-5 frames: some are padded, some trimmed


@pytest.fixture(scope="module")
def aligned_run(tmp_path_factory):
    head = tiny_aligned_head(MAX_FRAMES, TINY_EMBED_DIM, len(CLASS_NAMES), joint_dim=8)
    return head, write_run(tmp_path_factory.mktemp("runs") / "aligned", head, CLASS_NAMES, 3)


def stored_frames(data_dir, split="test"):
    examples, _ = data.load_split(DATASET, split, data_dir)
    return [example["embeddings"] for example in examples.as_numpy_iterator()]


def test_run_video_index_is_the_heads_video_embedding(random_dataset, aligned_run):
    head, run_dir = aligned_run
    assert video_embeddings.has_video_embedding(run_dir)
    index = video_embeddings.split_video_index(DATASET, "test", random_dataset, run=run_dir)
    expected = expected_video_embeddings(head, stored_frames(random_dataset), MAX_FRAMES)
    assert index.embeddings.shape == (12, 8)
    np.testing.assert_allclose(index.embeddings, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-5)
    mean_pooled = video_embeddings.split_video_index(DATASET, "test", random_dataset)
    assert mean_pooled.source == index_module.MEAN_POOLED and index.source == str(run_dir)
    # Same videos, same order, labels and titles as the search index.
    np.testing.assert_array_equal(index.video_ids, mean_pooled.video_ids)
    np.testing.assert_array_equal(index.labels, mean_pooled.labels)
    np.testing.assert_array_equal(index.titles, mean_pooled.titles)
    assert index.label_names == CLASS_NAMES and index.embedder_spec == "tiny:0"
    # A batch smaller than the split (several batches, the last one padded) changes nothing.
    embedder = video_embeddings.load_run_video_embedder(run_dir)
    assert (embedder.embed_dim, embedder.frame_width) == (8, TINY_EMBED_DIM)
    again = video_embeddings.run_video_index(
        embedder, DATASET, "test", random_dataset, batch_size=5
    )
    np.testing.assert_allclose(again.embeddings, index.embeddings, atol=1e-6)


def test_a_run_without_the_layer_is_refused(random_dataset, tmp_path):
    head = build_model("mean", num_classes=3, max_frames=MAX_FRAMES, embed_dim=TINY_EMBED_DIM)
    run_dir = write_run(tmp_path / "mean", head, CLASS_NAMES, MAX_FRAMES)
    assert not video_embeddings.has_video_embedding(run_dir)
    assert not video_embeddings.has_video_embedding(tmp_path / "nothing")
    with pytest.raises(
        video_embeddings.VideoEmbeddingError, match="no layer named 'video_embedding'"
    ):
        video_embeddings.split_video_index(DATASET, "test", random_dataset, run=run_dir)
    with pytest.raises(video_embeddings.VideoEmbeddingError, match="not a training output"):
        video_embeddings.load_run_video_embedder(tmp_path / "nothing")


def test_a_run_of_another_embedder_is_refused(random_dataset, tmp_path):
    head = tiny_aligned_head(MAX_FRAMES, TINY_EMBED_DIM, 3)
    run_dir = write_run(tmp_path / "other", head, CLASS_NAMES, MAX_FRAMES, embedder_spec="tiny:1")
    with pytest.raises(video_embeddings.VideoEmbeddingError, match="embedded by 'tiny:0'"):
        video_embeddings.run_video_index(run_dir, DATASET, "test", random_dataset)


def test_split_frame_embeddings(random_dataset):
    frames = stored_frames(random_dataset)
    index = video_embeddings.split_video_index(DATASET, "test", random_dataset)
    got = video_embeddings.split_frame_embeddings(
        DATASET, "test", random_dataset, str(index.video_ids[4])
    )
    np.testing.assert_array_equal(got, frames[4])
    with pytest.raises(index_module.SearchError, match="no video 'nope'.*video0_0"):
        video_embeddings.split_frame_embeddings(DATASET, "test", random_dataset, "nope")


@pytest.mark.parametrize("name", ["aligned_lstm", "aligned_transformer"])
def test_an_untrained_aligned_head_is_the_mean_pooled_index(random_dataset, tmp_path, name):
    """models.aligned's heads start as CLIP zero-shot on the mean of the unit frames (temporal
    residual zero, projection identity): their video embedding is then the search index's
    vector (videos of at most max_frames frames: nothing trimmed)."""
    from vidcls_keras.models import MODELS

    if name not in MODELS:
        pytest.skip(f"models.aligned ({name}) not present in this tree")
    text = np.random.default_rng(0).standard_normal((3, TINY_EMBED_DIM))
    sizes = {"units": 8} if name == "aligned_lstm" else {}
    try:
        head = MODELS[name](3, 5, TINY_EMBED_DIM, class_text_embeddings=text, **sizes)
    except TypeError:  # other size arguments: the builder's defaults
        head = MODELS[name](3, 5, TINY_EMBED_DIM, class_text_embeddings=text)
    run_dir = write_run(tmp_path / name, head, CLASS_NAMES, 5)
    assert video_embeddings.has_video_embedding(run_dir)
    aligned = video_embeddings.run_video_index(run_dir, DATASET, "test", random_dataset)
    mean_pooled = index_module.load_video_index(DATASET, "test", random_dataset)
    np.testing.assert_allclose(aligned.embeddings, mean_pooled.embeddings, atol=1e-5)
