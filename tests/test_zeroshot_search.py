"""Zero-shot classification and text -> video search on tiny TFDS datasets built here.

The datasets have the shared features (video_id, title, label, embeddings, num_frames, frame) and
record the embedder spec "tiny:0" in their metadata, like the real builders. With random weights
the scores mean nothing, so the tests check structure, ranges and determinism on random
embeddings, and exact answers on datasets whose frame embeddings are built from the tiny text
tower's own embeddings.
"""

import json
import os
import types

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from vidcls_keras.clip.text import TINY_EMBED_DIM, TextEmbedder  # noqa: E402
from vidcls_keras.datasets import core as tfds_videos  # noqa: E402
from vidcls_keras.retrieval import (
    search,  # noqa: E402
    zeroshot,  # noqa: E402
)

CLASS_NAMES = ("food", "art_music", "travel")
LABEL_TEXTS = ["food", "art and music", "travel"]
DATASET = "vidcls_zeroshot_test_videos"
SPEC = "tiny:0"


class VidclsZeroshotTestVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A tiny dataset of given examples; set `EXAMPLES` (split -> list of dicts) before building.

    Not registered: like a dataset built with `tfds build builders/<name>`, it is read back by
    name from the files in data_dir, metadata.json (the embedder spec) included.
    """

    VERSION = tfds.core.Version("1.0.0")
    EXAMPLES: dict[str, list[dict]] = {}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds_videos.video_features(CLASS_NAMES, TINY_EMBED_DIM),
            metadata=tfds.core.MetadataDict(embedder=SPEC, embed_dim=TINY_EMBED_DIM),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in self.EXAMPLES}

    def _generate_examples(self, split):
        for example in self.EXAMPLES[split]:
            yield example["video_id"], example


def example(video_id: str, label: int, embeddings: np.ndarray, title: str = "") -> dict:
    return {
        "video_id": video_id,
        "title": title or f"title of {video_id}",
        "label": label,
        "embeddings": np.asarray(embeddings, np.float32),
        "num_frames": len(embeddings),
        "frame": np.zeros((224, 224, 3), np.uint8),
    }


def build(data_dir, examples: dict[str, list[dict]], overwrite: bool = False) -> str:
    VidclsZeroshotTestVideos.EXAMPLES = examples
    mode = (
        tfds.download.GenerateMode.FORCE_REDOWNLOAD
        if overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    VidclsZeroshotTestVideos(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(download_mode=mode)
    )
    return str(data_dir)


def random_examples(seed: int, per_class: int = 4) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        example(
            f"video{label}_{index}",
            label,
            rng.standard_normal((int(rng.integers(1, 6)), TINY_EMBED_DIM)),
        )
        for label in range(len(CLASS_NAMES))
        for index in range(per_class)
    ]


def around(direction: np.ndarray, rng: np.random.Generator, frames: int = 3) -> np.ndarray:
    """Frames pointing along `direction`: positive scales, a little noise."""
    scales = rng.uniform(0.5, 3.0, size=(frames, 1))
    noise = 1e-3 * rng.standard_normal((frames, direction.shape[-1]))
    return scales * (direction / np.linalg.norm(direction)) + noise


@pytest.fixture(scope="module")
def text_embedder():
    return TextEmbedder.tiny(0)


@pytest.fixture(scope="module")
def random_dataset(tmp_path_factory):
    """Random frame embeddings: test split of 12 videos, train split of 6."""
    return build(
        tmp_path_factory.mktemp("random_tfds"),
        {"test": random_examples(0), "train": random_examples(1, per_class=2)},
    )


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Each test gets its own index cache folder (and never writes to ~/.cache)."""
    monkeypatch.setenv(search.CACHE_DIR_ENV, str(tmp_path / "cache"))


