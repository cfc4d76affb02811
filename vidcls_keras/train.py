"""`python -m vidcls_keras.train`: train one model on a built dataset (see `training.trainer`).

    python -m vidcls_keras.train --model transformer --mixup --dataset youtube_videos/frames100 \\
        --output-dir runs/transformer_mixup

Every flag is a `training.config.TrainConfig` field (`--batch-size` sets `batch_size`). An
interrupted run is resumed by the same command (see `training.resume`).
Exit status: 0 when the run finished, 2 when it cannot start (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vidcls_keras.config_flags import add_config_flags, config_from_args
from vidcls_keras.errors import VidclsError
from vidcls_keras.training.config import TrainConfig
from vidcls_keras.training.trainer import train

PROG = "python -m vidcls_keras.train"


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per `TrainConfig` field."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train a video classifier on a built TFDS dataset of CLIP frame embeddings, "
        "select the best epoch on validation loss, and evaluate the test split once.",
    )
    add_config_flags(parser, TrainConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns 0 on success and 2 when the run cannot start."""
    config = config_from_args(TrainConfig, build_parser().parse_args(argv))
    try:
        train(config)
    except VidclsError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
