"""YouTube-8M input pipelines: examples/s, ours against a re-creation of the starter's reader.

For each level it reads generated shards of the real format and size
(`vidcls_keras.youtube8m.synthetic`: 1024-d rgb, 128-d audio, 3,862 classes, frame level 60-300
one-second frames) to model-ready batches (parse + dequantize + pad + batch, multi-hot labels),
with three pipelines in the same run:

- starter: a plain tf.data re-creation of the YouTube-8M starter code's readers
  (`YT8MAggregatedFeatureReader`: batch then `parse_example`; `YT8MFrameFeatureReader`:
  `parse_single_sequence_example`, decode every frame, dequantize, `resize_axis` to 300);
- records: `vidcls_keras.youtube8m.records.parse_*_example` (video level batch-parsed, frame
  level sliced to 300 before decoding), then batched;
- stream: `vidcls_keras.youtube8m.stream.stream_examples` (the built dataset's uint8 examples,
  straight from the shards) + dequantize + pad to 300 + multi-hot, then batched.

Run from the repository root:

    python bench/youtube8m_input.py                                  # 4 x 1,000 videos per level
    python bench/youtube8m_input.py --shards 1 --videos-per-shard 50 --repeats 1   # a quick look

The shards are generated once into `cache_dir("bench")/youtube8m-<shards>x<videos>/<level>/`
(frame level, 4 x 1,000: about 1.2 GB; a few minutes to write). Each figure is the best of
`--repeats` full passes, after one pass that warms the page cache; on a shared CPU read them as
rough. `--threads` caps TF's inter/intra-op threads (default: all cores).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

import tensorflow as tf

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.files import cache_dir
from vidcls_keras.youtube8m import records, stream, synthetic

MAX_FRAMES = records.MAX_FRAMES
NUM_CLASSES = records.NUM_CLASSES


def shards(level: str, num_shards: int, videos_per_shard: int) -> str:
    """The generated shards' glob (written once into the bench cache)."""
    folder = cache_dir("bench") / f"youtube8m-{num_shards}x{videos_per_shard}" / level
    done = folder / "complete"
    if not done.exists():
        start = time.perf_counter()
        synthetic.write_shards(
            folder, "train", num_shards=num_shards, videos_per_shard=videos_per_shard, level=level
        )
        synthetic.write_vocabulary(folder / "vocabulary.csv")
        done.write_text("")
        print(f"wrote {level}-level shards in {time.perf_counter() - start:.0f} s: {folder}")
    return str(folder / "train*.tfrecord")


# -- the starter code's readers, re-created in plain tf.data ------------------------------------


def _starter_dequantize(feat_vector, max_quantized_value=2.0, min_quantized_value=-2.0):
    """The starter's `utils.Dequantize`."""
    quantized_range = max_quantized_value - min_quantized_value
    scalar = quantized_range / 255.0
    bias = (quantized_range / 512.0) + min_quantized_value
    return feat_vector * scalar + bias


def _starter_resize_axis(tensor, axis, new_size, fill_value=0):
    """The starter's `resize_axis`: trim or pad `axis` to `new_size`."""
    tensor = tf.convert_to_tensor(tensor)
    shape = tf.unstack(tf.shape(tensor))
    pad_shape = shape[:]
    pad_shape[axis] = tf.maximum(0, new_size - shape[axis])
    shape[axis] = tf.minimum(shape[axis], new_size)
    shape = tf.stack(shape)
    resized = tf.concat(
        [
            tf.slice(tensor, tf.zeros_like(shape), shape),
            tf.fill(tf.stack(pad_shape), tf.cast(fill_value, tensor.dtype)),
        ],
        axis,
    )
    new_shape = tensor.get_shape().as_list()
    new_shape[axis] = new_size
    resized.set_shape(new_shape)
    return resized


