"""What the builders find in their manual folders."""

import os
import pathlib

from vidcls_keras.datasets.listing import list_youtube_videos
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
