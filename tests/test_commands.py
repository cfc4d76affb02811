"""Tests for the command lines of train, experiments and predict: flags, usage errors, exit codes.

Runs that train or predict through a command are tested beside their library code
(tests/training/, tests/inference/); these need no dataset or model.
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402

from vidcls_keras import experiments, predict, train  # noqa: E402
from vidcls_keras.config_flags import flag_name  # noqa: E402
from vidcls_keras.training.config import TrainConfig  # noqa: E402


def _flags(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_train_has_one_flag_per_config_field_with_its_default():
    parser = train.build_parser()
    assert {flag_name(field.name) for field in dataclasses.fields(TrainConfig)} <= _flags(parser)
    assert vars(parser.parse_args([])) == dataclasses.asdict(TrainConfig())
    # The README's flags.
    arguments = parser.parse_args(
        ["--model", "transformer", "--mixup", "--dataset", "youtube_videos/frames100"]
        + ["--output-dir", "runs/x", "--rng", "threefry2x32", "--original-protocol"]
    )
    assert arguments.mixup is True and arguments.rng == "threefry2x32"
    assert arguments.original_protocol is True and arguments.output_dir == "runs/x"
    assert parser.parse_args(["--mixup", "--no-mixup"]).mixup is False


def test_experiments_takes_trains_flags_less_the_per_run_ones():
    parser = experiments.build_parser()
    flags = _flags(parser)
    for field in dataclasses.fields(TrainConfig):
        if field.name not in ("model", "mixup", "seed"):
            assert flag_name(field.name) in flags, field.name
    assert not {"--model", "--mixup", "--seed"} & flags
    arguments = parser.parse_args(["--rng", "threefry2x32", "--seeds", "4", "5"])
    assert arguments.rng == "threefry2x32" and arguments.seeds == [4, 5]
    defaults = parser.parse_args([])
    assert defaults.output_dir == "runs/experiments" and defaults.verbose == 2
    assert defaults.seeds == [0, 1, 2] and defaults.epochs == TrainConfig().epochs


def test_experiments_passes_rng_into_every_run(monkeypatch, tmp_path):
    seen = []

    def fake_run_experiments(base, seeds, output_dir, only=None):
        seen.append(base)
        (tmp_path / "results.md").write_text("# Results\n")

    monkeypatch.setattr(experiments, "run_experiments", fake_run_experiments)
    assert experiments.main(["--rng", "philox4x32", "--output-dir", str(tmp_path)]) == 0
    (base,) = seen
    assert isinstance(base, TrainConfig)
    assert base.rng == "philox4x32" and base.output_dir == str(tmp_path) and base.verbose == 2


def test_train_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        train.main(["--model", "lstm9"])
    assert raised.value.code == 2
    assert "invalid choice: 'lstm9'" in capsys.readouterr().err
    # A setting argparse accepts but the run refuses: a VidclsError, exit status 2.
    status = train.main(["--epochs", "0", "--output-dir", str(tmp_path), "--verbose", "0"])
    assert status == 2
    assert "--epochs must be a positive int" in capsys.readouterr().err


def test_train_reports_a_missing_dataset_with_its_build_command(tmp_path, capsys):
    status = train.main(
        ["--dataset", "nope_videos/frames16", "--data-dir", str(tmp_path / "tfds")]
        + ["--output-dir", str(tmp_path / "run"), "--verbose", "0"]
    )
    assert status == 2
    error = capsys.readouterr().err
    expected = f"tfds build builders/nope_videos --config frames16 --data_dir {tmp_path / 'tfds'}"
    assert expected in error


def test_experiments_refuses_an_unknown_row(tmp_path, capsys):
    assert experiments.main(["--only", "nope", "--output-dir", str(tmp_path)]) == 2
    assert "unknown configuration(s) ['nope']" in capsys.readouterr().err


def test_predict_usage_errors(tmp_path, capsys):
    assert predict.main([str(tmp_path / "nowhere"), "x.mp4"]) == 2
    assert "not a training output directory" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"")
    assert predict.main([str(tmp_path / "run"), "x.mp4"]) == 2  # no config.json
    assert "cannot read the training config" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        predict.main([str(tmp_path / "run")])  # neither an input nor an export
    assert raised.value.code == 2
    with pytest.raises(SystemExit):
        predict.main([str(tmp_path / "run"), "x.mp4", "--top-k", "0"])