def starter_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    """`YT8MAggregatedFeatureReader.prepare_serialized_examples` over batches of records."""

    def parse(serialized):
        features = {
            "id": tf.io.FixedLenFeature([], tf.string),
            "labels": tf.io.VarLenFeature(tf.int64),
            "mean_rgb": tf.io.FixedLenFeature([records.RGB_SIZE], tf.float32),
            "mean_audio": tf.io.FixedLenFeature([records.AUDIO_SIZE], tf.float32),
        }
        parsed = tf.io.parse_example(serialized, features=features)
        labels = tf.sparse.to_indicator(parsed["labels"], NUM_CLASSES)
        concatenated = tf.concat([parsed["mean_rgb"], parsed["mean_audio"]], 1)
        return concatenated, tf.cast(labels, tf.float32)

    files = sorted(tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files).batch(batch_size)
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def starter_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    """`YT8MFrameFeatureReader.prepare_serialized_examples`, one record at a time, batched."""

    def parse(serialized):
        contexts, features = tf.io.parse_single_sequence_example(
            serialized,
            context_features={
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
            },
            sequence_features={
                name: tf.io.FixedLenSequenceFeature([], dtype=tf.string)
                for name in ("rgb", "audio")
            },
        )
        labels = tf.scatter_nd(
            contexts["labels"].values[:, None],
            tf.ones_like(contexts["labels"].values, tf.float32),
            [NUM_CLASSES],
        )
        matrices = []
        for name, size in (("rgb", records.RGB_SIZE), ("audio", records.AUDIO_SIZE)):
            decoded = tf.reshape(
                tf.cast(tf.io.decode_raw(features[name], tf.uint8), tf.float32), [-1, size]
            )
            matrix = _starter_resize_axis(_starter_dequantize(decoded), 0, MAX_FRAMES)
            matrices.append(matrix)
        num_frames = tf.minimum(tf.shape(decoded)[0], MAX_FRAMES)
        return tf.concat(matrices, 1), tf.minimum(labels, 1.0), num_frames

    files = sorted(tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# -- ours --------------------------------------------------------------------------------------


def records_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    def parse(serialized):
        parsed = records.parse_video_example(serialized)
        return tf.concat([parsed["mean_rgb"], parsed["mean_audio"]], 1), parsed["labels"]

    files = sorted(tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files).batch(batch_size)
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def records_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    def parse(serialized):
        parsed = records.parse_frame_example(serialized, pad=True)
        frames = tf.concat([parsed["rgb"], parsed["audio"]], 1)
        return frames, parsed["padding_mask"], parsed["labels"]

    files = sorted(tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _multi_hot(labels: tf.Tensor) -> tf.Tensor:
    return tf.minimum(
        tf.scatter_nd(labels[:, None], tf.ones_like(labels, tf.float32), [NUM_CLASSES]), 1.0
    )


def stream_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    dataset, _ = stream.stream_examples(pattern, "video")

    def prepare(example):
        frames = tf.concat([example["mean_rgb"], example["mean_audio"]], 0)
        return frames, _multi_hot(example["labels"])

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stream_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    dataset, _ = stream.stream_examples(pattern, "frame")

    def prepare(example):
        frames = records.dequantize(tf.concat([example["rgb"], example["audio"]], 1)[:MAX_FRAMES])
        kept = tf.shape(frames)[0]
        frames = tf.pad(frames, [[0, MAX_FRAMES - kept], [0, 0]])
        padding_mask = tf.range(MAX_FRAMES) < kept
        return frames, padding_mask, _multi_hot(example["labels"])

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _train_batches(examples: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """`data.make_batches` as `train` calls it on multi-label data (file order here, as the
    starter's reader: no shuffle), caching the prepared examples in memory."""
    from vidcls_keras import data

    return data.make_batches(
        examples,
        num_classes=NUM_CLASSES,
        batch_size=batch_size,
        training=False,
        max_frames=MAX_FRAMES if "rgb" in examples.element_spec else 1,
    )


def built(pattern: str, level: str) -> tf.data.Dataset:
    """The `youtube8m` TFDS dataset built once from the bench shards (train split)."""
    import tensorflow_datasets as tfds

    import vidcls_keras.datasets  # noqa: F401 (registers youtube8m)

    folder = pathlib.Path(pattern).parent
    builder = tfds.builder(f"youtube8m/{level}", data_dir=str(folder.parent / "tfds"))
    if not builder.is_prepared():
        start = time.perf_counter()
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(folder))
        )
        print(f"built youtube8m/{level} in {time.perf_counter() - start:.0f} s")
    return builder.as_dataset(split="train", shuffle_files=False)


def train_built_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "video"), batch_size)


def train_built_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "frame"), batch_size)


def train_stream_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(stream.stream_examples(pattern, "video")[0], batch_size)


def train_stream_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(stream.stream_examples(pattern, "frame")[0], batch_size)


PIPELINES = {
    "video": {
        "starter": starter_video,
        "records": records_video,
        "stream": stream_video,
        "train (built)": train_built_video,
        "train (--yt8m-files)": train_stream_video,
    },
    "frame": {
        "starter": starter_frame,
        "records": records_frame,
        "stream": stream_frame,
        "train (built)": train_built_frame,
        "train (--yt8m-files)": train_stream_frame,
    },
}


def _size(batch) -> int:
    first = batch[0]
    return int(tf.shape(first["frames"] if isinstance(first, dict) else first)[0])


def examples_per_second(dataset: tf.data.Dataset, repeats: int) -> tuple[float, int, float]:
    """Best examples/s over `repeats` full passes (after one warm-up pass), the count, and the
    warm-up pass's examples/s.

    For the `train` pipelines the warm-up pass is the first epoch (from the files, filling the
    in-memory cache) and the timed passes are later epochs, as in training."""
    start = time.perf_counter()
    count = sum(_size(batch) for batch in dataset)  # warm-up, and the count
    first = count / (time.perf_counter() - start)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _batch in dataset:
            pass
        best = min(best, time.perf_counter() - start)
    return count / best, count, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=4, help="shards per level (default 4)")
    parser.add_argument("--videos-per-shard", type=int, default=1000, help="(default 1000)")
    parser.add_argument("--batch-size", type=int, default=256, help="(default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--levels", nargs="+", default=["video", "frame"])
    parser.add_argument("--threads", type=int, default=0, help="TF threads (0: all cores)")
    arguments = parser.parse_args()
    if arguments.threads:
        tf.config.threading.set_inter_op_parallelism_threads(arguments.threads)
        tf.config.threading.set_intra_op_parallelism_threads(arguments.threads)
    print(
        f"{arguments.shards} x {arguments.videos_per_shard} videos per level, batch "
        f"{arguments.batch_size}, {os.cpu_count()} CPU cores, best of {arguments.repeats} passes"
    )
    for level in arguments.levels:
        pattern = shards(level, arguments.shards, arguments.videos_per_shard)
        size = sum(pathlib.Path(p).stat().st_size for p in tf.io.gfile.glob(pattern))
        print(f"\n{level} level ({size / 2**20:.0f} MiB of shards):")
        baseline = None
        for name, make in PIPELINES[level].items():
            rate, count, first = examples_per_second(
                make(pattern, arguments.batch_size), arguments.repeats
            )
            baseline = baseline or rate
            print(
                f"  {name:21s} {rate:10,.0f} examples/s  ({count} examples; {rate / baseline:.2f}x starter; first pass {first:,.0f}/s)"
            )


if __name__ == "__main__":
    main()
