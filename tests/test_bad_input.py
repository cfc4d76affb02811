"""Hostile and broken input to the commands, one case per row (issue 14).

Each row runs a command's `main` in-process and asserts its exit status, the message on stderr
(no traceback) and that nothing outside the command's target folder changed: a snapshot of
`tmp_path` is compared before and after. Rows marked "held" passed already when the issue was
filed; they stay as guards. Tiny and fast: the `tiny:0` embedder, 2 frames, a 4-slot mean head.
"""

import json
import os
import pathlib
import shutil
import stat
import sys
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# The training tests' tiny dataset (tests/training/tiny_videos.py), under the module name they use.
sys.path.insert(0, str(pathlib.Path(__file__).parent / "training"))

import keras  # noqa: E402
import pytest  # noqa: E402
from tiny_videos import TINY_DATASET, build_tiny_dataset  # noqa: E402

from vidcls_keras import clip, download, embed, predict, train  # noqa: E402
from vidcls_keras.files import OutputPathError, ensure_dir  # noqa: E402
from vidcls_keras.inference import classifier as classifier_module  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402

CLIP = "moviepy__fire2.mp4"  # the smallest shared clip (25 frames)
EMBED_FLAGS = ["--frames", "2", "--tiny", "0"]
LABELS = ("food", "travel")
MAX_FRAMES = 4


def snapshot(root: pathlib.Path) -> dict[str, tuple]:
    """Every path under `root`, links not followed: its kind, and a file's size and mtime."""
    entries = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = pathlib.Path(folder, name)
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            # A folder's own mtime changes when an entry is added below it: compare entries only.
            entries[str(path.relative_to(root))] = (
                (kind,) if stat.S_ISDIR(info.st_mode) else (kind, info.st_size, info.st_mtime_ns)
            )
    return entries


def changed(before: dict, after: dict, target: str | None = None) -> list[str]:
    """Paths added, removed or modified between two snapshots, outside `target` (a relative path)."""
    names = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    if target is None:
        return names
    return [name for name in names if name != target and not name.startswith(target + os.sep)]


def no_traceback(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    return stderr


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """`tmp_path` as the working directory (a shell command in a file name would write here),
    with `afile`, a regular file where the rows put a folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a regular file; must survive\n")
    return tmp_path


@pytest.fixture
def clip_file(workdir, shared_videos):
    """A copy of the smallest shared clip: `workdir/clip.mp4`."""
    return pathlib.Path(shutil.copy(shared_videos / CLIP, workdir / "clip.mp4"))


@pytest.fixture(scope="module")
def tiny_dataset_flags(tmp_path_factory):
    """`--dataset`, `--data-dir` of a built 3-class dataset (train checks it before its folder)."""
    data_dir = build_tiny_dataset(tmp_path_factory.mktemp("tfds"))
    return ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--epochs", "1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A training output directory (untrained mean head over `tiny:0` embeddings)."""
    keras.utils.set_random_seed(0)
    head = build_model(
        "mean",
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=clip.TINY_CONFIG.embed_dim,
    )
    path = tmp_path_factory.mktemp("run") / "mean"
    path.mkdir()
    head.save(path / "model.keras")
    config = {
        "model": "mean",
        "embedder_spec": "tiny:0",
        "label_names": list(LABELS),
        "max_frames": MAX_FRAMES,
        "num_frames": MAX_FRAMES,
        "inputs": "frames",
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


# --- 1. An output path that cannot be a folder: a clear error, exit 2, nothing written. --------


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("afile/sub", "--out afile/sub: afile is a file, so the folder afile/sub cannot be made"),
        ("afile", "--out afile: afile is a file, not a folder"),
    ],
)
def test_embed_out_that_cannot_be_a_folder(out, expected, workdir, clip_file, capsys):
    before = snapshot(workdir)
    assert embed.main([str(clip_file.name), *EMBED_FLAGS, "--out", out]) == 2
    assert expected in no_traceback(capsys.readouterr().err)
    assert changed(before, snapshot(workdir)) == []


def test_download_out_below_a_file(workdir, capsys):
    (workdir / "youtube.csv").write_text("link,title,description,category\n", encoding="utf-8")
    before = snapshot(workdir)
    arguments = ["--csv", "youtube.csv", "--out", "afile/sub", "--no-progress"]
    assert download.main(arguments) == 2
    err = no_traceback(capsys.readouterr().err)
    assert "--out afile/sub: afile is a file" in err
    assert changed(before, snapshot(workdir)) == []


