"""Training and input-pipeline throughput at the original's shapes, beside the original's code.

Shapes: 1,553 training videos x 100 frames x 512-wide embeddings (CLIP ViT-B/32), 4 classes,
batch 16 (98 steps per epoch), Adam 1e-3, as in borisshapa/video-classification.

What it measures, in one process:

1. Input pipeline. A TFDS dataset of that size in the project's format (random embeddings, one
   224 x 224 frame per video) is written once into a temporary folder (or `--data-dir`), then
   read through `data.load_split` + `data.make_batches` (training order: shuffled, batched):
   examples/s and seconds for the 1,553 videos, first epoch (from the files) and later epochs
   (from the pipeline's in-memory cache), with and without mixup, and for pixels. Peer: the
   original's loader, re-created (one JSON file per video holding 100 x 512 floats, `json.load`
   then `torch.tensor`, as its `ClipEmbeddingsDataset.__getitem__`), timed on `--json-videos`
   files and scaled to 1,553 videos.
2. Training. Each model (`mean`, `transformer`, `frame`) compiled exactly as
   `vidcls_keras.train` compiles it, `fit` on those batches, with and without mixup: the first
   epoch (XLA compilation + file reads) and a second epoch (steady state, data cached in
   memory) give seconds per epoch and steps/s. The frame model runs a CLIP ViT-B/32-sized image
   encoder (random weights: same cost, no download) on every step, so it runs only
   `--frame-steps` steps per epoch and its seconds per epoch are extrapolated. Peer: the
   original's PyTorch heads re-created (its `TransformerEncoder`: sinusoidal positions,
   `nn.TransformerEncoderLayer(512, 8)`, mean, linear, with its padding mask; and its linear
   head on the mean embedding), eager, Adam, batches already in memory, `--torch-threads`
   threads.

Run from the repository root:

    python bench/train_throughput.py                 # everything (a few minutes on 2 cores)
    python bench/train_throughput.py --models transformer --no-mixup-runs --json-videos 50

Figures on a shared CPU are contended: compare ratios measured in the same run, and rerun on a
quiet machine for absolute numbers. JAX uses every core it sees; torch uses `--torch-threads`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from vidcls_keras import (
    clip,
    data,  # noqa: E402
)
from vidcls_keras.datasets.features import video_features  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.training import trainer as train

NUM_VIDEOS = 1553  # the original's training videos
NUM_FRAMES = 100
EMBED_DIM = 512
LABELS = ("food", "art_music", "travel", "history")
BATCH_SIZE = 16
STEPS_PER_EPOCH = math.ceil(NUM_VIDEOS / BATCH_SIZE)  # 98: the last batch holds 1 video
LEARNING_RATE = 1e-3
MIXUP_ALPHA = 0.4
DATASET = "bench_videos/frames100"

# The figures the brief gives for the original's code re-created on these machines.
ORIGINAL_JSON_LOAD_SECONDS = 20.0  # 1,553 per-video JSON files
ORIGINAL_TRANSFORMER_STEPS_PER_SECOND = 5.0  # batch 16, torch eager, 2 threads


class BenchVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """`NUM_VIDEOS` training videos of random embeddings in the project's features and metadata."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"frames{NUM_FRAMES}")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=video_features(LABELS, EMBED_DIM),
            metadata=tfds.core.MetadataDict(
                embedder="tiny:0", embed_dim=EMBED_DIM, num_frames=NUM_FRAMES
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, NUM_VIDEOS),
            "validation": self._generate_examples(1, BATCH_SIZE),
            "test": self._generate_examples(2, BATCH_SIZE),
        }

    def _generate_examples(self, split_index: int, count: int):
        rng = np.random.default_rng(split_index)
        for index in range(count):
            # A smooth random frame (8 x 8 colours, upscaled): PNG sizes like a real frame's.
            frame = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8).repeat(28, 0).repeat(28, 1)
            video_id = f"{split_index}_{index:05d}"
            yield (
                video_id,
                {
                    "video_id": video_id,
                    "title": "",
                    "label": index % len(LABELS),
                    "embeddings": rng.standard_normal((NUM_FRAMES, EMBED_DIM), dtype=np.float32),
                    "num_frames": NUM_FRAMES,
                    "frame": frame,
                },
            )


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def count_examples(batches) -> int:
    return sum(int(labels.shape[0]) for _, labels in batches)


