"""The youtube8m builder on generated shards: features, widths, label subsets, bad shards, Beam.

Tiny shards (a few videos, 16-wide rgb, 4-wide audio, 2-6 frames) from
`vidcls_keras.youtube8m.synthetic`; the builds are module-scoped where tests only read them.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from support import REPO_ROOT

from vidcls_keras.datasets.report import REPORT_CSV, REPORT_JSON
from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder as module
from vidcls_keras.youtube8m import records, stream, synthetic

NUM_CLASSES = 30
SIZES = {"rgb_size": 16, "audio_size": 4}


def write_manual(root: pathlib.Path) -> pathlib.Path:
    """`root/{video,frame}/` shards (2 per split, 3 videos each) + `root/vocabulary.csv`."""
    for level in ("video", "frame"):
        frame_options = {"frames": (2, 6), "segments": True} if level == "frame" else {}
        for split in records.SPLIT_PREFIXES:
            synthetic.write_shards(
                root / level, split, num_shards=2, videos_per_shard=3, level=level,
                num_classes=NUM_CLASSES, **SIZES, **frame_options,
            )  # fmt: skip
    synthetic.write_vocabulary(root / "vocabulary.csv", num_classes=NUM_CLASSES)
    return root


def build(manual_dir, data_dir, config, beam_runner=None):
    builder = module.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), beam_runner=beam_runner
        )
    )
    return builder


def read_examples(builder) -> dict[str, dict]:
    """`{(split, id): example}` over all splits."""
    return {
        (split, example["id"].decode()): example
        for split in builder.info.splits
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
    }


def source_records(folder: pathlib.Path, level: str) -> dict[str, dict]:
    """`{(split, id): decoded record}` of every shard, with records' NumPy decoders."""
    decode = records.decode_video_example if level == "video" else records.decode_frame_example
    found = {}
    for split, paths in stream.split_shards(folder).items():
        for path in paths:
            for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
                decoded = decode(serialized, **SIZES)
                found[split, decoded["id"]] = decoded
    return found


def report(builder) -> dict:
    return json.loads((pathlib.Path(builder.data_dir) / REPORT_JSON).read_text())


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    return write_manual(tmp_path_factory.mktemp("yt8m"))


@pytest.fixture(scope="module")
def built(manual_dir, tmp_path_factory):
    """Both configs, plain builds: `{level: builder}`."""
    data_dir = tmp_path_factory.mktemp("tfds")
    return {level: build(manual_dir, data_dir, level) for level in ("video", "frame")}


@pytest.mark.parametrize("level", ["video", "frame"])
def test_examples_are_the_records(built, manual_dir, level):
    builder = built[level]
    examples = read_examples(builder)
    source = source_records(manual_dir / level, level)
    assert sorted(examples) == sorted(source)  # every video, in its split
    assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == {
        "train": 6, "validation": 6, "test": 6,
    }  # fmt: skip
    for key, record in source.items():
        example = examples[key]
        np.testing.assert_array_equal(example["labels"], record["labels"])
        names = (
            ("mean_rgb", "mean_audio")
            if level == "video"
            else ("rgb", "audio", *records.SEGMENT_KEYS)
        )
        for name in names:
            assert example[name].dtype == record[name].dtype, name  # frames stay uint8
            np.testing.assert_array_equal(example[name], record[name], err_msg=f"{key} {name}")
        if level == "frame":
            assert example["num_frames"] == len(record["rgb"])
    if level == "frame":  # the generated segments made it through
        assert any(example["segment_labels"].size for example in examples.values())


