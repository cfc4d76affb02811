"""`python -m vidcls_keras.embed`: a dataset split as one table (`--dataset`, `--video-embedding`),
beside the per-video `.npy` files it always wrote."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "retrieval"))  # the retrieval test data

from aligned_runs import tiny_aligned_head, write_run  # noqa: E402
from retrieval_datasets import CLASS_NAMES, DATASET, build_random  # noqa: E402

from vidcls_keras import embed  # noqa: E402
from vidcls_keras.clip.tiny import TINY_EMBED_DIM  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.retrieval.embedding_table import table_stem  # noqa: E402
from vidcls_keras.retrieval.index import MEAN_POOLED, load_video_index  # noqa: E402
from vidcls_keras.retrieval.video_embeddings import run_video_index  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return build_random(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "cache"))


def test_table_stem():
    assert table_stem("youtube_videos/frames100", "all") == "youtube_videos_frames100-all"
    assert table_stem("video_folder", "train[:50%]") == "video_folder-train_50"


def test_mean_pooled_table_of_a_whole_split(data_dir, tmp_path, capsys):
    out = tmp_path / "exports"
    assert embed.main(["--dataset", DATASET, "--data-dir", data_dir, "--out", str(out)]) == 0
    stem = table_stem(DATASET, "all")
    assert sorted(path.name for path in out.iterdir()) == [f"{stem}.npz", f"{stem}.parquet"]
    assert "wrote 18 video vectors (16-d, mean-pooled frames)" in capsys.readouterr().err
    index = load_video_index(DATASET, "all", data_dir)
    with np.load(out / f"{stem}.npz") as table:
        np.testing.assert_array_equal(table["ids"], index.video_ids)
        np.testing.assert_array_equal(table["vectors"], index.embeddings)
        assert table["vectors"].dtype == np.float32
        assert table["labels"].tolist() == [CLASS_NAMES[label] for label in index.labels]
        np.testing.assert_array_equal(table["label_index"], index.labels)
        assert str(table["source"]) == MEAN_POOLED and str(table["split"]) == "all"
        assert table["label_names"].tolist() == list(CLASS_NAMES)
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = pq.read_table(out / f"{stem}.parquet")
    assert parquet.column_names == ["id", "label", "label_index", "title", "vector"]
    np.testing.assert_array_equal(
        np.stack(parquet["vector"].to_numpy(zero_copy_only=False)), index.embeddings
    )
    assert parquet["id"].to_pylist() == index.video_ids.tolist()
    assert parquet.schema.metadata[b"source"] == MEAN_POOLED.encode()


def test_video_embedding_of_an_aligned_run(data_dir, tmp_path):
    head = tiny_aligned_head(3, TINY_EMBED_DIM, 3, joint_dim=8)
    run_dir = write_run(tmp_path / "run", head, CLASS_NAMES, 3)
    out = tmp_path / "exports"
    arguments = ["--dataset", DATASET, "--data-dir", data_dir, "--split", "test"]
    assert embed.main([*arguments, "--video-embedding", str(run_dir), "--out", str(out)]) == 0
    with np.load(out / f"{table_stem(DATASET, 'test')}.npz") as table:
        expected = run_video_index(run_dir, DATASET, "test", data_dir)
        assert table["vectors"].shape == (12, 8)
        np.testing.assert_allclose(table["vectors"], expected.embeddings, atol=1e-6)
        assert str(table["source"]) == str(run_dir)


def test_table_errors(data_dir, tmp_path, capsys):
    out = str(tmp_path / "exports")
    for arguments in (
        ["--video-embedding", "run", "--out", out],  # no --dataset
        ["clip.mp4", "--dataset", DATASET, "--out", out],  # both
        ["--dataset", DATASET, "--tiny", "0", "--out", out],  # an encoder for stored embeddings
        ["--out", out],  # nothing to embed
    ):
        with pytest.raises(SystemExit) as stopped:
            embed.main(arguments)
        assert stopped.value.code == 2
    head = build_model("mean", num_classes=3, max_frames=3, embed_dim=TINY_EMBED_DIM)
    run_dir = write_run(tmp_path / "mean", head, CLASS_NAMES, 3)
    arguments = ["--dataset", DATASET, "--data-dir", data_dir, "--out", out]
    assert embed.main([*arguments, "--video-embedding", str(run_dir)]) == 2
    assert "no layer named 'video_embedding'" in capsys.readouterr().err
    assert not list((tmp_path / "exports").iterdir())  # nothing half-written


def test_video_files_still_give_one_npy_each(shared_videos, tmp_path):
    out = tmp_path / "npy"
    clip = str(shared_videos / "moviepy__fire2.mp4")
    assert embed.main([clip, "--frames", "4", "--tiny", "0", "--out", str(out)]) == 0
    assert np.load(out / "moviepy__fire2.npy").shape == (4, TINY_EMBED_DIM)
