"""Interrupted training resumes (issue 14, cause 6): a run killed with SIGKILL at a random epoch,
then the same command, ends with the metrics of an uninterrupted run, number for number.

The killed run is a real `python -m vidcls_keras.train` process; the uninterrupted reference
trains in this process meanwhile, and the resumed run is the same command line, in this process
too (`train.main`), so only one process start is paid. Exact equality holds because on CPU the
same XLA programs on the same inputs give the same bits, and a resumed run restores every input
that changes from epoch to epoch (see `resume.RunBackup`); any state left behind would show here.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tiny_videos import REPO_ROOT, TINY_DATASET, build_tiny_dataset, tiny_config  # noqa: E402

from vidcls_keras import data  # noqa: E402
from vidcls_keras.train import main as train_main  # noqa: E402
from vidcls_keras.training import trainer  # noqa: E402

# Dropout (transformer), mixup and shuffling: every random stream a resume must continue. Enough
# epochs (about 0.1-0.3 s each) that the killed run is still training when it is killed.
SETTINGS = dict(model="transformer", mixup=True, seed=3, epochs=24)


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    return build_tiny_dataset(tmp_path_factory.mktemp("tfds"))


def command_line(data_dir, output_dir, **changes) -> list[str]:
    """`train` flags for SETTINGS (with `changes`), batch 4, quiet."""
    settings = {**SETTINGS, **changes}
    arguments = ["--model", settings["model"], "--mixup" if settings["mixup"] else "--no-mixup"]
    arguments += ["--seed", str(settings["seed"]), "--epochs", str(settings["epochs"])]
    arguments += ["--batch-size", "4", "--verbose", "0", "--dataset", TINY_DATASET]
    return arguments + ["--data-dir", str(data_dir), "--output-dir", str(output_dir)]


def epochs_done(run_dir) -> int:
    """The epochs the run's backup holds (0 while there is no backup to read)."""
    try:
        return json.loads((run_dir / "backup" / "state.json").read_text())["epochs_done"]
    except (OSError, ValueError):
        return 0


def test_killed_training_resumes_with_the_metrics_of_an_uninterrupted_run(
    tiny_data_dir, tmp_path, capsys
):
    # A random point after at least one finished epoch: once the backup holds `after_epochs`,
    # wait `delay` (up to about two epochs), so the kill can land anywhere in an epoch, also
    # while its row, its TensorBoard events or its backup are being written.
    after_epochs, delay = random.randint(1, 4), random.uniform(0.0, 0.5)
    run_dir, log = tmp_path / "killed", tmp_path / "killed.log"
    arguments = command_line(tiny_data_dir, run_dir)
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidcls_keras.train", *arguments],
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def kill_at_the_random_point():
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if epochs_done(run_dir) >= after_epochs:
                time.sleep(delay)
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_at_the_random_point, daemon=True)
    killer.start()
    # Meanwhile, the same run uninterrupted, in this process.
    reference_dir = tmp_path / "uninterrupted"
    trainer.train(tiny_config(tiny_data_dir, reference_dir, **SETTINGS))
    killer.join(timeout=300)
    process.wait(timeout=60)
    where = f"(killed {delay:.2f} s after epoch {after_epochs}; its log: {log.read_text()[-2000:]})"
    assert process.returncode == -signal.SIGKILL, where
    assert not (run_dir / "metrics.json").exists(), where
    done = epochs_done(run_dir)
    assert 1 <= done < SETTINGS["epochs"], where

    # Another config on the interrupted run is refused, naming the difference.
    assert train_main(command_line(tiny_data_dir, run_dir, seed=4)) == 2
    assert (
        f"holds a run interrupted at epoch {done} of 24 with another config (diff: --seed 3 -> 4): "
        "rerun the same command to resume, or pass --overwrite"
    ) in capsys.readouterr().err
    assert epochs_done(run_dir) == done

    # The same command resumes it, and ends where the uninterrupted run ended.
    assert train_main(arguments) == 0
    assert f"resuming {run_dir} from epoch {done} of 24" in capsys.readouterr().err
    resumed = json.loads((run_dir / "metrics.json").read_text())
    reference = json.loads((reference_dir / "metrics.json").read_text())
    assert resumed == reference, where  # exact: every loss, score and count
    assert resumed["selection"]["epochs"] == 24
    # One row per epoch, the killed run's and the resumed run's, as the uninterrupted run wrote them.
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == list(range(24))
    assert (run_dir / "history.csv").read_text() == (reference_dir / "history.csv").read_text()
    assert not (run_dir / "backup").exists()  # removed once metrics.json marks the run finished
    event_files = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert {path.parent.name for path in event_files} == {"train", "validation"}

    # Finished: the same command now refuses to replace it.
    assert train_main(arguments) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_run_interrupted_after_its_last_epoch_resumes_to_the_same_metrics(
    tiny_data_dir, tmp_path, monkeypatch, capsys
):
    """Killed after training, before metrics.json: the resume runs no epoch, only the tests."""
    settings = dict(model="mean", epochs=2)
    reference = trainer.train(tiny_config(tiny_data_dir, tmp_path / "uninterrupted", **settings))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill would: after the last backup, before metrics.json

    run_dir = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "_plot", interrupted)
        with pytest.raises(KeyboardInterrupt):
            trainer.train(tiny_config(tiny_data_dir, run_dir, **settings))
    assert epochs_done(run_dir) == 2 and not (run_dir / "metrics.json").exists()

    assert trainer.train(tiny_config(tiny_data_dir, run_dir, **settings)) == reference
    assert f"resuming {run_dir} from epoch 2 of 2" in capsys.readouterr().err
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == [0, 1]


def test_run_folder_without_a_backup_is_refused(tiny_data_dir, tmp_path):
    """What a run killed before runs kept backups left: history.csv and tensorboard/ only."""
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (tmp_path / "tensorboard").mkdir()
    with pytest.raises(trainer.TrainError, match=r"unfinished run \(history.csv\) with no backup/"):
        trainer.train(tiny_config(tiny_data_dir, tmp_path, **SETTINGS))
    assert (tmp_path / "history.csv").read_text() == "epoch,loss\n0,1.0\n"


@pytest.mark.parametrize("mixup_alpha", [None, 0.4])
def test_each_epochs_batches_depend_only_on_seed_and_epoch(mixup_alpha):
    """`make_batches(epochs=range(k, n))` gives the batches of epochs k..n-1 of `range(0, n)`."""
    rng = np.random.default_rng(0)
    examples = tf.data.Dataset.from_tensor_slices(
        {
            "embeddings": rng.normal(size=(10, 3, 4)).astype(np.float32),
            "label": np.arange(10) % 3,
        }
    )
    settings = dict(num_classes=3, max_frames=3, batch_size=4, training=True, seed=5)

    def epochs(first, last):  # 3 batches per epoch: 4 + 4 + 2 videos
        batches = data.make_batches(
            examples, mixup_alpha=mixup_alpha, epochs=range(first, last), **settings
        )
        return [(inputs["frames"], labels) for inputs, labels in batches.as_numpy_iterator()]

    whole, resumed = epochs(0, 4), epochs(2, 4)
    assert len(whole) == 12 and len(resumed) == 6
    for (frames, labels), (frames_again, labels_again) in zip(whole[6:], resumed, strict=True):
        np.testing.assert_array_equal(frames, frames_again)
        np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(whole[0][1], whole[3][1])  # each epoch is shuffled anew