def test_train_output_dir_below_a_file(workdir, tiny_dataset_flags, capsys):
    before = snapshot(workdir)
    assert train.main([*tiny_dataset_flags, "--output-dir", "afile/run"]) == 2
    err = no_traceback(capsys.readouterr().err)
    assert "--output-dir afile/run: afile is a file" in err
    assert changed(before, snapshot(workdir)) == []


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--export", "afile/model.keras", "--export afile/model.keras: afile is a file"),
        ("--export-saved-model", "afile/serving", "--export-saved-model afile/serving: afile is"),
    ],
)
def test_predict_export_below_a_file(flag, value, expected, workdir, run_dir, capsys):
    before = snapshot(workdir)
    assert predict.main([str(run_dir), flag, value]) == 2
    assert expected in no_traceback(capsys.readouterr().err)
    assert changed(before, snapshot(workdir)) == []


def test_ensure_dir_names_a_broken_link_and_makes_a_new_folder(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(OutputPathError, match="dangling is a broken symbolic link"):
        ensure_dir(tmp_path / "dangling" / "out", "--out")
    assert ensure_dir(tmp_path / "new" / "out").is_dir()
    assert ensure_dir(tmp_path / "new" / "out").is_dir()  # an existing folder is fine


# --- 4. A tampered or junk model: exit 2 with what is wrong, never a traceback. ----------------


def _set_layer(module, class_name, registered_name=None):
    def edit(config):
        layer = config["config"]["layers"][2]  # frames, padding_mask, then the MaskedMean
        layer.update(module=module, class_name=class_name, registered_name=registered_name)

    return edit


def _set_dense(key, value):
    def edit(config):
        config["config"]["layers"][3]["config"][key] = value  # the Dense "logits"

    return edit


def _reference(module, class_name, config=None):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


TOUCH_PWNED = "touch pwned"  # would create workdir/pwned if anything ever ran it
TAMPERED = {
    "layer evil_module.EvilLayer": (
        _set_layer("evil_module", "EvilLayer"),
        "unknown class evil_module.EvilLayer (at config.layers[2])",
    ),
    "registered layer evil_module>EvilLayer": (
        _set_layer("evil_module", "EvilLayer", "evil_module>EvilLayer"),
        "unknown class evil_module.EvilLayer",
    ),
    "layer os.system": (_set_layer("os", "system"), "unknown class os.system"),
    "layer builtins.eval": (_set_layer("builtins", "eval"), "unknown class builtins.eval"),
    "activation os.system": (
        _set_dense("activation", _reference("os", "system", {"command": TOUCH_PWNED})),
        "unknown class os.system (at config.layers[3].config.activation)",
    ),
    "activation builtins.eval, as a function": (
        _set_dense("activation", _reference("builtins", "function", "eval")),
        "unknown function builtins.eval",
    ),
    "activation 'os.system', as a name": (
        _set_dense("activation", "os.system"),
        "Could not interpret activation function identifier: os.system",
    ),
    "initializer os.system": (
        _set_dense("kernel_initializer", _reference("os", "system", {"command": TOUCH_PWNED})),
        "unknown class os.system (at config.layers[3].config.kernel_initializer)",
    ),
    "initializer evil_module.EvilInit": (
        _set_dense("kernel_initializer", _reference("evil_module", "EvilInit")),
        "unknown class evil_module.EvilInit",
    ),
    "model class os.system": (
        lambda config: config.update(module="os", class_name="system"),
        "unknown class os.system (at the top level)",
    ),
}


def _rewrite_config(source: pathlib.Path, target: pathlib.Path, edit) -> None:
    """Copies the `.keras` zip `source` to `target` with `edit(config)` applied to config.json."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as tampered:
        for name in original.namelist():
            data = original.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            tampered.writestr(name, data)


@pytest.mark.parametrize("case", list(TAMPERED))
def test_predict_refuses_a_tampered_model(case, workdir, run_dir, capsys):
    edit, expected = TAMPERED[case]
    tampered = workdir / "run"
    tampered.mkdir()
    shutil.copy(run_dir / "config.json", tampered / "config.json")
    _rewrite_config(run_dir / "model.keras", tampered / "model.keras", edit)
    before = snapshot(workdir)
    assert predict.main(["run", "missing.mp4"]) == 2
    err = no_traceback(capsys.readouterr().err)
    assert expected in err and "run/model.keras" in err
    assert changed(before, snapshot(workdir)) == []  # no pwned, nothing else


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


JUNK = {
    "empty file": (lambda path, good: path.write_bytes(b""), "is empty (0 bytes)"),
    "random bytes": (
        lambda path, good: path.write_bytes(os.urandom(3000)),
        "a .keras file is a zip archive and these 3,000 bytes are not one",
    ),
    "text renamed .keras": (
        lambda path, good: path.write_text("not a model\n"),
        "a .keras file is a zip archive",
    ),
    "cut short": (
        lambda path, good: path.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
        "cut-short",
    ),
    "zip without config.json": (
        lambda path, good: _zip(path, {"metadata.json": "{}"}),
        "is a zip archive without config.json (it holds ['metadata.json'])",
    ),
    "config.json not JSON": (
        lambda path, good: _zip(path, {"metadata.json": "{}", "config.json": "{not json"}),
        "its config.json cannot be read",
    ),
    "weights not HDF5": (
        lambda path, good: _zip(
            path,
            {
                "metadata.json": zipfile.ZipFile(good).read("metadata.json"),
                "config.json": zipfile.ZipFile(good).read("config.json"),
                "model.weights.h5": b"garbage" * 10,
            },
        ),
        "cannot be loaded as a Keras model (OSError",
    ),
}


@pytest.mark.parametrize("case", list(JUNK))
def test_predict_says_what_is_wrong_with_a_junk_keras_file(case, workdir, run_dir, capsys):
    write, expected = JUNK[case]
    write(workdir / "junk.keras", run_dir / "model.keras")
    before = snapshot(workdir)
    assert predict.main(["junk.keras", "missing.mp4"]) == 2
    err = no_traceback(capsys.readouterr().err)
    assert expected in err and "junk.keras" in err
    assert "File not found" not in err  # what Keras says of all of these
    assert changed(before, snapshot(workdir)) == []


def test_predict_refuses_a_lambda_carrying_code_in_safe_mode(workdir, capsys):
    """Held: the Lambda would run a shell command on a real batch, were safe mode off."""

    # Runs nothing while Keras traces the model (the batch axis is symbolic then).
    payload = keras.layers.Lambda(
        lambda x: x if x.shape[0] is None else x + __import__("os").system(TOUCH_PWNED)
    )
    inputs = keras.Input((3,))
    keras.Model(inputs, payload(inputs)).save(workdir / "lambda.keras")
    before = snapshot(workdir)
    assert predict.main(["lambda.keras", "missing.mp4"]) == 2
    err = no_traceback(capsys.readouterr().err)
    assert "safe mode refused it" in err and "lambda.keras" in err
    assert changed(before, snapshot(workdir)) == []


def test_a_genuine_bug_while_loading_keeps_its_traceback(run_dir, monkeypatch):
    """Only the file's problems become exit 2; an error of another kind is ours and surfaces."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in our code")

    monkeypatch.setattr(classifier_module.keras.saving, "load_model", broken)
    with pytest.raises(RuntimeError, match="a bug in our code"):
        predict.main([str(run_dir), "missing.mp4"])


# --- embed: empty folders, odd names, unreadable files (held, but the empty folder). ----------


def test_embed_names_an_empty_folder_and_goes_on(workdir, clip_file, capsys):
    (workdir / "empty").mkdir()
    before = snapshot(workdir)
    assert embed.main(["empty", clip_file.name, *EMBED_FLAGS, "--out", "out"]) == 0
    err = no_traceback(capsys.readouterr().err)
    assert "empty: no video files (.mp4" in err and "in this folder, skipped" in err
    assert (workdir / "out" / "clip.npy").is_file()
    assert changed(before, snapshot(workdir), target="out") == []


BAD_VIDEOS = [
    # (file name given to embed, what the file holds, exit status)
    ("a;rm -rf x.mp4", "the clip", 0),  # a shell would delete `x`
    ("$(touch pwned).mp4", "the clip", 0),  # a shell would create `pwned`
    ("`touch pwned`.mp4", b"text", 1),
    ("loop_a.mp4", "a symlink loop", 1),
    ("missing.mp4", None, 1),
    ("zero.mp4", b"", 1),
    ("notes.mp4", b"not a video\n", 1),
]


@pytest.mark.parametrize(("name", "content", "status"), BAD_VIDEOS)
def test_embed_bad_video_held(name, content, status, workdir, clip_file, capsys):
    (workdir / "x").write_text("a shell running `rm -rf x` would delete this\n")
    if content == "the clip":
        shutil.copy(clip_file, workdir / name)
    elif content == "a symlink loop":
        (workdir / name).symlink_to("loop_b.mp4")
        (workdir / "loop_b.mp4").symlink_to(name)
    elif content is not None:
        (workdir / name).write_bytes(content)
    before = snapshot(workdir)
    assert embed.main([name, *EMBED_FLAGS, "--out", "out"]) == status
    err = no_traceback(capsys.readouterr().err)
    if status == 1:
        assert "1 of 1 videos could not be read" in err and f"  {name}" in err
    else:
        assert "wrote 1 embedding files" in err
        assert (workdir / "out" / f"{pathlib.Path(name).stem}.npy").is_file()
    assert changed(before, snapshot(workdir), target="out") == []  # no `pwned`, `x` still there


# --- train: an existing run is never overwritten (held). ----------------------------------------


def test_train_refuses_a_finished_run_without_overwrite(workdir, tiny_dataset_flags, capsys):
    run = workdir / "runs" / "finished"
    run.mkdir(parents=True)
    for name in ("model.keras", "config.json", "metrics.json", "history.csv"):
        (run / name).write_text(f"the earlier run's {name}\n")
    before = snapshot(workdir)
    assert train.main([*tiny_dataset_flags, "--output-dir", "runs/finished"]) == 2
    err = no_traceback(capsys.readouterr().err)
    assert "--output-dir runs/finished" in err and "--overwrite" in err
    assert changed(before, snapshot(workdir)) == []


def test_embed_says_a_truncated_video_is_truncated(workdir, shared_videos, capsys):
    """Cause 2: the first 30% of a clip whose index comes first decodes to 1 of 25 frames."""
    cut = workdir / "cut.mp4"
    cut.write_bytes((shared_videos / CLIP).read_bytes()[:535162])
    before = snapshot(workdir)
    assert embed.main([str(cut), *EMBED_FLAGS, "--out", "out", "--json"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out.strip().splitlines()[-1])
    assert (record["decoded"], record["expected"], record["ok"]) == (1, 25, True)
    assert "only 1 of the 25 frames its container lists decode" in no_traceback(err)
    assert changed(before, snapshot(workdir), "out") == []

    assert embed.main([str(cut), *EMBED_FLAGS, "--out", "out2", "--truncated", "fail"]) == 1
    assert "1 of 1 videos could not be read" in no_traceback(capsys.readouterr().err)
    assert not (workdir / "out2" / "cut.npy").exists()


def test_embed_refuses_an_output_file_that_is_a_folder(workdir, clip_file, capsys):
    (workdir / "out" / "clip.npy").mkdir(parents=True)
    before = snapshot(workdir)
    with pytest.raises(SystemExit) as exit_info:
        embed.main([str(clip_file), *EMBED_FLAGS, "--out", "out"])
    assert exit_info.value.code == 2
    assert "are folders, not files" in no_traceback(capsys.readouterr().err)
    assert changed(before, snapshot(workdir)) == []


def test_a_one_class_manual_folder_is_refused(workdir, shared_videos):
    """Cause 5: three clips in one class folder used to build a 1-class dataset."""
    from vidcls_keras.datasets.listing import VideoListError, list_video_folder

    (workdir / "manual" / "only").mkdir(parents=True)
    for index in range(3):
        shutil.copy(shared_videos / CLIP, workdir / "manual" / "only" / f"clip{index}.mp4")
    with pytest.raises(VideoListError, match="at least 2 classes"):
        list_video_folder(workdir / "manual")


def test_hidden_names_are_listed_as_skipped(workdir, shared_videos):
    from vidcls_keras.datasets.listing import list_video_folder

    for label in ("a", "b"):
        (workdir / "manual" / label).mkdir(parents=True)
        shutil.copy(shared_videos / CLIP, workdir / "manual" / label / "clip.mp4")
    (workdir / "manual" / "a" / ".hidden.mp4").write_bytes(b"x")
    listing = list_video_folder(workdir / "manual")
    skipped = {problem["video_id"]: problem["reason"] for problem in listing.problems}
    assert "hidden" in skipped["a/.hidden.mp4"]
    assert len(listing.videos) == 2
