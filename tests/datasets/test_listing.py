"""What the builders find in their manual folders."""

import os
import pathlib
import re
import shutil

import pytest

from vidcls_keras.datasets.listing import VideoListError, list_video_folder, list_youtube_videos
from vidcls_keras.datasets.youtube_videos import youtube_videos_dataset_builder


def test_youtube_listing_reports_missing_videos():
    dummy = pathlib.Path(youtube_videos_dataset_builder.__file__).parent / "dummy_data"
    found = list_youtube_videos(
        dummy / "youtube.csv", dummy / "videos", youtube_videos_dataset_builder.CLASS_NAMES
    )
    assert len(found.videos) == 8
    assert found.class_names == ["food", "art_music", "travel", "history"]
    assert [(p["video_id"], p["status"]) for p in found.problems] == [("trav0000009", "missing")]
    assert {v.title for v in found.videos} >= {"food clip 1", "history clip 2"}
    assert all(os.path.isabs(v.path) for v in found.videos)


def _touch(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # listing never decodes: empty files are enough


def test_a_single_class_folder_is_refused_naming_the_layout(tmp_path):
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        _touch(tmp_path / "cats" / name)
    with pytest.raises(VideoListError) as raised:
        list_video_folder(tmp_path)
    message = str(raised.value)
    assert f"manual_dir {tmp_path} has 1 class folder (cats)" in message
    assert "at least 2" in message and "<manual_dir>/<class>/<video>" in message


def test_hidden_and_stray_names_are_listed_as_skipped(tmp_path):
    for path in ("cats/a.mp4", "dogs/b.mp4", "cats/.DS_Store", "cats/._a.mp4", "dogs/.thumbs/x"):
        _touch(tmp_path / path)
    _touch(tmp_path / ".DS_Store")
    (tmp_path / ".git").mkdir()
    _touch(tmp_path / "loose.mp4")
    found = list_video_folder(tmp_path)
    assert [v.video_id for v in found.videos] == ["cats/a.mp4", "dogs/b.mp4"]
    assert found.class_names == ["cats", "dogs"]
    skipped = {p["video_id"]: (p["label"], p["status"], p["reason"]) for p in found.problems}
    assert skipped == {
        ".DS_Store": ("", "skipped", "hidden file"),
        ".git": ("", "skipped", "hidden folder"),
        "loose.mp4": ("", "skipped", "not in a class folder: videos go in <class>/<video>"),
        "cats/.DS_Store": ("cats", "skipped", "hidden file"),
        "cats/._a.mp4": ("cats", "skipped", "hidden file"),
        "dogs/.thumbs": ("dogs", "skipped", "hidden folder"),
    }
    assert all(os.path.isabs(p["path"]) for p in found.problems)


def test_youtube_videos_of_one_category_only_are_refused(tmp_path):
    dummy = pathlib.Path(youtube_videos_dataset_builder.__file__).parent / "dummy_data"
    shutil.copytree(dummy / "videos" / "food", tmp_path / "videos" / "food")
    with pytest.raises(VideoListError) as raised:
        list_youtube_videos(
            dummy / "youtube.csv", tmp_path / "videos", youtube_videos_dataset_builder.CLASS_NAMES
        )
    message = str(raised.value)
    assert "the videos on disk are of 1 category (food)" in message and "at least 2" in message
    assert f"{tmp_path / 'videos'}/<category>/<id>.<ext>" in message


def test_group_patterns_find_the_source_video():
    from vidcls_keras.datasets.listing import (
        UCF101_GROUP_PATTERN,
        GroupPatternError,
        Video,
        check_group_pattern,
        video_group,
    )

    ucf = check_group_pattern(UCF101_GROUP_PATTERN)
    assert video_group(Video("a/x", "/d/a/v_ApplyEyeMakeup_g07_c04.avi", "a"), ucf) == (
        "ApplyEyeMakeup_g07"
    )
    assert video_group(Video("a/clip1.mp4", "/d/a/clip1.mp4", "a"), ucf) == ""  # its own group
    assert Video("a/clip1.mp4", "", "a").split_group == "a/clip1.mp4"
    custom = check_group_pattern(r"^(.+)_part\d+", source="$VIDCLS_GROUP_PATTERN")
    assert video_group(Video("a/match_part3.mp4", "", "a"), custom) == "match"
    for bad, message in (("(a", "not a valid regular expression"), ("(a)(b)", "2 capturing")):
        with pytest.raises(GroupPatternError, match=re.escape(message)):
            check_group_pattern(bad)


def test_ucf101_lists_are_found_and_are_not_classes(tmp_path, monkeypatch):
    from vidcls_keras.datasets.listing import find_ucf101_lists

    for path in ("A/v_A_g01_c01.avi", "A/v_A_g02_c01.avi", "B/v_B_g01_c01.avi"):
        _touch(tmp_path / path)
    assert find_ucf101_lists(tmp_path) is None
    (tmp_path / "trainlist02.txt").write_text("A/v_A_g02_c01.avi 1\n")
    (tmp_path / "testlist02.txt").write_text("A/v_A_g01_c01.avi\n")
    (tmp_path / "ucfTrainTestlist").mkdir()
    (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").write_text("B/v_B_g01_c01.avi 2\n")
    with pytest.raises(VideoListError, match="no trainlist0N.txt with its testlist0N.txt"):
        find_ucf101_lists(tmp_path / "ucfTrainTestlist")
    lists, name = find_ucf101_lists(tmp_path)  # 01 is incomplete: the lowest complete is 02
    assert name == "trainlist02.txt + testlist02.txt"
    assert lists == {"train": ["A/v_A_g02_c01.avi"], "test": ["A/v_A_g01_c01.avi"]}
    with pytest.raises(VideoListError, match=r"UCF101 split 3 asked for .*choose one of \[2\]"):
        find_ucf101_lists(tmp_path, 3)
    found = list_video_folder(tmp_path)
    assert found.class_names == ["A", "B"]  # ucfTrainTestlist/ is not a class
    assert found.split_lists == {"train": ["A/v_A_g02_c01.avi"], "test": ["A/v_A_g01_c01.avi"]}
    assert [p["video_id"] for p in found.problems] == ["B/v_B_g01_c01.avi"]  # in neither list
