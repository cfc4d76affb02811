"""`python -m vidcls_keras.experiments`: every configuration over seeds (see `training.experiments`).

    python -m vidcls_keras.experiments --dataset youtube_videos/frames100 --seeds 0 1 2 \\
        --output-dir runs/experiments

Takes train's flags (generated from the same `TrainConfig`), except `--model` and `--mixup` (each
row sets them) and `--seed` (`--seeds` here); `--output-dir` is the sweep's parent folder.
Exit status: 0 when every run finished, 2 when the sweep cannot start.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from vidcls_keras.config_flags import add_config_flags, config_from_args
from vidcls_keras.errors import VidclsError
from vidcls_keras.training.config import TrainConfig
from vidcls_keras.training.experiments import (
    EXPERIMENTS,
    RESULTS_MD_FILENAME,
    run_experiments,
)

PROG = "python -m vidcls_keras.experiments"
# Set per row (model, mixup) or per run (seed, output_dir) by run_experiments.
PER_RUN_FIELDS = ("model", "mixup", "seed", "output_dir")
DEFAULTS = TrainConfig(verbose=2)  # one line per epoch: a sweep's log stays readable


def build_parser() -> argparse.ArgumentParser:
    """The command line: the sweep's own flags, then train's (less `PER_RUN_FIELDS`)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the original's six configurations (and the extra rows) over several "
        "seeds and compare with its reported test f1-micro.",
    )
    parser.add_argument(
        "--output-dir",
        default="runs/experiments",
        help="parent folder of the runs and summary (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run each (default: 0 1 2)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help=f"run these configurations only, among {[e.name for e in EXPERIMENTS]}",
    )
    add_config_flags(
        parser.add_argument_group("training (as python -m vidcls_keras.train)"),
        TrainConfig,
        defaults=DEFAULTS,
        exclude=PER_RUN_FIELDS,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns 0 on success and 2 when the sweep cannot start."""
    arguments = build_parser().parse_args(argv)
    base = config_from_args(TrainConfig, arguments, output_dir=arguments.output_dir)
    try:
        run_experiments(base, arguments.seeds, arguments.output_dir, only=arguments.only)
    except VidclsError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    summary = pathlib.Path(arguments.output_dir) / RESULTS_MD_FILENAME
    print(summary.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