def test_mean_frame_embedding_normalizes_each_frame_first():
    frames = np.array([[10.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(search.mean_frame_embedding(frames), [2**-0.5, 2**-0.5], rtol=1e-6)
    with pytest.raises(search.SearchError, match="no embedded frame"):
        search.mean_frame_embedding(np.zeros((0, 2)))


def test_zero_shot_cli_end_to_end(random_dataset, tmp_path, capsys):
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset, "--labels", *LABEL_TEXTS]
    capsys.readouterr()
    assert zeroshot.main([*arguments, "--output-dir", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    for name in ("f1-micro", "f1-macro", "accuracy"):
        assert name in printed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["num_examples"] == 12
    assert metrics["text_embedder"] == SPEC and metrics["labels"] == LABEL_TEXTS
    for name in ("accuracy", "f1_micro", "f1_macro"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["f1_micro"] == pytest.approx(metrics["accuracy"])
    assert np.sum(metrics["confusion_matrix"]) == 12
    assert set(metrics["predictions"].values()) <= set(CLASS_NAMES)
    # Deterministic: the same numbers again (now from the cached index), and from the API.
    assert zeroshot.main([*arguments, "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again == metrics
    direct = zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=random_dataset)
    assert direct["predictions"] == metrics["predictions"]
    assert direct["f1_macro"] == pytest.approx(metrics["f1_macro"])


def test_zero_shot_is_perfect_when_videos_look_like_their_prompts(tmp_path, text_embedder):
    """Frames along each label's prompt-ensemble embedding: every video is classified right."""
    classes = zeroshot.class_text_embeddings(text_embedder, LABEL_TEXTS)
    rng = np.random.default_rng(0)
    examples = [
        example(f"v{label}_{index}", label, around(classes[label], rng))
        for label in range(len(CLASS_NAMES))
        for index in range(3)
    ]
    data_dir = build(tmp_path / "tfds", {"test": examples})
    metrics = zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=data_dir)
    assert metrics["accuracy"] == 1.0 and metrics["f1_macro"] == 1.0
    # Labels map onto classes by position: shuffle the texts and the answers move with them.
    swapped = zeroshot.zero_shot_metrics(
        DATASET, [LABEL_TEXTS[1], LABEL_TEXTS[0], LABEL_TEXTS[2]], data_dir=data_dir
    )
    assert swapped["accuracy"] == pytest.approx(3 / 9)


def test_search_ranks_the_matching_video_first(tmp_path, text_embedder, capsys):
    query = "street food in bangkok"
    target = text_embedder.embed([query])[0]
    rng = np.random.default_rng(1)
    examples = random_examples(2)
    examples.insert(5, example("bangkok", 0, around(target, rng), title="Bangkok street food"))
    data_dir = build(tmp_path / "tfds", {"test": examples})
    results = search.search(query, DATASET, data_dir=data_dir, top_k=4)
    assert [row["rank"] for row in results] == [1, 2, 3, 4]
    assert results[0]["video_id"] == "bangkok" and results[0]["label"] == "food"
    assert results[0]["title"] == "Bangkok street food"
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-3)
    scores = [row["score"] for row in results]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 + 1e-6 for s in scores)
    capsys.readouterr()  # drop what building the dataset printed
    assert search.main([query, "--dataset", DATASET, "--data-dir", data_dir, "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "bangkok" in lines[1] and "Bangkok street food" in lines[1]


def test_class_name_queries_recall_and_map(tmp_path, text_embedder):
    """Frames along each class name's query embedding: AP 1 and recall@k = min(k, n) / n."""
    queries = [search.class_name_query(name) for name in CLASS_NAMES]
    assert queries[1] == "art music"
    targets = text_embedder.embed(queries)
    rng = np.random.default_rng(2)
    examples = [
        example(f"v{label}_{index}", label, around(targets[label], rng))
        for label in range(len(CLASS_NAMES))
        for index in range(2 + label)  # 2, 3 and 4 videos
    ]
    data_dir = build(tmp_path / "tfds", {"test": examples})
    result = search.evaluate_class_name_queries(DATASET, data_dir=data_dir, ks=(1, 3))
    assert result["num_videos"] == 9
    assert result["mean_average_precision"] == pytest.approx(1.0)
    assert result["per_class"]["travel"]["recall_at_k"] == {"1": 0.25, "3": 0.75}
    assert result["recall_at_k"]["1"] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4]))
    assert result["recall_at_k"]["3"] == pytest.approx(np.mean([1.0, 1.0, 3 / 4]))


def test_class_name_queries_on_random_embeddings(random_dataset, tmp_path):
    output = tmp_path / "eval"
    arguments = ["--eval-class-names", "--dataset", DATASET, "--data-dir", random_dataset]
    assert search.main([*arguments, "--output-dir", str(output)]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0.0 < metrics["mean_average_precision"] <= 1.0
    assert set(metrics["recall_at_k"]) == {"1", "5", "10"}
    assert all(0.0 <= value <= 1.0 for value in metrics["recall_at_k"].values())
    assert (
        metrics["recall_at_k"]["10"] >= metrics["recall_at_k"]["5"] >= metrics["recall_at_k"]["1"]
    )
    assert search.main([*arguments, "--output-dir", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == metrics


def count_computations(monkeypatch) -> list[tuple]:
    calls = []
    compute = search.compute_video_index

    def counting(*args):
        calls.append(args)
        return compute(*args)

    monkeypatch.setattr(search, "compute_video_index", counting)
    return calls


def test_video_index_is_cached_per_dataset_and_split(random_dataset, tmp_path, monkeypatch):
    calls = count_computations(monkeypatch)
    first = search.load_video_index(DATASET, "test", random_dataset)
    second = search.load_video_index(DATASET, "test", random_dataset)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    assert list(first.video_ids) == list(second.video_ids) and first.labels.tolist() == [
        label for label in range(3) for _ in range(4)
    ]
    assert np.allclose(np.linalg.norm(first.embeddings, axis=1), 1.0, atol=1e-5)
    files = list((tmp_path / "cache" / search.INDEX_SUBDIR).glob("*.npz"))
    assert len(files) == 1
    train = search.load_video_index(DATASET, "train", random_dataset)
    assert len(calls) == 2 and len(train) == 6
    # Search and zero-shot reuse it too.
    search.search("food", DATASET, data_dir=random_dataset)
    zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=random_dataset, split="train")
    assert len(calls) == 2


def test_cache_next_to_the_dataset_and_invalidated_by_a_rebuild(tmp_path, monkeypatch):
    monkeypatch.delenv(search.CACHE_DIR_ENV)
    calls = count_computations(monkeypatch)
    data_dir = build(tmp_path / "tfds", {"test": random_examples(3)})
    before = search.load_video_index(DATASET, "test", data_dir)
    cached = list(pathlib_glob(before.dataset_path, "video_index-*.npz"))
    assert len(cached) == 1  # in the dataset's version folder
    search.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 1
    build(tmp_path / "tfds", {"test": random_examples(4)}, overwrite=True)
    after = search.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 2
    assert not np.allclose(after.embeddings, before.embeddings)
    search.load_video_index(DATASET, "test", data_dir)
    assert len(calls) == 2


def pathlib_glob(folder: str, pattern: str):
    import pathlib

    return pathlib.Path(folder).glob(pattern)


def test_errors(random_dataset, text_embedder, capsys):
    with pytest.raises(zeroshot.ZeroShotError, match="2 labels .* for 3 classes"):
        zeroshot.zero_shot_metrics(DATASET, ["food", "travel"], data_dir=random_dataset)
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset]
    assert zeroshot.main([*arguments, "--labels", "food", "travel"]) == 2
    assert "for 3 classes" in capsys.readouterr().err
    with pytest.raises(zeroshot.ZeroShotError, match="empty"):
        zeroshot.zero_shot_metrics(DATASET, ["food", " ", "travel"], data_dir=random_dataset)
    with pytest.raises(zeroshot.ZeroShotError, match="placeholder"):
        zeroshot.zero_shot_metrics(
            DATASET, LABEL_TEXTS, data_dir=random_dataset, templates=["a video"]
        )
    for query in ("", "   "):
        with pytest.raises(search.SearchError, match="empty"):
            search.search(query, DATASET, data_dir=random_dataset)
    assert search.main(["  ", *arguments]) == 2
    assert "empty" in capsys.readouterr().err
    with pytest.raises(search.SearchError, match="top_k"):
        search.search("food", DATASET, data_dir=random_dataset, top_k=0)
    with pytest.raises(search.SearchError, match="16-d"):
        search.search(
            "food",
            DATASET,
            data_dir=random_dataset,
            text_embedder=TextEmbedder.tiny(0, embed_dim=8),
        )
    with pytest.raises(ValueError, match="not found"):
        search.search("food", "vidcls_no_such_dataset", data_dir=random_dataset)


def test_an_index_without_a_recorded_embedder_needs_one(random_dataset, text_embedder):
    index = search.load_video_index(DATASET, "test", random_dataset)
    bare = search.VideoIndex(**{**index.__dict__, "embedder_spec": ""})
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


def test_experiment_row_runner(random_dataset, tmp_path):
    """`experiments.Experiment(..., run=zeroshot.experiment_run)`: class names as labels."""
    config = types.SimpleNamespace(
        dataset=DATASET, data_dir=random_dataset, output_dir=str(tmp_path / "row"), seed=0
    )
    result = zeroshot.experiment_run(config)
    assert result["test"]["labels"] == ["food", "art music", "travel"]
    assert {"f1_micro", "f1_macro", "accuracy", "loss"} <= set(result["test"])
    assert json.loads((tmp_path / "row" / "metrics.json").read_text()) == result
