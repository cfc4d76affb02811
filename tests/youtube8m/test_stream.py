"""stream_examples: the same examples as the built youtube8m dataset, from the shards directly."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder as module
from vidcls_keras.youtube8m import records, stream, synthetic

NUM_CLASSES = 30
SIZES = {"rgb_size": 16, "audio_size": 4}
SPLIT_PREFIX = {"train": "train", "validation": "validate", "test": "test"}


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("yt8m")
    synthetic.write_dataset(
        root / "video", "video", num_shards=2, videos_per_shard=3, num_classes=NUM_CLASSES,
        id_key="video_id", **SIZES,
    )  # fmt: skip
    synthetic.write_dataset(
        root / "frame", "frame", num_shards=2, videos_per_shard=3, num_classes=NUM_CLASSES,
        frames=(2, 6), segments=True, **SIZES,
    )  # fmt: skip
    return root


def built(manual_dir, data_dir, config) -> tfds.core.DatasetBuilder:
    builder = module.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


def assert_same(streamed: tf.data.Dataset, dataset: tf.data.Dataset) -> None:
    """Same examples, in the same order: keys, dtypes, shapes and values."""
    assert set(streamed.element_spec) == set(dataset.element_spec)
    for name, spec in dataset.element_spec.items():
        assert streamed.element_spec[name].dtype == spec.dtype, name
        assert streamed.element_spec[name].shape.as_list() == spec.shape.as_list(), name
    got, expected = list(tfds.as_numpy(streamed)), list(tfds.as_numpy(dataset))
    assert len(got) == len(expected) > 0
    for one, other in zip(got, expected, strict=True):
        for name, value in other.items():
            np.testing.assert_array_equal(one[name], value, err_msg=f"{other['id']} {name}")


def assert_same_videos(streamed: tf.data.Dataset, dataset: tf.data.Dataset) -> None:
    """The same videos with the same values, in any order."""
    built_examples = {x["id"]: x for x in tfds.as_numpy(dataset)}
    streamed_examples = list(tfds.as_numpy(streamed))
    assert sorted(x["id"] for x in streamed_examples) == sorted(built_examples)
    for example in streamed_examples:
        for name, value in built_examples[example["id"]].items():
            np.testing.assert_array_equal(example[name], value, err_msg=name)


@pytest.mark.parametrize("level", ["video", "frame"])
def test_stream_yields_the_built_examples(manual_dir, tmp_path, level):
    builder = built(manual_dir / level, tmp_path, level)
    for split, prefix in SPLIT_PREFIX.items():
        streamed, info = stream.stream_examples(
            str(manual_dir / level / f"{prefix}*.tfrecord"), level
        )
        # The builder orders examples by a hash of their key; the stream keeps the files' order.
        built_split = builder.as_dataset(split=split, shuffle_files=False)
        ids = [x["id"] for x in tfds.as_numpy(streamed)]
        order = {video_id: index for index, video_id in enumerate(ids)}
        sorted_built = sorted(tfds.as_numpy(built_split), key=lambda x: order[x["id"]])
        expected = tf.data.Dataset.from_generator(
            lambda sorted_built=sorted_built: iter(sorted_built),
            output_signature=built_split.element_spec,
        )
        assert_same(streamed, expected)
    assert info.label_names == tuple(builder.info.features["labels"].feature.names)
    assert (info.rgb_size, info.audio_size, info.num_classes) == (16, 4, NUM_CLASSES)
    metadata = dict(builder.info.metadata)
    assert {k: metadata[k] for k in info.metadata} == info.metadata


def test_stream_subset_matches_the_subset_build(manual_dir, tmp_path):
    labels = ("Cooking", "Recipe", "0", "1")
    config = module.Youtube8mConfig(name="subset", level="frame", labels=labels)
    builder = built(manual_dir / "frame", tmp_path, config)
    streamed, info = stream.stream_examples(
        [str(manual_dir / "frame" / "train*.tfrecord")], "frame", labels=labels
    )
    assert info.labels_subset == (22, 20, 0, 1) and info.label_mapping == {0: 22, 1: 20, 2: 0, 3: 1}
    assert info.metadata["num_classes"] == builder.info.metadata["num_classes"] == 4
    assert_same_videos(streamed, builder.as_dataset(split="train"))


def test_frames_stay_uint8_and_dequantize_as_the_starter(manual_dir):
    streamed, _ = stream.stream_examples(str(manual_dir / "frame" / "train0000.tfrecord"), "frame")
    example = next(iter(streamed))
    assert example["rgb"].dtype == tf.uint8 and example["num_frames"].dtype == tf.int32
    serialized = next(
        iter(tf.data.TFRecordDataset(str(manual_dir / "frame" / "train0000.tfrecord")))
    )
    parsed = records.parse_frame_example(serialized, num_classes=NUM_CLASSES, **SIZES)
    np.testing.assert_array_equal(records.dequantize(example["rgb"]), parsed["rgb"])


def test_stream_errors(manual_dir, tmp_path):
    with pytest.raises(stream.StreamError, match="no shard matches"):
        stream.stream_examples(str(tmp_path / "train*.tfrecord"), "video")
    with pytest.raises(stream.StreamError, match="these are frame-level shards"):
        stream.stream_examples(str(manual_dir / "frame" / "train*.tfrecord"), "video")
    with pytest.raises(stream.StreamError, match="level 'audio'"):
        stream.stream_examples(str(manual_dir / "frame" / "train*.tfrecord"), "audio")
    (tmp_path / "train0000.tfrecord").write_bytes(
        (manual_dir / "video" / "train0000.tfrecord").read_bytes()
    )
    with pytest.raises(stream.StreamError, match="need a vocabulary"):
        stream.stream_examples(str(tmp_path / "train*.tfrecord"), "video", labels=["Cooking"])
    # No vocabulary: the release's 3,862 indices, subsets by index.
    _, info = stream.stream_examples(str(tmp_path / "train*.tfrecord"), "video", labels=[3])
    assert info.label_names == ("class 3",) and info.labels_subset == (3,)


@pytest.mark.parametrize("reindex", [True, False])
def test_video_level_stream_subset_matches_the_subset_build(manual_dir, tmp_path, reindex):
    labels = ("Cooking", "Recipe", "0", "1")
    config = module.Youtube8mConfig(
        name=f"subset{int(reindex)}", level="video", labels=labels, reindex=reindex
    )
    builder = built(manual_dir / "video", tmp_path, config)
    streamed, _ = stream.stream_examples(
        str(manual_dir / "video" / "train*.tfrecord"), "video", labels=labels, reindex=reindex
    )
    assert_same_videos(streamed, builder.as_dataset(split="train"))


@pytest.mark.parametrize("level", ["video", "frame"])
def test_read_built_gives_as_datasets_examples_in_its_order(manual_dir, tmp_path, level):
    builder = built(manual_dir / level, tmp_path, level)
    for split in ("train", "validation", "train[1:5]", "test[-2:]"):
        assert_same(
            stream.read_built(builder, split), builder.as_dataset(split=split, shuffle_files=False)
        )


@pytest.mark.parametrize("level", ["video", "frame"])
def test_read_built_interleaves_several_files_as_tfds_does(tmp_path, level):
    # 2 x 30 videos built into 3 files: TFDS interleaves 16 records of each file in turn.
    synthetic.write_dataset(
        tmp_path / "shards", level, num_shards=2, videos_per_shard=30, num_classes=NUM_CLASSES,
        frames=(1, 3), **SIZES,
    )  # fmt: skip
    builder = module.Builder(config=level, data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(tmp_path / "shards"), num_shards=3
        )
    )
    assert len(builder.info.splits["train"].filenames) == 3
    files = tf.data.TFRecordDataset(builder.info.splits["train"].filepaths)
    in_file_order = [
        x["id"] for x in tfds.as_numpy(files.map(builder.info.features.deserialize_example))
    ]
    interleaved = [
        x["id"] for x in tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False))
    ]
    assert sorted(interleaved) == sorted(in_file_order) and interleaved != in_file_order
    for split in ("train", "train[5:37]", "train[-25:]"):
        expected = builder.as_dataset(split=split, shuffle_files=False)
        assert_same(stream.read_built(builder, split), expected)
        if level == "video":  # in parsed batches: the same examples once split
            batches = stream.read_built(builder, split, batched=True)
            assert batches.element_spec["mean_rgb"].shape.as_list() == [None, SIZES["rgb_size"]]
            assert_same(batches.unbatch(), expected)


def test_frame_level_features_are_stored_as_raw_bytes(manual_dir, tmp_path):
    serialized = built(manual_dir / "frame", tmp_path, "frame").info.features.get_serialized_info()
    assert serialized["rgb"].tf_dtype == serialized["audio"].tf_dtype == tf.string
