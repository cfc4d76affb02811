"""vidcls_keras.retrieval.search and its command, `python -m vidcls_keras.search`."""

import json

import numpy as np
import pytest
from retrieval_datasets import (
    CLASS_NAMES,
    DATASET,
    around,
    build,
    example,
    random_examples,
)

from vidcls_keras import search as search_command
from vidcls_keras.clip.text import TextEmbedder
from vidcls_keras.retrieval import search


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
    arguments = [query, "--dataset", DATASET, "--data-dir", data_dir, "--top-k", "3"]
    assert search_command.main(arguments) == 0
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
    assert search_command.main([*arguments, "--output-dir", str(output)]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0.0 < metrics["mean_average_precision"] <= 1.0
    assert set(metrics["recall_at_k"]) == {"1", "5", "10"}
    assert all(0.0 <= value <= 1.0 for value in metrics["recall_at_k"].values())
    assert (
        metrics["recall_at_k"]["10"] >= metrics["recall_at_k"]["5"] >= metrics["recall_at_k"]["1"]
    )
    assert search_command.main([*arguments, "--output-dir", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == metrics


def test_errors(random_dataset, capsys):
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset]
    for query in ("", "   "):
        with pytest.raises(search.SearchError, match="empty"):
            search.search(query, DATASET, data_dir=random_dataset)
    assert search_command.main(["  ", *arguments]) == 2
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
    with pytest.raises(search.SearchError, match="not found"):
        search.search("food", "vidcls_no_such_dataset", data_dir=random_dataset)
    assert search_command.main(["food", "--dataset", "vidcls_no_such_dataset"]) == 2
    assert "not found" in capsys.readouterr().err


def test_more_like_this_by_id_leaves_the_video_out(tmp_path, capsys):
    examples = random_examples(3)
    twin = examples[7]["embeddings"] + 1e-3  # a near-copy of video 7, labelled like it
    examples.append(example("twin", examples[7]["label"], twin, title="the twin"))
    data_dir = build(tmp_path / "tfds", {"test": examples})
    results = search.more_like_this("twin", DATASET, data_dir=data_dir, top_k=20)
    assert len(results) == len(examples) - 1 and "twin" not in [r["video_id"] for r in results]
    assert results[0]["video_id"] == examples[7]["video_id"]
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    scores = [row["score"] for row in results]
    assert scores == sorted(scores, reverse=True)
    capsys.readouterr()
    output = tmp_path / "like"
    arguments = ["--like", "twin", "--dataset", DATASET, "--data-dir", data_dir, "--top-k", "2"]
    assert search_command.main([*arguments, "--output-dir", str(output)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and examples[7]["video_id"] in lines[1]
    written = json.loads((output / "results.json").read_text())
    assert [row["video_id"] for row in written] == [row["video_id"] for row in results[:2]]


def test_more_like_this_errors(random_dataset, capsys):
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset]
    assert search_command.main(["--like", "no_such_video", *arguments]) == 2
    assert "neither a video id of split 'test'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search_command.main(["food", "--like", "video0_0", *arguments])
    with pytest.raises(search.SearchError, match="top_k"):
        search.more_like_this("video0_0", DATASET, data_dir=random_dataset, top_k=0)


@pytest.mark.slow
def test_more_like_this_a_file_embeds_it_as_the_dataset_did(shared_videos, tmp_path, monkeypatch):
    """A clip of a real video_folder dataset (tiny:0, 16 frames), given as a file: embedded by the
    dataset's embedder with its 16 frames, it matches its own stored video exactly."""
    from support import build_video_folder

    classes = {
        "a": ["mmaction2__demo.mp4", "moviepy__fire2.mp4"],
        "b": ["imageio__test.webm", "mdn__flower.webm"],
    }
    build_video_folder(shared_videos, tmp_path, classes, monkeypatch)
    dataset, data_dir = "video_folder/frames16", str(tmp_path / "tfds")
    index = search.load_video_index(dataset, "train+validation+test", data_dir)
    assert search.dataset_num_frames(index) == 16
    clip = tmp_path / "videos" / "b" / "mdn__flower.webm"
    results = search.more_like_this(clip, dataset, split="train+validation+test", data_dir=data_dir)
    assert results[0]["video_id"] == "b/mdn__flower.webm" and results[0]["label"] == "b"
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-6)
    assert len(results) == 4  # a file is not one of the index's ids: nothing is left out
