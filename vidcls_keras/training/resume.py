"""A run folder, and how a killed run resumes: `prepare_output_dir` and the `RunBackup` callback.

`train` keeps a `backup/` in `--output-dir` while a run is unfinished; a run is finished once
`metrics.json` is written, last. The same command on an interrupted run's folder resumes it after
its last finished epoch (with the batches, weights, optimizer, dropout seeds and model selection of
an uninterrupted run: tested number for number); another config there, a finished run, or run
files without a backup are refused; `--overwrite` replaces any of them.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import sys
from typing import Any

import keras
import numpy as np

from vidcls_keras.config_flags import flag_name
from vidcls_keras.files import atomic_write_bytes, ensure_dir
from vidcls_keras.training import artifacts
from vidcls_keras.training.artifacts import (
    BACKUP_DIRNAME,
    BACKUP_STATE_FILENAME,
    CONFUSION_FILENAME,
    CURVES_FILENAME,
    HISTORY_FILENAME,
    METRICS_FILENAME,
    OUTPUT_FILENAMES,
    TENSORBOARD_DIRNAME,
)
from vidcls_keras.training.config import TrainConfig, TrainError

# TrainConfig fields that say where and how loudly a run goes, not what it trains: a resumed run
# may change them. Any other difference would make the resumed run another run.
_NOT_RECORDED_FOR_RESUME = ("output_dir", "overwrite", "verbose")


def resume_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a run must keep to be resumed (recorded in `backup/state.json`)."""
    settings = dataclasses.asdict(config)
    return {key: settings[key] for key in settings if key not in _NOT_RECORDED_FOR_RESUME}


def _read_backup_state(output_dir: pathlib.Path) -> dict[str, Any] | None:
    """`backup/state.json` of an unfinished run in `output_dir`, or None when there is none."""
    path = output_dir / BACKUP_DIRNAME / BACKUP_STATE_FILENAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise TrainError(
            f"--output-dir {output_dir} holds an unfinished run whose backup {path} cannot be "
            f"read ({error}): pass --overwrite to start the run again, or choose another directory."
        ) from error


def prepare_output_dir(config: TrainConfig) -> tuple[pathlib.Path, dict[str, Any]]:
    """Checks what `--output-dir` holds, readies it, and returns it with the state to start from.

    A finished run (`metrics.json`) is refused. An interrupted run (`backup/state.json`, no
    `metrics.json`) is resumed after its last finished epoch when it was started with the same
    settings (`resume_settings`), and refused otherwise. Run files without a backup (a run
    interrupted before runs kept one) are refused. `--overwrite` replaces any of them.

    Returns:
        `(output_dir, state)`: `state` is `backup/state.json`'s content, `state["epochs_done"]`
        the epochs to skip (0 for a new run).
    """
    output_dir = ensure_dir(config.output_dir, "--output-dir")  # OutputPathError: a file in the way
    settings = resume_settings(config)
    existing = [name for name in OUTPUT_FILENAMES if (output_dir / name).exists()]
    state = None if config.overwrite else _read_backup_state(output_dir)
    if not config.overwrite and (output_dir / METRICS_FILENAME).exists():
        raise TrainError(
            f"--output-dir {output_dir} already holds a run ({', '.join(existing)}): pass "
            "--overwrite to replace it, or choose another directory."
        )
    if state is not None and state["epochs_done"] > 0:
        done, epochs = state["epochs_done"], state["settings"]["epochs"]
        differences = [
            f"{flag_name(key)} {state['settings'].get(key)!r} -> {settings.get(key)!r}"
            for key in sorted(set(settings) | set(state["settings"]))
            if settings.get(key) != state["settings"].get(key)
        ]
        if differences:
            raise TrainError(
                f"--output-dir {output_dir} holds a run interrupted at epoch {done} of {epochs} "
                f"with another config (diff: {'; '.join(differences)}): rerun the same command "
                "to resume, or pass --overwrite to start a new run there."
            )
        _resume_history(output_dir / HISTORY_FILENAME, done)
        print(
            f"resuming {output_dir} from epoch {done} of {epochs} (the backup in "
            f"{output_dir / BACKUP_DIRNAME} holds the epochs done)",
            file=sys.stderr,
            flush=True,
        )
        return output_dir, state
    if existing and state is None and not config.overwrite:
        raise TrainError(
            f"--output-dir {output_dir} holds an unfinished run ({', '.join(existing)}) with no "
            f"{BACKUP_DIRNAME}/ to resume from (interrupted before runs kept one): pass "
            "--overwrite to start it again, or choose another directory."
        )
    # A new run (or one interrupted before its first epoch ended): nothing of an old run stays,
    # so TensorBoard events do not mix and a stale metrics.json cannot mark this run finished.
    for name in (*OUTPUT_FILENAMES, CURVES_FILENAME, CONFUSION_FILENAME):
        (output_dir / name).unlink(missing_ok=True)
    for name in (TENSORBOARD_DIRNAME, BACKUP_DIRNAME):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    state = {"settings": settings, "epochs_done": 0}
    (output_dir / BACKUP_DIRNAME).mkdir()
    artifacts.write_json(output_dir / BACKUP_DIRNAME / BACKUP_STATE_FILENAME, state)
    return output_dir, state


