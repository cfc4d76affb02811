"""vidcls_keras.retrieval.index: mean frame embeddings, the cached video index, the text tower."""

import pathlib

import numpy as np
import pytest
from retrieval_datasets import (
    DATASET,
    LABEL_TEXTS,
    build,
    random_examples,
)

from vidcls_keras import files
from vidcls_keras.clip.text import TextEmbedder
from vidcls_keras.retrieval import index as video_index
from vidcls_keras.retrieval import search, zeroshot


def test_mean_frame_embedding_normalizes_each_frame_first():
    frames = np.array([[10.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(
        video_index.mean_frame_embedding(frames), [2**-0.5, 2**-0.5], rtol=1e-6
    )
    with pytest.raises(search.SearchError, match="no embedded frame"):
        video_index.mean_frame_embedding(np.zeros((0, 2)))


def count_computations(monkeypatch) -> list[tuple]:
    calls = []
    compute = video_index.compute_video_index

    def counting(*args):
        calls.append(args)
        return compute(*args)

    monkeypatch.setattr(video_index, "compute_video_index", counting)
    return calls


def test_video_index_is_cached_per_dataset_and_split(random_dataset, tmp_path, monkeypatch):
    calls = count_computations(monkeypatch)
    first = video_index.load_video_index(DATASET, "test", random_dataset)
    second = video_index.load_video_index(DATASET, "test", random_dataset)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    assert list(first.video_ids) == list(second.video_ids) and first.labels.tolist() == [
        label for label in range(3) for _ in range(4)
    ]
    assert np.allclose(np.linalg.norm(first.embeddings, axis=1), 1.0, atol=1e-5)
    cached = list(files.cache_dir(video_index.INDEX_SUBDIR).glob("*.npz"))
    assert len(cached) == 1 and cached[0].parent == tmp_path / "cache" / "video_index"
    train = video_index.load_video_index(DATASET, "train", random_dataset)
    assert len(calls) == 2 and len(train) == 6
    # Search and zero-shot reuse it too.
    search.search("food", DATASET, data_dir=random_dataset)
    zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=random_dataset, split="train")
    assert len(calls) == 2


def test_cache_next_to_the_dataset_and_invalidated_by_a_rebuild(tmp_path, monkeypatch):
    monkeypatch.delenv(files.CACHE_DIR_ENV)
    calls = count_computations(monkeypatch)
    data_dir = build(tmp_path / "tfds", {"test": random_examples(3)})
    before = video_index.load_video_index(DATASET, "test", data_dir)
    cached = list(pathlib.Path(before.dataset_path).glob("video_index-*.npz"))
    assert len(cached) == 1  # in the dataset's version folder
    video_index.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 1
    build(tmp_path / "tfds", {"test": random_examples(4)}, overwrite=True)
    after = video_index.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 2
    assert not np.allclose(after.embeddings, before.embeddings)
    video_index.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 2


def test_an_index_without_a_recorded_embedder_needs_one(random_dataset):
    text_embedder = TextEmbedder.tiny(0)
    index = video_index.load_video_index(DATASET, "test", random_dataset)
    bare = video_index.VideoIndex(**{**index.__dict__, "embedder_spec": ""})
    with pytest.raises(search.SearchError, match="--text-embedder"):
        search.search("food", DATASET, index=bare)
    results = search.search("food", DATASET, index=bare, text_embedder=text_embedder, top_k=100)
    assert len(results) == len(index)


def test_another_text_tower_than_the_recorded_one_warns(random_dataset):
    with pytest.warns(UserWarning, match="same model"):
        results = search.search(
            "food", DATASET, data_dir=random_dataset, text_embedder=TextEmbedder.tiny(1)
        )
    assert len(results) == search.DEFAULT_TOP_K


def test_a_dataset_without_the_video_features_is_refused(tmp_path, monkeypatch):
    """A multi-label YouTube-8M-style dataset (id, labels, rgb): a clear SearchError."""
    import tensorflow_datasets as tfds

    from vidcls_keras.retrieval import index as index_module

    class VidclsOtherFeatures(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "id": tfds.features.Text(),
                        "rgb": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            return {"test": self._generate_examples()}

        def _generate_examples(self):
            yield "a", {"id": "a", "rgb": np.zeros(2, np.float32)}

    VidclsOtherFeatures(data_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(index_module.SearchError, match=r"no \['embeddings', 'video_id'"):
        index_module.compute_video_index("vidcls_other_features", "test", str(tmp_path))