@pytest.mark.parametrize("level", ["video", "frame"])
def test_features_widths_names_and_metadata(built, manual_dir, level):
    builder = built[level]
    features = builder.info.features
    if level == "video":
        assert features["mean_rgb"].shape == (16,) and features["mean_audio"].shape == (4,)
    else:
        assert features["rgb"].shape == (None, 16) and features["rgb"].dtype == np.uint8
        assert features["audio"].shape == (None, 4)
    names = stream.read_vocabulary(manual_dir / "vocabulary.csv")
    assert features["labels"].feature.names == names
    assert features["labels"].feature.names[22] == "Cooking"
    metadata = builder.info.metadata
    assert {k: metadata[k] for k in ("source", "level", "rgb_size", "audio_size", "num_classes")} == {
        "source": "youtube8m", "level": level, "rgb_size": 16, "audio_size": 4,
        "num_classes": NUM_CLASSES,
    }  # fmt: skip
    assert metadata["quantize"] == {"max": 2.0, "min": -2.0}
    assert metadata["labels_subset"] is None and metadata["label_mapping"] is None
    assert metadata["lost"] == {"shards": 0, "records": 0, "bad_shards": []}
    # Read back from the files alone (no builder code), widths and names included.
    reread = tfds.builder_from_directory(builder.data_dir)
    assert reread.info.features["labels"].feature.names == names
    assert reread.info.metadata["rgb_size"] == 16
    # And by the builder class, which takes the stored widths, not the release's.
    assert (
        module.Builder(config=level, data_dir=builder.data_dir_root)
        .info.features["mean_rgb" if level == "video" else "rgb"]
        .shape[-1]
        == 16
    )


def test_unnamed_classes_fall_back_to_their_knowledge_graph_id(tmp_path):
    path = tmp_path / "vocabulary.csv"
    path.write_text(
        "Index,TrainVideoCount,KnowledgeGraphId,Name\n"
        "0,10,/m/0a,Game\n2,5,/m/0c,Car\n1,7,/m/0b,\n3,1,/m/0d,Game\n5,1,,\n"
    )
    assert stream.read_vocabulary(path) == [
        "Game", "/m/0b", "Car", "Game (/m/0d)", "class 4", "class 5",
    ]  # fmt: skip
    path.write_text("Index,Name\n0,a\n0,b\n")
    with pytest.raises(stream.StreamError, match="Index 0 is repeated"):
        stream.read_vocabulary(path)
    path.write_text("Id,Label\n0,a\n")
    with pytest.raises(stream.StreamError, match="'Index' and 'Name'"):
        stream.read_vocabulary(path)


def test_label_subset_reindexed(built, manual_dir, tmp_path):
    config = module.Youtube8mConfig(name="some", level="frame", labels=("Cooking", "2", "game"))
    builder = build(manual_dir, tmp_path, config)
    assert set(builder.info.splits) == {"train", "validation"}  # no test by default
    metadata = builder.info.metadata
    assert metadata["labels_subset"] == [22, 2, 0] and metadata["num_classes"] == 3
    assert metadata["label_mapping"] == {0: 22, 1: 2, 2: 0}
    assert builder.info.features["labels"].feature.names == ["Cooking", "Vehicle", "Game"]
    full = read_examples(built["frame"])
    kept = read_examples(builder)
    expected = {
        key for key, example in full.items()
        if key[0] != "test" and set(example["labels"]) & {22, 2, 0}
    }  # fmt: skip
    assert set(kept) == expected and expected
    back = np.array([22, 2, 0])
    for key, example in kept.items():
        original = full[key]["labels"]
        np.testing.assert_array_equal(back[example["labels"]], [i for i in original if i in back])
        segments = full[key]["segment_labels"]
        np.testing.assert_array_equal(
            back[example["segment_labels"]], segments[np.isin(segments, back)]
        )
        np.testing.assert_array_equal(example["rgb"], full[key]["rgb"])
    assert report(builder)["summary"]["filtered_out"] == 12 - len(kept)


def test_label_subset_keeping_vocabulary_indices(built, manual_dir, tmp_path):
    config = module.Youtube8mConfig(
        name="common",
        level="video",
        labels=tuple(range(8)),
        reindex=False,
        splits=("train", "test"),
    )
    builder = build(manual_dir, tmp_path, config)
    assert set(builder.info.splits) == {"train", "test"}
    assert builder.info.metadata["label_mapping"] is None
    assert builder.info.features["labels"].feature.num_classes == NUM_CLASSES
    full = read_examples(built["video"])
    kept = read_examples(builder)
    assert set(kept) == {
        k for k, e in full.items() if k[0] != "validation" and min(e["labels"], default=99) < 8
    }
    for key, example in kept.items():
        np.testing.assert_array_equal(example["labels"], full[key]["labels"])  # all labels kept


