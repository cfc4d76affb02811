"""vidcls_keras.retrieval.maps: t-SNE maps of video embeddings and one video's frame path."""

import importlib.util

import numpy as np
import pytest
from aligned_runs import tiny_aligned_head, write_run
from retrieval_datasets import CLASS_NAMES, DATASET

from vidcls_keras.clip.tiny import TINY_EMBED_DIM
from vidcls_keras.retrieval import maps
from vidcls_keras.retrieval.index import SearchError, l2_normalize, load_video_index
from vidcls_keras.retrieval.video_embeddings import run_video_index, split_frame_embeddings

PNG = b"\x89PNG\r\n\x1a\n"


def test_video_map_fits_the_index_vectors(random_dataset):
    index = load_video_index(DATASET, "test", random_dataset)
    first = maps.video_map(index, seed=3)
    np.testing.assert_allclose(first.vectors, index.embeddings, atol=1e-6)
    assert first.points.shape == (12, 2) and first.num_videos == 12
    np.testing.assert_array_equal(first.labels, index.labels)
    np.testing.assert_array_equal(maps.video_map(index, seed=3).points, first.points)  # seeded
    figure = maps.map_figure(first)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == [f"{name} (4)" for name in CLASS_NAMES]


def test_trajectory_map_fits_videos_and_frames_together(random_dataset):
    index = load_video_index(DATASET, "test", random_dataset)
    video_id = str(index.video_ids[5])
    frames = split_frame_embeddings(DATASET, "test", random_dataset, video_id)
    trajectory = maps.trajectory_map(index, video_id, frames)
    expected = np.concatenate([index.embeddings, l2_normalize(frames)])
    np.testing.assert_allclose(trajectory.vectors, expected, atol=1e-6)
    assert trajectory.points.shape == (12 + len(frames), 2)
    assert trajectory.video_id == video_id and trajectory.num_videos == 12
    assert maps.trajectory_figure(trajectory).axes  # draws
    with pytest.raises(maps.MapError, match="not among"):
        maps.trajectory_map(index, "nope", frames)
    with pytest.raises(maps.MapError, match="width"):
        maps.trajectory_map(index, video_id, np.ones((3, TINY_EMBED_DIM + 1)))
    with pytest.raises(maps.MapError, match="no frames"):
        maps.trajectory_figure(maps.video_map(index))


def test_write_maps_with_an_aligned_run(random_dataset, tmp_path):
    head = tiny_aligned_head(3, TINY_EMBED_DIM, 3, joint_dim=TINY_EMBED_DIM)
    run_dir = write_run(tmp_path / "run", head, CLASS_NAMES, 3)
    video_id = "video1_2"
    written = maps.write_maps(
        DATASET, data_dir=random_dataset, run=run_dir, video_id=video_id, out=tmp_path / "out"
    )
    assert set(written) == {"map", "trajectory"}
    for path, _ in written.values():
        assert path.read_bytes().startswith(PNG)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["trajectory.png", "tsne.png"]
    run_vectors = run_video_index(run_dir, DATASET, "test", random_dataset).embeddings
    np.testing.assert_allclose(written["map"][1].vectors, run_vectors, atol=1e-6)
    np.testing.assert_allclose(written["trajectory"][1].vectors[:12], run_vectors, atol=1e-6)
    assert written["map"][1].source == str(run_dir)
    # A bad video id is refused before anything is written.
    with pytest.raises(SearchError, match="no video .nope."):
        maps.write_maps(DATASET, data_dir=random_dataset, video_id="nope", out=tmp_path / "none")
    assert not list((tmp_path / "none").iterdir())


def test_reduce_to_2d_errors():
    with pytest.raises(maps.MapError, match="at least 3"):
        maps.reduce_to_2d(np.ones((2, 4)))
    with pytest.raises(maps.MapError, match="choose one of tsne, umap"):
        maps.reduce_to_2d(np.ones((5, 4)), method="pca")


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn installed")
def test_umap_without_umap_learn_says_how_to_install():
    with pytest.raises(maps.MapError, match="pip install umap-learn"):
        maps.reduce_to_2d(np.random.default_rng(0).standard_normal((6, 4)), method="umap")


def test_umap_when_installed():
    pytest.importorskip("umap")
    points = maps.reduce_to_2d(np.random.default_rng(0).standard_normal((20, 4)), method="umap")
    assert points.shape == (20, 2)