def bench_input_pipeline(data_dir: str) -> list[dict]:
    """Seconds and examples/s for one epoch of each pipeline, from files and from the cache."""
    rows = []
    read_seconds, _ = timed(lambda: sum(1 for _ in data.load_split(DATASET, "train", data_dir)[0]))
    rows.append({"pipeline": "TFDS read only (parse, no batching)", "epoch": 1, "s": read_seconds})
    for name, kwargs in (
        ("frames (B, 100, 512) + mask", {"inputs": "frames", "max_frames": NUM_FRAMES}),
        ("frames + mixup", {"inputs": "frames", "max_frames": NUM_FRAMES, "mixup_alpha": 0.4}),
        ("pixels (B, 224, 224, 3), PNG decode", {"inputs": "pixels"}),
    ):
        examples, _ = data.load_split(DATASET, "train", data_dir)
        batches = data.make_batches(
            examples, num_classes=len(LABELS), batch_size=BATCH_SIZE, training=True, **kwargs
        )
        for epoch in (1, 2):
            seconds, count = timed(count_examples, batches)
            assert count == NUM_VIDEOS, count
            rows.append({"pipeline": name, "epoch": epoch, "s": seconds})
    for row in rows:
        row["examples_per_s"] = NUM_VIDEOS / row["s"]
    return rows


