"""Clip configs (clips16 / clips8) of the video builders, and splits by source-video group.

A UCF101-style folder of generated clips (`v_<Class>_g<NN>_c<NN>.mp4`, two groups per class,
three clips per group) is built with `clips8`; the real shared clips with `tfds build`.
"""

import json
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds
from support import REPO_ROOT, require_shared

from vidcls_keras.datasets import clips
from vidcls_keras.datasets.listing import GroupPatternError
from vidcls_keras.datasets.report import REPORT_JSON
from vidcls_keras.datasets.video_folder import video_folder_dataset_builder
from vidcls_keras.video import FrameSamplingError, frame_indices, probe_video, sample_frames

FPS = 10
UCF_CLASSES = {"ApplyEyeMakeup": (40, 120, 220), "Basketball": (60, 200, 60)}  # BGR


def write_clip(path: pathlib.Path, colour, num_frames: int, size=(64, 48)) -> None:
    """A tiny MP4 (OpenCV's mp4v): flat `colour` with a white square moving right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    for index in range(num_frames):
        frame = np.empty((size[1], size[0], 3), np.uint8)
        frame[:] = colour
        cv2.rectangle(frame, (index * 4, 12), (index * 4 + 12, 24), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def ucf_folder(tmp_path_factory) -> pathlib.Path:
    """`<Class>/v_<Class>_g<NN>_c<NN>.mp4`: 2 classes x 2 groups x 3 clips, 6 to 12 frames."""
    root = tmp_path_factory.mktemp("ucf")
    for class_name, colour in UCF_CLASSES.items():
        for group in (1, 2):
            for clip in (1, 2, 3):
                name = f"v_{class_name}_g{group:02d}_c{clip:02d}.mp4"
                write_clip(root / class_name / name, colour, 4 + 2 * clip + group)
    return root


def build(manual_dir, data_dir, config="clips8", **kwargs):
    builder = video_folder_dataset_builder.Builder(config=config, data_dir=str(data_dir), **kwargs)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


def read_examples(builder) -> dict[str, dict]:
    examples = {}
    for split in builder.info.splits:
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            example["split"] = split
            examples[example["video_id"].decode()] = example
    return examples


def report(builder) -> dict:
    return json.loads((pathlib.Path(builder.data_dir) / REPORT_JSON).read_text())


@pytest.fixture(scope="module")
def ucf_build(ucf_folder, tmp_path_factory):
    builder = build(ucf_folder, tmp_path_factory.mktemp("clips"))
    return builder, read_examples(builder)


def test_clip_examples_hold_the_contract_features(ucf_build, ucf_folder):
    builder, examples = ucf_build
    assert len(examples) == 12
    for video_id, example in examples.items():
        path = ucf_folder / video_id
        total = probe_video(path).packets
        frames = example["clip_frames"]
        assert frames.shape == (min(8, total), 256, 341, 3)  # 64x48 -> short side 256
        assert example["num_frames"] == len(frames) == len(example["timestamps"])
        np.testing.assert_allclose(example["timestamps"], frame_indices(total, 8) / FPS, rtol=1e-6)
        expected = clips.resize_short_side(sample_frames(path, 8))
        # JPEG (quality 95) of the decoded, resized frames: within a few levels on average.
        assert np.abs(frames.astype(int) - expected.astype(int)).mean() < 3
        class_name, name = video_id.split("/")
        assert example["group"].decode() == f"{class_name}_g{name.split('_g')[1][:2]}"
    metadata = builder.info.metadata
    assert metadata["num_frames"] == 8 and metadata["clip_short_side"] == 256
    assert metadata["split_source"] == "groups" and "embedder" not in metadata
    assert metadata["group_pattern"] == r"^v_(.+_g\d+)_c\d+"
    assert builder.info.supervised_keys == ("clip_frames", "label")


def test_no_group_straddles_two_splits_and_the_report_lists_them(ucf_build):
    builder, examples = ucf_build
    split_of_group = {}
    for example in examples.values():
        group = example["group"].decode()
        assert split_of_group.setdefault(group, example["split"]) == example["split"], group
    assert len(split_of_group) == 4 and set(split_of_group.values()) == {
        "train",
        "validation",
        "test",
    }
    built = report(builder)
    listed = {split: built["splits"][split]["groups"] for split in ("train", "validation", "test")}
    assert sorted(g for groups in listed.values() for g in groups) == sorted(split_of_group)
    for split, groups in listed.items():
        assert all(split_of_group[group] == split for group in groups)
    assert built["summary"]["decoded"] == 12 and built["split_source"] == "groups"
    assert "embedder" not in built


def test_embedding_configs_split_by_the_same_groups(ucf_build, ucf_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "cache"))
    frames = read_examples(build(ucf_folder, tmp_path / "frames", "frames16", embedder="tiny:0"))
    clip_splits = {video_id: example["split"] for video_id, example in ucf_build[1].items()}
    assert {video_id: example["split"] for video_id, example in frames.items()} == clip_splits


def test_ucf101_lists_define_the_splits(ucf_folder, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    for class_name in UCF_CLASSES:
        (manual / class_name).symlink_to(ucf_folder / class_name)
    lists = manual / "ucfTrainTestlist"
    lists.mkdir()
    train = [
        f"{c}/v_{c}_g02_c{k:02d}.mp4 {i + 1}" for i, c in enumerate(UCF_CLASSES) for k in (1, 2, 3)
    ]
    test = [f"{c}/v_{c}_g01_c{k:02d}.mp4" for c in UCF_CLASSES for k in (1, 2)]  # c03: neither
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(test + ["Other/v_Other_g01_c01.avi"]) + "\n")
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Basketball\n")
    builder = build(manual, tmp_path / "data")
    examples = read_examples(builder)
    assert sorted(i for i, e in examples.items() if e["split"] == "test") == sorted(
        line.split()[0] for line in test
    )
    held_out = {i for i, e in examples.items() if e["split"] != "test"}
    assert held_out == {line.split()[0] for line in train}
    validation_groups = {e["group"] for e in examples.values() if e["split"] == "validation"}
    train_groups = {e["group"] for e in examples.values() if e["split"] == "train"}
    assert validation_groups and not validation_groups & train_groups  # carved by group
    assert builder.info.metadata["split_source"] == "ucf101_lists"
    built = report(builder)
    assert built["source"]["split_lists"] == "trainlist01.txt + testlist01.txt"
    assert built["source"]["split_list_entries_not_on_disk"] == 1
    skipped = {p["video_id"]: p["reason"] for p in built["skipped"]}
    assert set(skipped) == {f"{c}/v_{c}_g01_c03.mp4" for c in UCF_CLASSES}
    assert "in neither of UCF101's lists" in next(iter(skipped.values()))


@pytest.mark.parametrize(
    "pattern, message",
    [("v_(.+", "not a valid regular expression"), (r"v_.+_g\d+", "has 0 capturing groups")],
)
def test_bad_group_pattern_is_a_clear_error(pattern, message, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDCLS_GROUP_PATTERN", pattern)
    with pytest.raises(GroupPatternError, match=message) as raised:
        video_folder_dataset_builder.Builder(config="clips8", data_dir=str(tmp_path))
    assert "$VIDCLS_GROUP_PATTERN" in str(raised.value) and "one capturing group" in str(
        raised.value
    )


def test_group_pattern_from_the_environment_is_recorded(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDCLS_GROUP_PATTERN", r"^(.+)_part\d+")
    builder = video_folder_dataset_builder.Builder(config="clips16", data_dir=str(tmp_path))
    assert builder.info.metadata["group_pattern"] == r"^(.+)_part\d+"
    assert builder.info.metadata["num_frames"] == 16


def test_keyframe_sampling_is_refused_for_clips(ucf_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLS_FRAME_SAMPLING", "keyframes")
    with pytest.raises(FrameSamplingError, match="clip configs store evenly spaced frames"):
        build(ucf_folder, tmp_path)


def test_beam_build_matches_plain_build(ucf_build, ucf_folder, tmp_path):
    pytest.importorskip("apache_beam")
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    builder = video_folder_dataset_builder.Builder(config="clips8", data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(ucf_folder), beam_runner=FnApiRunner()
        )
    )
    assert report(builder)["runner"] == "beam"
    beam, plain = read_examples(builder), ucf_build[1]
    assert sorted(beam) == sorted(plain)
    for video_id, example in plain.items():
        for name, value in example.items():
            np.testing.assert_array_equal(beam[video_id][name], value, err_msg=f"{video_id} {name}")


@pytest.mark.slow
def test_tfds_build_clips16_from_the_shared_clips(shared_videos, tmp_path):
    """`tfds build builders/video_folder --config clips16` on the real clips, as the README."""
    require_shared(shared_videos, "shared clips")
    names = sorted(p.name for p in shared_videos.iterdir() if not p.name.startswith("."))
    for index, name in enumerate(names):
        folder = tmp_path / "videos" / ("people" if index % 2 else "scenes")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(shared_videos / name)
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build",
         "builders/video_folder", "--config", "clips16", "--manual_dir", str(tmp_path / "videos"),
         "--data_dir", str(tmp_path / "tfds")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    builder = tfds.builder("video_folder/clips16", data_dir=str(tmp_path / "tfds"))
    examples = read_examples(builder)
    assert len(examples) == len(names)
    for video_id, example in examples.items():
        frames = example["clip_frames"]
        assert len(frames) == 16 and min(frames.shape[1:3]) == 256
        assert np.all(np.diff(example["timestamps"]) > 0)
        upright = sample_frames(tmp_path / "videos" / video_id, 16)
        # Orientation kept: the stored frames have the decoded (upright) frames' aspect.
        assert (frames.shape[1] > frames.shape[2]) == (upright.shape[1] > upright.shape[2])
    assert "clips decoded" in result.stdout + result.stderr