def test_unknown_label_and_wrong_level_are_refused(manual_dir, tmp_path):
    config = module.Youtube8mConfig(name="x", level="video", labels=("Not a class",))
    with pytest.raises(stream.StreamError, match="'Not a class': neither a class name"):
        build(manual_dir, tmp_path, config)
    with pytest.raises(stream.StreamError, match="these are frame-level shards"):
        build(manual_dir / "frame", tmp_path, module.Youtube8mConfig(name="y", level="video"))
    with pytest.raises(module.Youtube8mDataError, match="no shards in"):
        build(tmp_path, tmp_path, "video")
    with pytest.raises(module.Youtube8mDataError, match="level 'audio'"):
        module.Youtube8mConfig(name="z", level="audio")


def test_bad_shards_are_reported_and_skipped(manual_dir, tmp_path):
    """A truncated shard, one of the wrong width and one with a label outside the vocabulary."""
    folder = tmp_path / "manual" / "video"
    folder.mkdir(parents=True)
    for path in (manual_dir / "video").iterdir():
        (folder / path.name).symlink_to(path)
    (folder.parent / "vocabulary.csv").symlink_to(manual_dir / "vocabulary.csv")
    data = (manual_dir / "video" / "train0001.tfrecord").read_bytes()
    (folder / "train0007.tfrecord").write_bytes(data[:-10])  # an interrupted download
    synthetic.write_shards(
        tmp_path / "wide", "train", 1, 2, num_classes=NUM_CLASSES, rgb_size=32, audio_size=4
    )
    (tmp_path / "wide" / "train0000.tfrecord").rename(folder / "train0008.tfrecord")
    with tf.io.TFRecordWriter(str(folder / "train0009.tfrecord")) as writer:
        writer.write(records.encode_video_example("ok01", [1], np.zeros(16), np.zeros(4)))
        writer.write(records.encode_video_example("bad1", [NUM_CLASSES], np.zeros(16), np.zeros(4)))
    builder = build(folder.parent, tmp_path / "tfds", "video")
    assert builder.info.splits["train"].num_examples == 6  # the two good shards
    built = report(builder)
    bad = {row["shard"]: row for row in built["bad_shards"]}
    assert sorted(bad) == ["train0007.tfrecord", "train0008.tfrecord", "train0009.tfrecord"]
    assert "truncated" in bad["train0007.tfrecord"]["reason"]
    assert "'mean_rgb' has 32 values, expected 16" in bad["train0008.tfrecord"]["reason"]
    assert "outside the vocabulary's 30 classes" in bad["train0009.tfrecord"]["reason"]
    assert bad["train0009.tfrecord"]["records"] == 2 and bad["train0008.tfrecord"]["records"] == 2
    lost = builder.info.metadata["lost"]
    assert lost["shards"] == 3 and lost["records"] == 2 + 2 + 2
    assert built["summary"]["bad_shards"] == 3 and built["summary"]["examples"] == 18
    csv_rows = (pathlib.Path(builder.data_dir) / REPORT_CSV).read_text().splitlines()
    assert csv_rows[0].split(",") == list(module.SHARD_FIELDS) and len(csv_rows) == 1 + 9
    # The metadata on disk says the same.
    assert (
        json.loads((pathlib.Path(builder.data_dir) / "metadata.json").read_text())["lost"] == lost
    )


def test_beam_build_matches_plain_build(built, manual_dir, tmp_path):
    pytest.importorskip("apache_beam")
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    builder = build(manual_dir, tmp_path, "frame", beam_runner=FnApiRunner())
    assert report(builder)["runner"] == "beam"
    plain, beam = read_examples(built["frame"]), read_examples(builder)
    assert sorted(plain) == sorted(beam)
    for key, example in plain.items():
        for name, value in example.items():
            np.testing.assert_array_equal(beam[key][name], value, err_msg=f"{key} {name}")
    assert report(builder)["summary"] == report(built["frame"])["summary"]


@pytest.mark.slow
def test_tfds_build_command_line(manual_dir, tmp_path):
    """`tfds build builders/youtube8m` with a JSON config (the label subset), as the README."""
    config = '{"name": "cooking", "level": "video", "labels": ["Cooking", "Recipe", "Game"]}'
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "builders/youtube8m",
         "--manual_dir", str(manual_dir), "--data_dir", str(tmp_path), "--config", config],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reread = tfds.builder("youtube8m/cooking", data_dir=str(tmp_path))
    assert reread.info.metadata["labels_subset"] == [22, 20, 0]
    assert reread.info.features["labels"].feature.names == ["Cooking", "Recipe", "Game"]
