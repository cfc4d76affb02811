"""Wall time of the experiments table (`python -m vidcls_keras.experiments`), per configuration.

    python bench/experiments_time.py --data-dir /tmp/bench_experiments          # the full table
    python bench/experiments_time.py --data-dir D --no-feature-cache             # as before the cache
    python bench/experiments_time.py --data-dir D --scale 0.1 --epochs 2 --seeds 0   # a quick look

The dataset has the real shape: 1,397 / 156 / 173 training / validation / test videos (the
original's 1,553 training videos, less our validation split, and its 173 test videos), 4 classes,
100 frames x 512 embeddings per video and the stored 224 x 224 frame, in the project's features
and metadata. Its embedder is a CLIP ViT-B/32 image encoder of full width with random weights (no
pretrained weights here: same cost), written once as a local preset beside the dataset, so the
`frame` rows run the real encoder's arithmetic. Embeddings scatter around one centre per class
and frames are flat colours per class, so every model learns something; the f1 scores mean
nothing else. `--scale` shrinks every split by the same factor (same proportions) for a quick
measurement on a busy machine; per-epoch costs scale with the number of videos, compilation does
not.

Each configuration runs as `run_experiments` runs it (every seed, in order, in this process); the
time of each (configuration, seed) run is taken around the run itself, and the table's total is
the sum. The rows that need CLIP's text tower are left out (`TEXT_ROWS`): a random image preset
has none. The zero-shot row costs seconds (one text-tower pass over 4 labels x 5 templates, then
a matmul); the text-aligned heads (`aligned_lstm`, `aligned_transformer`, `open_set`) train about
as long as the heads they build on (`lstm`, `transformer`: `python bench/aligned_step.py`; the
open-set row trains one head per held-out class) and are not in the total here; none of them
runs the frozen image encoder, which is what the feature cache changes.

Prints one line per run as it finishes, then the table: seconds per configuration (sum over seeds),
share of the total, and the mean test f1-micro. `--output FILE` also writes it as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

import vidcls_keras  # noqa: E402, F401  (sets KERAS_BACKEND before Keras loads)
from vidcls_keras import clip  # noqa: E402
from vidcls_keras.clip.tiny import randomize_weights  # noqa: E402
from vidcls_keras.datasets.features import video_features  # noqa: E402
from vidcls_keras.training import experiments  # noqa: E402
from vidcls_keras.training.config import TrainConfig  # noqa: E402

NAME = "bench_experiments"
LABELS = ("food", "art_music", "travel", "history")
REAL_SPLITS = {"train": 1397, "validation": 156, "test": 173}
NUM_FRAMES = 100
EMBED_DIM = 512
# Rows that need CLIP's text tower (zero-shot; the text-aligned heads and the open-set row, which
# embed the class names), which a random image preset lacks.
TEXT_ROWS = {"zero_shot", "aligned_lstm", "aligned_transformer", "open_set"}
DEFAULT_CONFIGS = [e.name for e in experiments.EXPERIMENTS if e.name not in TEXT_ROWS]


def split_sizes(scale: float) -> dict[str, int]:
    """Videos per split at `scale` (1.0: the real shape); at least one batch's worth each."""
    return {split: max(8, round(count * scale)) for split, count in REAL_SPLITS.items()}


def random_vit_b32_preset(directory: pathlib.Path) -> str:
    """A full-width CLIP ViT-B/32 image encoder with seeded random weights, saved as a local
    preset in `directory` (once); returns its embedder spec, "preset:<directory>"."""
    if not (directory / "config.json").is_file():
        encoder = clip.VIT_B32_CONFIG.build()
        randomize_weights(encoder, 0, scale=0.02, lecun_kernels=True)
        clip.FrameEmbedder(encoder).save_preset(directory)
    return f"preset:{directory.resolve()}"


def bench_dataset_class(sizes: dict[str, int], embedder: str) -> type:
    """A TFDS builder of `sizes` videos in the project's features, recording `embedder`."""

    class BenchExperiments(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"frames{NUM_FRAMES}")]

        def _info(self) -> tfds.core.DatasetInfo:
            return tfds.core.DatasetInfo(
                builder=self,
                features=video_features(LABELS, EMBED_DIM),
                metadata=tfds.core.MetadataDict(
                    embedder=embedder, embed_dim=EMBED_DIM, num_frames=NUM_FRAMES
                ),
            )

        def _split_generators(self, dl_manager):
            return {
                split: self._generate_examples(index, count)
                for index, (split, count) in enumerate(sizes.items())
            }

        def _generate_examples(self, split_index: int, count: int):
            centres = np.random.default_rng(1234).normal(size=(len(LABELS), EMBED_DIM))
            rng = np.random.default_rng(split_index)
            for index in range(count):
                label = index % len(LABELS)
                embeddings = 0.3 * centres[label] + rng.normal(size=(NUM_FRAMES, EMBED_DIM))
                colour = np.array([60 * label, 255 - 50 * label, 128]) + rng.integers(0, 30, 3)
                frame = np.broadcast_to(colour.astype(np.uint8), (224, 224, 3))
                video_id = f"{split_index}_{index:05d}"
                yield (
                    video_id,
                    {
                        "video_id": video_id,
                        "title": "",
                        "label": label,
                        "embeddings": embeddings.astype(np.float32),
                        "num_frames": NUM_FRAMES,
                        "frame": np.ascontiguousarray(frame),
                    },
                )

    return BenchExperiments


