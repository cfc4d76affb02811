"""vidcls_keras.retrieval.evaluation: the R@k / MdR / MnR table of a split, per source."""

import csv

import numpy as np
import pytest
from aligned_runs import tiny_aligned_head, write_run
from retrieval_datasets import CLASS_NAMES, DATASET, around, build, example

from vidcls_keras.clip.tiny import TINY_EMBED_DIM
from vidcls_keras.models import build_model
from vidcls_keras.retrieval import evaluation, metrics, zeroshot
from vidcls_keras.retrieval.index import MEAN_POOLED, class_name_query
from vidcls_keras.retrieval.video_embeddings import run_video_index

TITLES = [
    "street food in bangkok",
    "the history of rome",
    "travel video about japan",
    "art and music of paris",
    "a photo of the moon",
    "about music and food",
]


def by_key(rows):
    return {(row["source"], row["queries"], row["direction"]): row for row in rows}


def test_known_answers_rank_first(tmp_path, text_embedder):
    """Frames along each class's prompt ensemble (class rows) or along each video's own title
    (title rows): every relevant item ranks first."""
    labels = [class_name_query(name) for name in CLASS_NAMES]
    classes = zeroshot.class_text_embeddings(text_embedder, labels)
    titles = text_embedder.embed(TITLES)
    rng = np.random.default_rng(0)
    by_class = [
        example(f"c{label}_{i}", label, around(classes[label], rng), title=" ")
        for label in range(3)
        for i in range(2)
    ]
    by_title = [example(f"t{i}", i % 3, around(titles[i], rng), title=TITLES[i]) for i in range(6)]
    data_dir = build(tmp_path / "tfds", {"test": by_class, "train": by_title})
    rows = by_key(evaluation.evaluate_retrieval(DATASET, "test", data_dir))
    assert set(rows) == {
        (MEAN_POOLED, evaluation.CLASS_PROMPTS, "text→video"),
        (MEAN_POOLED, evaluation.CLASS_PROMPTS, "video→text"),
    }  # the test split's titles are blank: no title rows
    for row in rows.values():
        assert (row["R@1"], row["MdR"], row["MnR"]) == (100.0, 1.0, 1.0)
    assert rows[(MEAN_POOLED, evaluation.CLASS_PROMPTS, "text→video")]["num_queries"] == 3
    assert rows[(MEAN_POOLED, evaluation.CLASS_PROMPTS, "video→text")]["num_candidates"] == 3
    rows = by_key(evaluation.evaluate_retrieval(DATASET, "train", data_dir))
    for direction in ("text→video", "video→text"):
        row = rows[(MEAN_POOLED, evaluation.TITLES, direction)]
        assert (row["R@1"], row["MnR"], row["num_queries"], row["num_candidates"]) == (
            100.0,
            1.0,
            6,
            6,
        )


def test_aligned_runs_side_by_side(random_dataset, tmp_path):
    head = tiny_aligned_head(3, TINY_EMBED_DIM, 3, joint_dim=TINY_EMBED_DIM, seed=1)
    run_dir = write_run(tmp_path / "aligned", head, CLASS_NAMES, 3)
    rows = evaluation.evaluate_retrieval(DATASET, "test", random_dataset, runs=[run_dir])
    assert [row["source"] for row in rows] == [MEAN_POOLED] * 4 + [str(run_dir)] * 4
    assert {row["queries"] for row in rows} == {evaluation.CLASS_PROMPTS, evaluation.TITLES}
    # The run's rows are the metrics of its own video embeddings.
    from vidcls_keras.clip.text import TextEmbedder

    embedder = TextEmbedder.tiny(0)
    index = run_video_index(run_dir, DATASET, "test", random_dataset)
    classes = zeroshot.class_text_embeddings(
        embedder, [class_name_query(name) for name in CLASS_NAMES]
    )
    expected = metrics.class_prompt_retrieval(index.embeddings, index.labels, classes)
    got = by_key(rows)[(str(run_dir), evaluation.CLASS_PROMPTS, "video→text")]
    assert got["MnR"] == pytest.approx(expected["video_to_text"]["MnR"])
    assert got["R@1"] == pytest.approx(expected["video_to_text"]["R@1"])

    narrow = write_run(
        tmp_path / "narrow", tiny_aligned_head(3, TINY_EMBED_DIM, 3, 8), CLASS_NAMES, 3
    )
    with pytest.raises(metrics.RetrievalMetricsError, match="joint space"):
        evaluation.evaluate_retrieval(DATASET, "test", random_dataset, runs=[narrow])


def test_experiments_retrieval_writes_table_and_section(random_dataset, tmp_path):
    sweep = tmp_path / "sweep"
    aligned = write_run(
        sweep / "aligned" / "seed_0",
        tiny_aligned_head(3, TINY_EMBED_DIM, 3, joint_dim=TINY_EMBED_DIM),
        CLASS_NAMES,
        3,
    )
    mean = write_run(
        sweep / "mean" / "seed_0",
        build_model("mean", num_classes=3, max_frames=3, embed_dim=TINY_EMBED_DIM),
        CLASS_NAMES,
        3,
    )
    (sweep / "results.md").write_text("# Results\n\ntable\n", encoding="utf-8")
    rows = evaluation.experiments_retrieval(
        DATASET, random_dataset, [mean, aligned], sweep, results_md=sweep / "results.md"
    )
    assert {row["source"] for row in rows} == {MEAN_POOLED, "aligned/seed_0"}  # not the mean run
    with open(sweep / evaluation.RETRIEVAL_CSV_FILENAME, encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 8 and list(table[0]) == list(evaluation.COLUMNS)
    results = (sweep / "results.md").read_text(encoding="utf-8")
    assert results.startswith("# Results\n\ntable\n\n## Retrieval\n")
    assert "| aligned/seed_0 | titles | video→text |" in results
    assert (sweep / evaluation.RETRIEVAL_MD_FILENAME).is_file()
    # A dataset that cannot be read: the section says why, the sweep goes on.
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.md").write_text("# Results\n", encoding="utf-8")
    assert (
        evaluation.experiments_retrieval(
            "vidcls_no_such_dataset", random_dataset, [], other, results_md=other / "results.md"
        )
        == []
    )
    assert "## Retrieval\n\nNot computed: dataset 'vidcls_no_such_dataset'" in (
        other / "results.md"
    ).read_text(encoding="utf-8")


def test_markdown_and_random_rows_are_well_formed(random_dataset):
    rows = evaluation.evaluate_retrieval(DATASET, "test", random_dataset)
    for row in rows:
        assert 0.0 <= row["R@1"] <= row["R@5"] <= row["R@10"] <= 100.0
        assert 1.0 <= row["MdR"] <= row["num_candidates"]
    lines = evaluation.retrieval_markdown(rows).splitlines()
    assert len(lines) == 2 + len(rows) and lines[0].startswith("| source | queries |")