def _resume_history(path: pathlib.Path, epochs_done: int) -> None:
    """Keeps `history.csv`'s header and its first `epochs_done` rows.

    CSVLogger writes an epoch's row before the backup commits that epoch, so a run killed in
    between has one row too many: that epoch runs again and writes its row again.
    """
    # Bytes: CSVLogger ends its lines with "\r\n" (the csv module's), kept as they are.
    lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
    if len(lines) < 1 + epochs_done:
        raise TrainError(
            f"{path} has {max(len(lines) - 1, 0)} epoch rows, but the run's backup has "
            f"{epochs_done} epochs done: the history cannot be continued; pass --overwrite to "
            "start the run again."
        )
    atomic_write_bytes(path, b"".join(lines[: 1 + epochs_done]))


class RunBackup(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that restores a run exactly: one atomic commit per epoch.

    What a resumed run needs to continue as if never stopped, and where each comes from
    (measured with Keras 3.15, JAX backend):

    - weights and optimizer state (Adam moments, iteration count): `model.save_weights`, as
      Keras's own callback;
    - the layers' `SeedGenerator` states (dropout): `save_weights` leaves them out, so they are
      kept in `state.json` (the non-trainable variables that are not weights);
    - model selection (`keras.callbacks.EarlyStopping`): its `on_train_begin` forgets the best
      loss, epoch and weights, so they are kept here (the best weights in an `.npz`) and put back
      after it ran (this callback must come after it);
    - the epoch: `state.json`, passed to `fit(initial_epoch=...)` by the trainer, which also
      gives each epoch the same batches (`data.make_batches(epochs=...)`) and keeps
      `history.csv` and `tensorboard/` going.

    Keras's callback writes `latest.weights.h5` in place and then the epoch: a kill between the two
    leaves weights and an epoch that disagree, and a kill during the first leaves no backup. Here
    an epoch's files get new names, and `state.json`, written atomically last, names them; files it
    no longer names are then removed. Callbacks that write per epoch (CSVLogger, TensorBoard) must
    come before this one, so an epoch in the backup is always in their files.

    Args:
        backup_dir: the run's `backup/` folder, holding `state.json`.
        state: `state.json`'s content (`epochs_done` 0 for a new run).
        selection: the run's `EarlyStopping(restore_best_weights=True)`, or None.
    """

    def __init__(
        self,
        backup_dir: pathlib.Path,
        state: dict[str, Any],
        selection: keras.callbacks.EarlyStopping | None,
    ):
        # The trainer removes the backup once the run is finished (metrics.json written).
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.backup_path = pathlib.Path(backup_dir)
        self.state = state
        self.selection = selection

    def _unsaved_variables(self) -> list[keras.Variable]:
        """The model's non-trainable variables `save_weights` leaves out: the seed states."""
        weights = {id(variable) for variable in self.model.weights}
        return [v for v in self.model.non_trainable_variables if id(v) not in weights]

    def on_train_begin(self, logs: dict | None = None) -> None:
        state = self.state
        if state["epochs_done"] == 0:
            return
        if not self.model.optimizer.built:  # so that its variables exist to be loaded
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(self.backup_path / state["weights"]))
        variables = self._unsaved_variables()
        recorded = state["unsaved_variables"]
        if [variable.path for variable in variables] != [path for path, _ in recorded]:
            raise TrainError(
                f"{self.backup_path}: the backup's variables {[path for path, _ in recorded]} "
                f"are not the model's {[variable.path for variable in variables]}; pass "
                "--overwrite to start the run again."
            )
        for variable, (_, value) in zip(variables, recorded, strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        if self.selection is not None and state["selection"] is not None:
            kept = state["selection"]
            with np.load(self.backup_path / kept["weights"]) as arrays:
                self.selection.best_weights = [arrays[f"arr_{i}"] for i in range(len(arrays))]
            self.selection.best = kept["best"]
            self.selection.best_epoch = kept["best_epoch"]
            self.selection.wait = kept["wait"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        files = {"weights": f"epoch_{done:05d}.weights.h5"}
        self.model.save_weights(str(self.backup_path / files["weights"]))
        selection = None
        if self.selection is not None and self.selection.best_weights is not None:
            previous = self.state.get("selection") or {}
            best_file = previous.get("weights")
            if self.selection.best_epoch == epoch:  # this epoch is the new best
                best_file = f"best_epoch_{done:05d}.npz"
                np.savez(self.backup_path / best_file, *self.selection.best_weights)
            selection = {
                "best": float(self.selection.best),
                "best_epoch": int(self.selection.best_epoch),
                "wait": int(self.selection.wait),
                "weights": best_file,
            }
            files["best_weights"] = best_file
        unsaved = [
            (variable.path, np.asarray(variable).tolist()) for variable in self._unsaved_variables()
        ]
        self.state = {
            "settings": self.state["settings"],
            "epochs_done": done,
            "weights": files["weights"],
            "unsaved_variables": unsaved,
            "selection": selection,
        }
        artifacts.write_json(self.backup_path / BACKUP_STATE_FILENAME, self.state)  # the commit
        for path in self.backup_path.iterdir():
            if path.name not in {BACKUP_STATE_FILENAME, *files.values()}:
                path.unlink()