def write_dataset(data_dir: pathlib.Path, scale: float) -> tuple[str, str]:
    """Writes the preset and the dataset into `data_dir` (reused when there).

    Returns:
        `(dataset name, its data_dir)` for `TrainConfig(dataset=..., data_dir=...)`.
    """
    sizes = split_sizes(scale)
    config_name = f"frames{NUM_FRAMES}"
    embedder = random_vit_b32_preset(data_dir / "vit_b32_random_preset")
    dataset_dir = data_dir / f"{NAME}_{'x'.join(str(n) for n in sizes.values())}"
    builder = bench_dataset_class(sizes, embedder)(data_dir=str(dataset_dir), config=config_name)
    builder.download_and_prepare()
    # The builder's class name is its dataset name; the runs read it back by name from disk.
    return f"{builder.name}/{config_name}", str(dataset_dir)


def timed_experiments(names: list[str], timings: list[dict]) -> list[experiments.Experiment]:
    """The table's rows named `names`, each run wrapped to record its wall seconds."""
    rows = []
    for experiment in experiments.EXPERIMENTS:
        if experiment.name not in names:
            continue

        def run(config: TrainConfig, experiment=experiment) -> dict:
            start = time.perf_counter()
            metrics = experiment.run(config)
            seconds = time.perf_counter() - start
            timings.append(
                {
                    "configuration": experiment.name,
                    "seed": config.seed,
                    "seconds": seconds,
                    "test_f1_micro": metrics["test"]["f1_micro"],
                }
            )
            print(
                f"  {experiment.name} seed {config.seed}: {seconds:.1f} s, test f1-micro "
                f"{metrics['test']['f1_micro']:.3f}",
                flush=True,
            )
            return metrics

        rows.append(dataclasses.replace(experiment, run=run))
    return rows


def summarize(timings: list[dict], names: list[str]) -> list[dict]:
    total = sum(row["seconds"] for row in timings)
    table = []
    for name in names:
        runs = [row for row in timings if row["configuration"] == name]
        seconds = sum(row["seconds"] for row in runs)
        table.append(
            {
                "configuration": name,
                "runs": len(runs),
                "seconds": seconds,
                "share": seconds / total if total else float("nan"),
                "test_f1_micro_mean": float(np.mean([row["test_f1_micro"] for row in runs])),
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, help="keep the dataset here (reused)")
    parser.add_argument("--output-dir", type=pathlib.Path, help="the runs (default: temporary)")
    parser.add_argument("--scale", type=float, default=1.0, help="videos per split x this")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--configs", nargs="+", default=DEFAULT_CONFIGS, choices=DEFAULT_CONFIGS, metavar="NAME"
    )
    parser.add_argument(
        "--feature-cache",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig().feature_cache,
        help="train --feature-cache (the default) or --no-feature-cache (as before it)",
    )
    parser.add_argument("--rng", default=TrainConfig().rng, help="train's --rng")
    parser.add_argument("--output", type=pathlib.Path, help="also write the figures as JSON")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        data_dir = arguments.data_dir or pathlib.Path(temporary) / "data"
        start = time.perf_counter()
        dataset, dataset_dir = write_dataset(data_dir, arguments.scale)
        print(
            f"dataset {dataset} {split_sizes(arguments.scale)}: {time.perf_counter() - start:.0f} s"
        )
        base = TrainConfig(
            dataset=dataset,
            data_dir=dataset_dir,
            epochs=arguments.epochs,
            feature_cache=arguments.feature_cache,
            rng=arguments.rng,
            overwrite=True,
            verbose=0,
        )
        timings: list[dict] = []
        output_dir = arguments.output_dir or pathlib.Path(temporary) / "runs"
        load_start = os.getloadavg()
        start = time.perf_counter()
        experiments.run_experiments(
            base,
            arguments.seeds,
            output_dir,
            experiments=timed_experiments(arguments.configs, timings),
        )
        wall = time.perf_counter() - start

    table = summarize(timings, arguments.configs)
    print(
        f"\nexperiments table: {len(timings)} runs, seeds {arguments.seeds}, {arguments.epochs} "
        f"epochs, feature_cache={arguments.feature_cache}, rng={arguments.rng}; "
        f"{split_sizes(arguments.scale)} videos"
    )
    print(f"{'configuration':20s} {'runs':>4s} {'seconds':>9s} {'share':>6s} {'f1-micro':>9s}")
    for row in table:
        print(
            f"{row['configuration']:20s} {row['runs']:4d} {row['seconds']:9.1f} "
            f"{row['share']:6.1%} {row['test_f1_micro_mean']:9.3f}"
        )
    print(f"{'total (runs)':20s} {len(timings):4d} {sum(r['seconds'] for r in timings):9.1f}")
    print(f"wall time of the sweep, summary files included: {wall:.1f} s")
    print(f"load average at start {load_start}, at end {os.getloadavg()} ({os.cpu_count()} CPUs)")
    if arguments.output:
        report = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "settings": {
                "scale": arguments.scale,
                "videos": split_sizes(arguments.scale),
                "epochs": arguments.epochs,
                "seeds": arguments.seeds,
                "feature_cache": arguments.feature_cache,
                "rng": arguments.rng,
            },
            "runs": timings,
            "table": table,
            "wall_seconds": wall,
            "load_average": {"start": load_start, "end": os.getloadavg()},
        }
        arguments.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
