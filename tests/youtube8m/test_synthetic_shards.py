"""youtube8m.synthetic: generated shards are deterministic, real-shaped, and readable."""

import csv

import numpy as np
import pytest
import tensorflow as tf

from vidcls_keras.youtube8m import records, synthetic


def _decoded(paths, level="video"):
    decode = records.decode_video_example if level == "video" else records.decode_frame_example
    return [decode(record.numpy()) for record in tf.data.TFRecordDataset([str(p) for p in paths])]


@pytest.mark.parametrize("level", ["video", "frame"])
def test_same_arguments_give_the_same_bytes(tmp_path, level):
    options = dict(num_shards=2, videos_per_shard=3, level=level, num_classes=50, frames=(2, 6))
    first = synthetic.write_shards(tmp_path / "a", **options)
    second = synthetic.write_shards(tmp_path / "b", **options)
    other_seed = synthetic.write_shards(tmp_path / "c", seed=1, **options)
    assert [path.name for path in first] == ["train0000.tfrecord", "train0001.tfrecord"]
    for a, b, c in zip(first, second, other_seed, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()


def test_a_shard_does_not_depend_on_how_many_are_written(tmp_path):
    one = synthetic.write_shards(tmp_path / "one", num_shards=1, videos_per_shard=4, num_classes=9)
    three = synthetic.write_shards(
        tmp_path / "three", num_shards=3, videos_per_shard=4, num_classes=9
    )
    assert one[0].read_bytes() == three[0].read_bytes()


def test_labels_are_realistic(tmp_path):
    train = _decoded(synthetic.write_shards(tmp_path, num_shards=2, videos_per_shard=150))
    counts = np.array([video["labels"].size for video in train])
    assert counts.min() >= 1 and 2.5 < counts.mean() < 3.5
    assert all(np.unique(video["labels"]).size == video["labels"].size for video in train)
    assert max(video["labels"].max() for video in train) < records.NUM_CLASSES
    assert len({video["id"] for video in train}) == len(train)
    assert all(len(video["id"]) == 4 for video in train)
    test = _decoded(
        synthetic.write_shards(tmp_path, split="test", num_shards=1, videos_per_shard=60)
    )
    empty = sum(not video["labels"].size for video in test)
    assert 10 < empty < 50


def test_frame_level_sizes_and_segments(tmp_path):
    paths = synthetic.write_shards(
        tmp_path,
        split="validate",
        num_shards=1,
        videos_per_shard=8,
        level="frame",
        num_classes=20,
        frames=(10, 30),
        segments=True,
    )
    assert paths[0].name == "validate0000.tfrecord"
    for video in _decoded(paths, "frame"):
        assert 10 <= len(video["rgb"]) <= 30
        assert video["rgb"].shape[1] == 1024 and video["audio"].shape == (len(video["rgb"]), 128)
        assert video["segment_labels"].size >= 1
        assert (video["segment_start_times"] + 5 <= len(video["rgb"])).all()
        assert set(np.unique(video["segment_scores"])) <= {0.0, 1.0}


def test_the_features_carry_the_labels(tmp_path):
    """Videos sharing a label are closer than videos that do not (so a model can learn them)."""
    videos = _decoded(
        synthetic.write_shards(tmp_path, num_shards=1, videos_per_shard=200, num_classes=4)
    )
    first = [video["mean_rgb"] for video in videos if list(video["labels"]) == [0]]
    second = [video["mean_rgb"] for video in videos if list(video["labels"]) == [1]]
    assert len(first) > 2 and len(second) > 2
    within = np.linalg.norm(first[0] - first[1])
    between = np.linalg.norm(np.mean(first, 0) - np.mean(second, 0))
    assert between > 0.5 * within


def test_vocabulary_has_the_real_shape(tmp_path):
    path = synthetic.write_vocabulary(tmp_path / "vocabulary.csv")
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == synthetic.VOCABULARY_COLUMNS
    assert [int(row["Index"]) for row in rows] == list(range(records.NUM_CLASSES))
    assert sum(not row["Name"] for row in rows) == 56
    assert all(row["KnowledgeGraphId"].startswith("/m/") for row in rows)
    assert rows[22]["Name"] == "Cooking"
    assert any('"' in row["WikiDescription"] and "," in row["WikiDescription"] for row in rows)
    counts = [int(row["TrainVideoCount"]) for row in rows]
    assert counts == sorted(counts, reverse=True)
    assert path.read_bytes() == synthetic.write_vocabulary(tmp_path / "again.csv").read_bytes()


def test_small_vocabulary_still_has_an_unnamed_row(tmp_path):
    path = synthetic.write_vocabulary(tmp_path / "vocabulary.csv", num_classes=3)
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and sum(not row["Name"] for row in rows) == 1


def test_write_dataset_lays_out_a_manual_folder(tmp_path):
    folder = synthetic.write_dataset(
        tmp_path, level="frame", num_shards=1, videos_per_shard=2, num_classes=6, frames=(1, 3)
    )
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        "test0000.tfrecord",
        "train0000.tfrecord",
        "validate0000.tfrecord",
        "vocabulary.csv",
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"split": "training"},
        {"level": "clip"},
        {"num_shards": 0},
        {"frames": (5, 2)},
        {"segments": True},
        {"id_key": "vid"},
    ],
)
def test_bad_requests_raise(tmp_path, options):
    with pytest.raises(synthetic.SyntheticShardsError):
        synthetic.write_shards(tmp_path, **options)
