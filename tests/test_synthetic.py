"""Tests for vidcls_keras.synthetic: generated clips, deterministic per seed, decodable, distinct."""

import hashlib
import pathlib

import numpy as np
import pytest

from vidcls_keras import synthetic, video
from vidcls_keras.errors import VidclsError

SMALL = {"num_frames": 12, "width": 64, "height": 48}


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_clip_is_deterministic_per_seed():
    first = synthetic.render_clip("ocean", 1, seed=3, **SMALL)
    assert first.shape == (12, 48, 64, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, synthetic.render_clip("ocean", 1, seed=3, **SMALL))
    assert not np.array_equal(first, synthetic.render_clip("ocean", 1, seed=4, **SMALL))
    assert not np.array_equal(first, synthetic.render_clip("ocean", 2, seed=3, **SMALL))
    # Frames move: consecutive frames differ.
    assert all(not np.array_equal(a, b) for a, b in zip(first[:-1], first[1:], strict=True))


def test_write_dataset_layout_and_same_bytes_for_same_seed(tmp_path):
    written = synthetic.write_dataset(tmp_path / "a", clips_per_class=2, seed=7, **SMALL)
    again = synthetic.write_dataset(tmp_path / "b", clips_per_class=2, seed=7, **SMALL)
    assert list(written) == list(synthetic.CLASS_NAMES)
    for class_name, paths in written.items():
        assert [p.name for p in paths] == [f"{class_name}_00.mp4", f"{class_name}_01.mp4"]
        assert all(p.parent == tmp_path / "a" / class_name for p in paths)
    for paths, other in zip(written.values(), again.values(), strict=True):
        for path, same in zip(paths, other, strict=True):
            assert _sha256(path) == _sha256(same)


def test_written_clips_decode_with_sample_frames(tmp_path):
    written = synthetic.write_dataset(tmp_path, clips_per_class=1, seed=0, **SMALL)
    for class_name, (path,) in written.items():
        frames = video.sample_frames(path, 6)
        assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
        all_frames = video.sample_frames(path, 100)
        assert len(all_frames) == SMALL["num_frames"], class_name
        # mp4v is lossy, but the decoded frames stay close to what was rendered.
        rendered = synthetic.render_clip(class_name, 0, seed=0, **SMALL)
        error = np.abs(all_frames.astype(int) - rendered.astype(int)).mean()
        assert error < 12, (class_name, error)


def test_classes_are_distinct():
    """Every clip is closer to its own class's mean colour than to any other class's."""
    colours = {
        name: np.stack(
            [synthetic.render_clip(name, i, seed=0, **SMALL).mean(axis=(0, 1, 2)) for i in range(4)]
        )
        for name in synthetic.CLASS_NAMES
    }
    centres = {name: clips.mean(axis=0) for name, clips in colours.items()}
    for name, clips in colours.items():
        for clip_colour in clips:
            distances = {other: np.linalg.norm(clip_colour - c) for other, c in centres.items()}
            assert min(distances, key=distances.get) == name, (name, distances)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"class_names": ["ocean", "volcano"]}, "not a generated class"),
        ({"class_names": ["ocean"]}, "at least 2 classes"),
        ({"clips_per_class": 0}, "clips_per_class must be a positive int"),
        ({"num_frames": -1}, "num_frames must be a positive int"),
    ],
)
def test_write_dataset_rejects_bad_requests(tmp_path, kwargs, match):
    with pytest.raises(synthetic.SyntheticVideoError, match=match):
        synthetic.write_dataset(tmp_path, **kwargs)


def test_write_clip_rejects_wrong_frames(tmp_path):
    with pytest.raises(synthetic.SyntheticVideoError, match="uint8 RGB"):
        synthetic.write_clip(tmp_path / "x.mp4", np.zeros((4, 8, 8, 3), np.float32))


def test_synthetic_video_error_is_a_user_error():
    assert issubclass(synthetic.SyntheticVideoError, VidclsError)