def bench_json_peer(num_files: int) -> dict:
    """The original's per-video JSON loading, timed on `num_files` files, scaled to 1,553."""
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index in range(num_files):
            path = pathlib.Path(folder) / f"video{index}.json"
            # The original wrote `embeddings.tolist()` of float32 CLIP outputs with json.dump.
            embeddings = rng.standard_normal((NUM_FRAMES, EMBED_DIM), dtype=np.float32)
            path.write_text(json.dumps(embeddings.tolist()))
            paths.append(path)
        megabytes = sum(path.stat().st_size for path in paths) / num_files / 1e6

        def load_all():
            for path in paths:
                with open(path) as file:
                    embeddings = json.load(file)
                if torch is not None:
                    torch.tensor(embeddings)
                else:
                    np.asarray(embeddings, dtype=np.float32)

        seconds, _ = timed(load_all)
    per_video = seconds / num_files
    return {
        "files_timed": num_files,
        "mb_per_file": megabytes,
        "s_per_video": per_video,
        "s_for_1553": per_video * NUM_VIDEOS,
        "to_tensor": "torch.tensor" if torch is not None else "np.asarray",
    }


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def bench_keras_training(data_dir: str, model_name: str, mixup: bool, frame_steps: int) -> dict:
    """Two epochs of `fit`: the first compiles and reads files, the second is the steady state."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    if model_name == "frame":
        # ViT-B/32 sizes, random weights: the cost of the real encoder without its download.
        model = build_model(
            "frame", num_classes=len(LABELS), image_encoder=clip.VIT_B32_CONFIG.build()
        )
        inputs, steps = "pixels", frame_steps
    else:
        model = build_model(
            model_name, num_classes=len(LABELS), max_frames=NUM_FRAMES, embed_dim=EMBED_DIM
        )
        inputs, steps = "frames", STEPS_PER_EPOCH
    train.compile_model(model, LEARNING_RATE)
    examples, _ = data.load_split(DATASET, "train", data_dir)
    batches = data.make_batches(
        examples,
        num_classes=len(LABELS),
        max_frames=NUM_FRAMES,
        batch_size=BATCH_SIZE,
        training=True,
        mixup_alpha=MIXUP_ALPHA if mixup else None,
        inputs=inputs,
    )
    timer = EpochTimer()
    steps_per_epoch = steps if model_name == "frame" else None
    with jax.default_prng_impl(train.TrainConfig().rng):  # as vidcls_keras.train runs it
        model.fit(
            batches,
            epochs=2,
            steps_per_epoch=steps_per_epoch,
            callbacks=[timer],
            verbose=0,
            shuffle=False,
        )
    first, second = timer.seconds
    steps_per_s = steps / second
    return {
        "model": model_name,
        "mixup": mixup,
        "steps_timed": steps,
        "first_epoch_s": first,
        "steps_per_s": steps_per_s,
        "s_per_epoch": STEPS_PER_EPOCH / steps_per_s,
        "epoch_extrapolated": model_name == "frame",
        "parameters": int(model.count_params()),
    }


def torch_train_step(model_name: str, threads: int, device: str = "cpu"):
    """One training step of the original's PyTorch head ("mean" or "transformer"), eager, on a
    batch already in memory on `device` ("cpu" or "cuda"); None when torch is not installed.
    On CUDA the step returns before the GPU finishes: synchronize before reading a clock."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class PositionalEncoding(nn.Module):  # the original's, max_len=512, dropout 0.1
        def __init__(self, hidden_size: int, max_len: int = 512):
            super().__init__()
            self.dropout = nn.Dropout(p=0.1)
            encoding = torch.zeros(max_len, hidden_size)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.pow(1e4, -torch.arange(0, hidden_size, 2).float() / hidden_size)
            encoding[:, 0::2] = torch.sin(position * div_term)
            encoding[:, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", encoding.unsqueeze(0))

        def forward(self, x):
            return self.dropout(x + self.pe[:, : x.size(1)])

    class TransformerHead(nn.Module):  # the original's TransformerEncoder, 1 layer
        def __init__(self):
            super().__init__()
            self.positional_encoding = PositionalEncoding(EMBED_DIM)
            layer = nn.TransformerEncoderLayer(
                d_model=EMBED_DIM, nhead=8
            )  # seq-first, as the original
            # enable_nested_tensor only speeds up inference; off, torch does not warn about it.
            self.transformer_encoder = nn.TransformerEncoder(
                layer, num_layers=1, enable_nested_tensor=False
            )
            self.linear = nn.Linear(EMBED_DIM, len(LABELS))

        def forward(self, embeddings, attention_mask):
            embeddings = self.positional_encoding(embeddings)
            output = self.transformer_encoder(
                embeddings.swapaxes(1, 0), src_key_padding_mask=attention_mask.bool()
            ).swapaxes(1, 0)
            return self.linear(output.mean(dim=1))

    class LinearHead(nn.Module):  # the original's LinearClassifier on averaged embeddings
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(EMBED_DIM, len(LABELS))

        def forward(self, embeddings, attention_mask):
            return self.linear(embeddings.mean(dim=1))

    model = (TransformerHead() if model_name == "transformer" else LinearHead()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(BATCH_SIZE, NUM_FRAMES, EMBED_DIM, generator=generator)
    # The original's collate marked positions [0, batch_size) with 1, which PyTorch reads as
    # "padding": kept here because it is what the original computed.
    attention_mask = torch.zeros(BATCH_SIZE, NUM_FRAMES)
    attention_mask[:, :BATCH_SIZE] = 1
    labels = torch.nn.functional.one_hot(torch.arange(BATCH_SIZE) % len(LABELS), len(LABELS))
    labels = labels.float()
    embeddings, attention_mask, labels = (
        tensor.to(device) for tensor in (embeddings, attention_mask, labels)
    )

    def step():
        optimizer.zero_grad()
        logits = model(embeddings, attention_mask)
        loss = torch.sum(-labels * torch.log_softmax(logits, dim=-1), dim=-1).mean()
        loss.backward()
        optimizer.step()

    model.train()
    return step


def bench_head_to_head(model_name: str, steps: int, rounds: int, threads: int) -> dict | None:
    """Keras (JAX) vs the original's PyTorch head on one in-memory batch, interleaved.

    Both train on a batch already in memory (no input pipeline). `rounds` times: `steps` Keras
    steps (one `fit` call on a repeated batch; the compiled step is reused), then `steps`
    PyTorch steps. Interleaving exposes both to the same load on a shared CPU; the ratio is the
    median of the per-round ratios.
    """
    import tensorflow as tf

    torch_step = torch_train_step(model_name, threads)
    if torch_step is None:
        return None
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build_model(
        model_name, num_classes=len(LABELS), max_frames=NUM_FRAMES, embed_dim=EMBED_DIM
    )
    train.compile_model(model, LEARNING_RATE)
    rng = np.random.default_rng(0)
    batch = (
        {
            "frames": rng.standard_normal((BATCH_SIZE, NUM_FRAMES, EMBED_DIM), dtype=np.float32),
            "padding_mask": np.ones((BATCH_SIZE, NUM_FRAMES), bool),
        },
        np.eye(len(LABELS), dtype=np.float32)[np.arange(BATCH_SIZE) % len(LABELS)],
    )
    repeated = tf.data.Dataset.from_tensors(batch).repeat()

    def keras_steps(count: int) -> None:
        with jax.default_prng_impl(train.TrainConfig().rng):  # as vidcls_keras.train runs it
            model.fit(repeated, steps_per_epoch=count, epochs=1, verbose=0, shuffle=False)

    keras_steps(3)  # compiles
    for _ in range(3):
        torch_step()
    keras_rates, torch_rates = [], []
    for _ in range(rounds):
        seconds, _ = timed(keras_steps, steps)
        keras_rates.append(steps / seconds)
        seconds, _ = timed(lambda: [torch_step() for _ in range(steps)])
        torch_rates.append(steps / seconds)
    ratios = [k / t for k, t in zip(keras_rates, torch_rates, strict=True)]
    return {
        "model": model_name,
        "steps_per_round": steps,
        "keras_steps_per_s": keras_rates,
        "torch_steps_per_s": torch_rates,
        "median_ratio": float(np.median(ratios)),
        "torch_threads": threads,
    }


def print_pipeline(pipeline: list[dict], peer: dict) -> None:
    print(f"\nInput pipeline, {NUM_VIDEOS} videos x {NUM_FRAMES} x {EMBED_DIM}, batch 16")
    print(f"{'pipeline':40s} {'epoch':>5s} {'seconds':>8s} {'videos/s':>9s} {'vs JSON':>8s}")
    for row in pipeline:
        print(
            f"{row['pipeline']:40s} {row['epoch']:5d} {row['s']:8.2f} "
            f"{row['examples_per_s']:9.0f} {peer['s_for_1553'] / row['s']:7.0f}x"
        )
    print(
        f"{'original: JSON per video + ' + peer['to_tensor']:40s} {'':5s} "
        f"{peer['s_for_1553']:8.2f} {NUM_VIDEOS / peer['s_for_1553']:9.0f}    (timed on "
        f"{peer['files_timed']} files of {peer['mb_per_file']:.2f} MB, scaled to {NUM_VIDEOS})"
    )


def print_training(training: list[dict]) -> None:
    print(f"\nTraining through the pipeline, batch {BATCH_SIZE}, {STEPS_PER_EPOCH} steps per epoch")
    header = f"{'model':22s} {'steps/s':>8s} {'s/epoch':>8s} {'1st epoch s':>12s}"
    print(header)
    print("-" * len(header))
    for row in training:
        epoch = f"{row['s_per_epoch']:7.1f}{'*' if row['epoch_extrapolated'] else ' '}"
        print(
            f"{row['model'] + (' + mixup' if row['mixup'] else ''):22s} "
            f"{row['steps_per_s']:8.2f} {epoch} {row['first_epoch_s']:12.1f}"
        )
    print("* extrapolated from the steps timed. 1st epoch: XLA compilation + reading the files.")


def print_head_to_head(rows: list[dict], steps: int, rounds: int, threads: int) -> None:
    print(
        f"\nHead to head, one batch in memory, {rounds} interleaved rounds of {steps} steps "
        f"(PyTorch eager, {threads} threads; JAX uses every core)"
    )
    header = f"{'model':12s} {'keras steps/s':>24s} {'torch steps/s':>24s} {'median ratio':>13s}"
    print(header)
    print("-" * len(header))
    for row in rows:
        keras_rates = " ".join(f"{rate:.2f}" for rate in row["keras_steps_per_s"])
        torch_rates = " ".join(f"{rate:.2f}" for rate in row["torch_steps_per_s"])
        print(
            f"{row['model']:12s} {keras_rates:>24s} {torch_rates:>24s} {row['median_ratio']:12.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="reuse/keep the written dataset here (default: temp)")
    parser.add_argument("--models", nargs="+", default=["mean", "transformer", "frame"])
    parser.add_argument("--no-mixup-runs", action="store_true", help="skip the mixup trainings")
    parser.add_argument("--frame-steps", type=int, default=3, help="steps timed for `frame`")
    parser.add_argument("--json-videos", type=int, default=100, help="JSON files for the peer")
    parser.add_argument("--steps", type=int, default=10, help="steps per head-to-head round")
    parser.add_argument("--rounds", type=int, default=3, help="head-to-head rounds")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument(
        "--only-head-to-head", action="store_true", help="skip the dataset, pipeline and fit parts"
    )
    parser.add_argument("--output", type=pathlib.Path, help="also write the figures as JSON")
    arguments = parser.parse_args()

    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "platform": platform.platform(),
            "jax_devices": [str(device) for device in jax.devices()],
            "keras": keras.__version__,
            "jax": jax.__version__,
        }
    }
    if not arguments.only_head_to_head:
        with tempfile.TemporaryDirectory() as temporary:
            data_dir = arguments.data_dir or temporary
            seconds, _ = timed(BenchVideos(data_dir=data_dir).download_and_prepare)
            print(f"dataset {DATASET} in {data_dir}: ready in {seconds:.1f} s")
            report["input_pipeline"] = bench_input_pipeline(data_dir)
            report["json_peer"] = bench_json_peer(arguments.json_videos)
            print_pipeline(report["input_pipeline"], report["json_peer"])
            report["training"] = []
            for model_name in arguments.models:
                for mixup in (False,) if arguments.no_mixup_runs else (False, True):
                    row = bench_keras_training(data_dir, model_name, mixup, arguments.frame_steps)
                    report["training"].append(row)
                    print(f"  {model_name} mixup={mixup}: {row['steps_per_s']:.2f} steps/s")
        print_training(report["training"])

    report["head_to_head"] = []
    for model_name in ("mean", "transformer"):
        if model_name in arguments.models:
            row = bench_head_to_head(
                model_name, arguments.steps, arguments.rounds, arguments.torch_threads
            )
            if row is not None:
                report["head_to_head"].append(row)
    print_head_to_head(
        report["head_to_head"], arguments.steps, arguments.rounds, arguments.torch_threads
    )
    print(
        f"\nReference (brief): original JSON load ~{ORIGINAL_JSON_LOAD_SECONDS:.0f} s for 1,553 "
        f"videos; original transformer ~{ORIGINAL_TRANSFORMER_STEPS_PER_SECOND:.0f} steps/s."
    )
    report["machine"]["load_average_end"] = os.getloadavg()
    print(f"load average start {report['machine']['load_average_start']}, end {os.getloadavg()}")
    if arguments.output:
        arguments.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
