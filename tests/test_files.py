"""vidcls_keras.files: output folders and atomic writes."""

import concurrent.futures

import pytest

from vidcls_keras.files import OutputPathError, atomic_write_text, cache_dir, ensure_dir


def test_ensure_dir_is_safe_when_threads_make_the_same_folder(tmp_path):
    """Downloads make their staging folder from several threads: none may see the other's
    half-made folder as "a file in the way". (When ensure_dir checked before mkdir, a download
    failed that way in tests/youtube's hostile-server test; this loop is a guard, it did not
    reproduce the race on its own.)"""
    for round_ in range(20):
        target = tmp_path / f"round{round_}" / ".incomplete" / "food"
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            made = list(pool.map(ensure_dir, [target] * 16, ["staging"] * 16))
        assert made == [target] * 16 and target.is_dir()


def test_ensure_dir_names_the_file_in_the_way(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputPathError, match="afile is a file, so the folder .* cannot be made"):
        ensure_dir(tmp_path / "afile" / "sub", "--out")
    with pytest.raises(OutputPathError, match="afile is a file, not a folder"):
        ensure_dir(tmp_path / "afile", "--out")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir("embeddings") == tmp_path / "c" / "embeddings"
    monkeypatch.delenv("VIDCLS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("downloads") == tmp_path / "xdg" / "vidcls_keras" / "downloads"


def test_atomic_write_leaves_no_temp_file(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "b.json", "{}")
    assert path.read_text() == "{}" and [p.name for p in path.parent.iterdir()] == ["b.json"]
