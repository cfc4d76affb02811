"""YouTube-8M input pipelines: examples/s, ours against a re-creation of the starter's reader.

For each level it reads generated shards of the real format and size
(`vidcls_keras.youtube8m.synthetic`: 1024-d rgb, 128-d audio, 3,862 classes, frame level 60-300
one-second frames) to model-ready batches (parse + dequantize + pad + batch, multi-hot labels),
with these pipelines in the same run:

- starter: a plain tf.data re-creation of the YouTube-8M starter code's readers
  (`YT8MAggregatedFeatureReader`: batch then `parse_example`; `YT8MFrameFeatureReader`:
  `parse_single_sequence_example`, decode every frame, dequantize, `resize_axis` to 300), in
  file order as its evaluation reads; and as its training reads (`shuffle_batch_join`: an
  example shuffle of 5 batches);
- records: `vidcls_keras.youtube8m.records.parse_*_example` (video level batch-parsed, frame
  level sliced to 300 before decoding), then batched;
- train (built) / train (--yt8m-files): what `train` reads: the built dataset as `data.load_split`
  reads it (`stream.read_built`: records parsed in batches, video level kept in them) or the
  shards streamed (`stream.stream_examples`), through `data.make_batches` (its in-memory cache
  filled on the first pass, which is timed apart); the same without the cache, as `train` reads
  a split over 2 GB (the real release) every epoch; and that shuffled as for training (to
  compare with the starter's training reader).

Model-ready means: frames float32 (with a padding mask for ours), labels multi-hot: float32 from
the starter's readers, bool from ours (Keras' loss casts them on the device; 4 times fewer
bytes at 3,862 classes).

Run from the repository root:

    python bench/youtube8m_input.py                                  # 4 x 10,000 (video), 4 x 1,000 (frame)
    python bench/youtube8m_input.py --shards 1 --videos-per-shard 50 --repeats 1   # a quick look

The shards are generated once into `cache_dir("bench")/youtube8m-<shards>x<videos>/<level>/`
(frame level, 4 x 1,000: about 0.8 GB; video level, 4 x 10,000: about 180 MB; a few minutes to
write). Each figure is the best of `--repeats` full passes, after one pass that warms the page
cache; the passes alternate between pipelines, one of each per round, so a machine whose speed
drifts slows them alike; on a shared CPU read them as rough. `--threads` caps TF's
inter/intra-op threads (default: all cores).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
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


def starter_training(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """The starter's training input over its parsed examples (`train.py`'s
    `get_input_data_tensors`): `shuffle_batch_join(..., capacity=batch_size * 5,
    min_after_dequeue=batch_size, enqueue_many=True)`, a shuffling queue of single examples,
    re-created as an example shuffle of that capacity (its files are also shuffled; here they
    are read in order, as ours)."""
    examples = dataset.unbatch()
    return examples.shuffle(batch_size * 5, seed=0).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def starter_video_training(pattern: str, batch_size: int) -> tf.data.Dataset:
    return starter_training(starter_video(pattern, batch_size), batch_size)


def starter_frame_training(pattern: str, batch_size: int) -> tf.data.Dataset:
    return starter_training(starter_frame(pattern, batch_size), batch_size)


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


def _train_batches(
    examples: tf.data.Dataset, batch_size: int, cache: bool = True, shuffled: bool = False
) -> tf.data.Dataset:
    """`data.make_batches` as `train` calls it on multi-label data (file order here, as the
    starter's reader, unless `shuffled`: then as for training, without mixup), caching the
    prepared examples in memory (`train` does when they fit in 2 GB; not at the real release's
    size: `cache=False`)."""
    from vidcls_keras import data

    return data.make_batches(
        examples,
        num_classes=NUM_CLASSES,
        batch_size=batch_size,
        training=shuffled,
        max_frames=MAX_FRAMES if "rgb" in examples.element_spec else 1,
        cache=cache,
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
    # As `train` reads it (`data.load_split(batched=True)`: video level in parsed batches).
    return stream.read_built(builder, "train", batched=True)


def train_built_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "video"), batch_size)


def train_built_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "frame"), batch_size)


def _streamed(pattern: str, level: str) -> tf.data.Dataset:
    return stream.stream_examples(pattern, level, batched=True)[0]  # as `train --yt8m-files`


def train_stream_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(_streamed(pattern, "video"), batch_size)


def train_stream_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(_streamed(pattern, "frame"), batch_size)


def uncached_built_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "video"), batch_size, cache=False)


def uncached_built_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "frame"), batch_size, cache=False)


def uncached_stream_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(_streamed(pattern, "video"), batch_size, cache=False)


def uncached_stream_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(_streamed(pattern, "frame"), batch_size, cache=False)


def shuffled_built_video(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "video"), batch_size, cache=False, shuffled=True)


def shuffled_built_frame(pattern: str, batch_size: int) -> tf.data.Dataset:
    return _train_batches(built(pattern, "frame"), batch_size, cache=False, shuffled=True)


PIPELINES = {
    "video": {
        "starter": starter_video,
        "records": records_video,
        "train (built)": train_built_video,
        "train (--yt8m-files)": train_stream_video,
        "train (built), no cache": uncached_built_video,
        "train (--yt8m-files), no cache": uncached_stream_video,
        "starter, training (shuffled)": starter_video_training,
        "train (built), no cache, shuffled": shuffled_built_video,
    },
    "frame": {
        "starter": starter_frame,
        "records": records_frame,
        "train (built)": train_built_frame,
        "train (--yt8m-files)": train_stream_frame,
        "train (built), no cache": uncached_built_frame,
        "train (--yt8m-files), no cache": uncached_stream_frame,
        "starter, training (shuffled)": starter_frame_training,
        "train (built), no cache, shuffled": shuffled_built_frame,
    },
}


def _size(batch) -> int:
    first = batch[0]
    return int(tf.shape(first["frames"] if isinstance(first, dict) else first)[0])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_pass(dataset: tf.data.Dataset) -> tuple[int, float, float]:
    """Examples in one full pass, its seconds, and the CPU seconds the process spent in it
    (all threads)."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    count = sum(_size(batch) for batch in dataset)
    return count, time.perf_counter() - start, _cpu_seconds() - cpu


def examples_per_second(
    datasets: dict[str, tf.data.Dataset], repeats: int
) -> dict[str, tuple[float, int, float, float]]:
    """For each pipeline: best examples/s over `repeats` full passes (after one warm-up pass),
    the count, the warm-up pass's examples/s, and the least CPU microseconds per example.

    The passes alternate, one of each pipeline per round, so that a machine whose speed drifts
    (a shared CPU) slows them alike. For the `train` pipelines the warm-up pass is the first
    epoch (from the files, filling the in-memory cache) and the timed passes are later epochs,
    as in training."""
    counts, firsts, best, cpu = {}, {}, {}, {}
    for name, dataset in datasets.items():  # warm-up, and the count
        counts[name], seconds, _ = one_pass(dataset)
        firsts[name], best[name], cpu[name] = counts[name] / seconds, float("inf"), float("inf")
    for _ in range(repeats):
        for name, dataset in datasets.items():
            _, seconds, cpu_seconds = one_pass(dataset)
            best[name], cpu[name] = min(best[name], seconds), min(cpu[name], cpu_seconds)
    return {
        name: (
            counts[name] / best[name],
            counts[name],
            firsts[name],
            cpu[name] / counts[name] * 1e6,
        )
        for name in datasets
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=4, help="shards per level (default 4)")
    parser.add_argument(
        "--videos-per-shard",
        type=int,
        default=None,
        help="(default 10,000 at video level, 1,000 at frame level: each pass then reads about "
        "half a second of records at the starter's rate, not only start-up costs)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="(default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--levels", nargs="+", default=["video", "frame"])
    parser.add_argument("--threads", type=int, default=0, help="TF threads (0: all cores)")
    arguments = parser.parse_args()
    if arguments.threads:
        tf.config.threading.set_inter_op_parallelism_threads(arguments.threads)
        tf.config.threading.set_intra_op_parallelism_threads(arguments.threads)
    print(
        f"{arguments.shards} shards per level, batch "
        f"{arguments.batch_size}, {os.cpu_count()} CPU cores, best of {arguments.repeats} passes"
    )
    for level in arguments.levels:
        videos = arguments.videos_per_shard or (10_000 if level == "video" else 1_000)
        pattern = shards(level, arguments.shards, videos)
        size = sum(pathlib.Path(p).stat().st_size for p in tf.io.gfile.glob(pattern))
        print(f"\n{level} level ({size / 2**20:.0f} MiB of shards):")
        datasets = {
            name: make(pattern, arguments.batch_size) for name, make in PIPELINES[level].items()
        }
        rates = examples_per_second(datasets, arguments.repeats)
        baseline = rates["starter"][0]
        for name, (rate, count, first, cpu) in rates.items():
            print(
                f"  {name:36s} {rate:10,.0f} examples/s  {rate / baseline:5.2f}x starter  "
                f"{cpu:5.1f} CPU us/example  ({count} examples; first pass {first:,.0f}/s)"
            )


if __name__ == "__main__":
    main()
