"""TFDS split -> tf.data batches of `(inputs, one_hot_labels)`, with mixup for training.

Two kinds of inputs, one per kind of model (see `vidcls_keras.models`):

- `inputs="frames"`: `{"frames": float32 (batch, max_frames, D), "padding_mask": bool
  (batch, max_frames)}`, the stored frame embeddings padded with zero rows or trimmed to
  `max_frames`; `padding_mask` is True where a frame is real.
- `inputs="pixels"`: `{"pixels": float32 (batch, 224, 224, 3)}`, the stored frame (already
  resized and center-cropped to 224 by the builder) CLIP-normalized.
- `inputs="clips"`: `{"pixels": float32 (batch, max_frames, 224, 224, 3), "padding_mask": bool
  (batch, max_frames)}` from a clip dataset's `clip_frames` (`clips16`, `clips8`): augmented for
  training, resized + center-cropped for evaluation (`vidcls_keras.augment`), CLIP-normalized;
  zero frames after a short clip's real ones. The cache holds the decoded frames (about 4 MB per
  16-frame clip); load with `decoders={"clip_frames": tfds.decode.SkipDecoding()}` to cache the
  JPEG bytes instead (about 15 times less), decoded in the augmentation map.
- `inputs="features"`: `{"features": float32 (batch, F)}`, a vector per example that the caller
  attached with `attach_features` (the frame model's frozen encoder output for the stored frame,
  computed once per run instead of once per epoch: see `training.trainer`).

Labels are one-hot float32 `(batch, num_classes)`; after mixup they are soft.

Multi-label data (YouTube-8M: examples with a `labels` sequence of class indices instead of one
`label`, see `is_multilabel`) gives the same `frames` inputs, with labels multi-hot **bool**
`(batch, num_classes)` (Keras' losses cast them to float on the device: at 3,862 classes float32
labels would be three quarters of a video-level batch's bytes to build and copy), float32 soft
in [0, 1] after mixup, which mixes them as one-hot rows:

- video level (`mean_rgb`, `mean_audio` float32): one frame, `concat(mean_rgb, mean_audio)`,
  padded with zero rows when `max_frames > 1`;
- frame level (`rgb`, `audio` uint8 `(n, width)`, one row per second): `concat(rgb, audio)` per
  second, the *first* `max_frames` seconds kept (as the YouTube-8M starter's reader does), zero
  rows after. The cache holds the kept seconds as stored (uint8, unpadded: 4 times less memory
  than float32); they are dequantized (`youtube8m.records.dequantize`) and padded after it, per
  example, so only real rows are converted and padded rows stay 0.0.

Video-level examples are prepared 256 at a time and never split into single examples (per-example
work, even only splitting batches, bounds the input below the starter's batch-parsing reader):
they may come one per element or already in parsed batches (`load_split(batched=True)`), the
cache holds prepared batches, and training shuffles them with `shuffle_batched` (whole batches,
then the rows of windows of `shuffle_buffer` examples) instead of one example at a time.

Either feature may lack its audio (`mean_audio` / `audio` absent: shards without audio).

Seeding: one `seed` fixes the shuffles and the mixup weights, so building the pipeline twice
with the same seed gives the same batches, epoch after epoch (each epoch reshuffles). TF mixes
its global seed into seeded ops, so the batches also depend on `tf.random.set_seed` /
`keras.utils.set_random_seed`, if the caller sets one. By default the epochs are the dataset's
iterations, and the seeded streams continue from one iteration to the next: epoch k's order
depends on the k iterations before it. With `epochs=range(first, last)` the dataset holds those
epochs one after another, and each epoch's order and mixup weights depend only on
`(seed, epoch)` (not on TF's global seed): training resumed at epoch k sees the batches an
uninterrupted run sees.
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vidcls_keras import augment
from vidcls_keras._compat.tf_seed import use_fixed_graph_seed
from vidcls_keras.clip.preprocessing import CLIP_MEAN, CLIP_STD  # one place; no Keras import
from vidcls_keras.youtube8m import stream
from vidcls_keras.youtube8m.records import dequantize

INPUT_KINDS = ("frames", "pixels", "features", "clips")
# The YouTube-8M features, video and frame level: (visual, audio); audio may be absent.
VIDEO_LEVEL_FEATURES = ("mean_rgb", "mean_audio")
FRAME_LEVEL_FEATURES = ("rgb", "audio")
PREPARE_BATCH = 256  # video-level YouTube-8M examples prepared at a time
DEFAULT_SHUFFLE_BUFFER = 2048  # more than youtube_videos' 1,553 training videos: a full shuffle


def load_split(
    dataset: str, split: str, data_dir: str | None = None, batched: bool = False
) -> tuple[tf.data.Dataset, tfds.core.DatasetInfo]:
    """Reads one split of a TFDS dataset that is already built, in file order.

    The dataset's code need not be importable: when `dataset` is not a registered builder, TFDS
    reads the builder's metadata from `<data_dir>/<name>/<config>/<version>/` (written by
    `tfds build`), so a dataset built from `builders/<name>` loads by name without importing it.
    The latest version found there is used.

    Args:
        dataset: `"name"` (its default config, as recorded on disk) or `"name/config"`
            (optionally with a version, `"name/config:1.0.0"`).
        split: a split name or TFDS split expression, e.g. `"train"` or `"train[:90%]"`.
        data_dir: the folder given to `tfds build --data_dir`; None means TFDS' default
            (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        batched: video-level YouTube-8M only (`youtube8m/video`): the examples in parsed
            batches (`youtube8m.stream.read_built(batched=True)`), which `make_batches`
            prepares without splitting them; other datasets ignore it.

    Returns:
        `(examples, info)`: a `tf.data.Dataset` of feature dicts (files not shuffled, so the
        order is fixed) and the dataset's `tfds.core.DatasetInfo`.

    Raises:
        ValueError: the dataset is not built in `data_dir` (TFDS' `DatasetNotFoundError`).
    """
    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"dataset {dataset!r} was not found in data_dir={data_dir!r}: build it first, e.g. "
            f"`tfds build builders/<name> --data_dir <dir>`, and pass the same data_dir. "
            f"TFDS said: {error}"
        ) from error
    if is_multilabel(builder.info.features):  # YouTube-8M: records parsed in batches
        return stream.read_built(builder, split, batched=batched), builder.info
    return builder.as_dataset(split=split, shuffle_files=False), builder.info


def make_batches(
    ds: tf.data.Dataset,
    *,
    num_classes: int,
    batch_size: int,
    training: bool,
    max_frames: int | None = None,
    mixup_alpha: float | None = None,
    seed: int = 0,
    inputs: str = "frames",
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    cache: bool = True,
    epochs: range | None = None,
) -> tf.data.Dataset:
    """Turns TFDS examples into batches of `(inputs, one_hot_labels)` for `keras.Model.fit`.

    Training shuffles (reshuffling every epoch) and, with `mixup_alpha`, applies mixup: two
    streams of `ds`, each shuffled with its own seed and batched, are zipped, and each pair of
    batches is mixed with one weight per batch, `lam ~ Beta(alpha, alpha)` (see `mixup`).
    Evaluation (`training=False`) keeps the file order, mixes nothing and keeps the last partial
    batch. Training keeps it too, as the original's `DataLoader` did (under JAX this costs one
    extra compilation for the smaller shape).

    When a video has more than `max_frames` embeddings, `max_frames` evenly spaced rows are kept
    (row `floor((2i + 1) * n / (2 * max_frames))` for i < max_frames, the middle of each of
    `max_frames` equal stretches), so the kept frames still span the whole video; fewer rows are
    padded with zero rows at the end, marked False in `padding_mask`.

    Multi-label examples (`is_multilabel`: YouTube-8M's features, see the module docstring) keep
    the *first* `max_frames` seconds instead, and give multi-hot labels.

    Args:
        ds: TFDS examples with the project's features (`embeddings` float32 (n, D), `label`
            int64, `frame` uint8 (224, 224, 3) or its encoded bytes, ...), e.g. from `load_split`;
            or YouTube-8M examples (`labels` int64 (k,), `mean_rgb`/`mean_audio` or
            `rgb`/`audio`), from the `youtube8m` dataset or `youtube8m.stream`; video level
            also in batches (`mean_rgb` (b, R), `labels` ragged (b, None): `batched=True`).
        num_classes: number of classes (length of the one-hot or multi-hot labels).
        batch_size: examples per batch.
        training: shuffle (and mixup, if asked) when True; fixed order when False.
        max_frames: frames per padded video; required for `inputs="frames"` and `"clips"` (T).
        mixup_alpha: Beta(alpha, alpha) parameter of the mixup weight (0.4 in the original);
            None turns mixup off. Training only.
        seed: seeds the two shuffles and the mixup weights.
        inputs: `"frames"` (embedding sequences), `"pixels"` (the stored frame),
            `"features"` (the vector `attach_features` added to each example) or `"clips"`
            (a clip dataset's frames, augmented under `seed` when training: `augment`).
        shuffle_buffer: examples held by each shuffle (training only; video-level YouTube-8M:
            by each of `shuffle_batched`'s two steps).
        cache: keep the prepared examples (model inputs before batching) in memory after the
            first epoch, so later epochs neither read nor decode files again. About
            `num_examples * max_frames * D * 4` bytes (318 MB for 1,553 videos of 100 x 512
            frames) or 150 kB per video for pixels; turn off for splits larger than memory.
        epochs: training only. None: one epoch per iteration of the returned dataset, reshuffled
            at each iteration by a seeded stream that carries on across iterations. A range,
            e.g. `range(3, 10)`: one iteration holds epochs 3 to 9 one after another (pass
            `steps_per_epoch` to `fit`), each shuffled and mixed with seeds drawn from
            `(seed, epoch)` alone, so any epoch's batches are the same whatever epoch the
            range starts at (what resuming a training needs).

    Returns:
        A `tf.data.Dataset` of `(inputs, labels)`: inputs as in this module's docstring,
        labels float32 `(batch, num_classes)`, each row summing to 1 (multi-label: bool rows,
        any number of True; float32 and soft after mixup).

    Raises:
        ValueError: on an unknown `inputs` kind, a size that is not positive, `mixup_alpha <= 0`
            or `seed`, mixup asked for with `training=False`, or multi-label examples with
            `inputs="pixels"`.
    """
    if inputs not in INPUT_KINDS:
        raise ValueError(f"inputs must be one of {INPUT_KINDS}, got {inputs!r}.")
    for name, value in (("num_classes", num_classes), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if inputs in ("frames", "clips") and max_frames is None:
        raise ValueError(
            f'max_frames is required with inputs="{inputs}" (e.g. max_frames=100, or 16 for clips).'
        )
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be a positive int, got {max_frames!r}.")
    if mixup_alpha is not None:
        if not mixup_alpha > 0:
            raise ValueError(
                f"mixup_alpha must be > 0 (0.4 in the original), got {mixup_alpha!r}; "
                "pass None to turn mixup off."
            )
        if not training:
            raise ValueError(
                "mixup_alpha is for training only: pass mixup_alpha=None with training=False."
            )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    if training and shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be a positive int, got {shuffle_buffer!r}.")
    if epochs is not None and not (training and isinstance(epochs, range) and epochs.step == 1):
        raise ValueError(
            f"epochs must be None or a range of step 1 with training=True, got {epochs!r}."
        )

    multilabel = is_multilabel(ds.element_spec)
    if multilabel and inputs != "frames":
        raise ValueError(
            'multi-label (YouTube-8M) examples have no stored frame: use inputs="frames".'
        )
    prepare_batch = expand = None
    if multilabel and VIDEO_LEVEL_FEATURES[0] in ds.element_spec:
        # A batch of videos at a time, and never split into examples: one function call per
        # example would bound the input at ~50,000 videos/s on 2 cores, and splitting batches to
        # shuffle examples at ~100,000/s, below the starter's batch-parsing reader.
        def prepare_batch(examples):
            frames, padding_mask = _youtube8m_video_batch(examples, max_frames)
            return {"frames": frames, "padding_mask": padding_mask}, _multi_hot_batch(
                examples["labels"], num_classes
            )

        finish = None

    elif multilabel:

        def prepare(example):
            # Cached as stored: uint8, only the real seconds (see the module docstring).
            return {"frames": youtube8m_rows(example, max_frames)}, _multi_hot(example, num_classes)

        def expand(inputs, labels):
            frames, padding_mask = _dequantize_and_pad(inputs["frames"], max_frames)
            return {"frames": frames, "padding_mask": padding_mask}, labels

        finish = None

    elif inputs == "frames":

        def prepare(example):
            frames, padding_mask = pad_or_trim(example["embeddings"], max_frames)
            return {"frames": frames, "padding_mask": padding_mask}, _one_hot(example, num_classes)

        finish = None

    elif inputs == "clips":

        def prepare(example):
            # Subsample before the cache: it then holds at most max_frames frames per clip.
            frames = augment.uniform_temporal_subsample(example["clip_frames"], max_frames)
            key = augment.example_key(example["video_id"])
            return {"clip_frames": frames, "example_key": key}, _one_hot(example, num_classes)

        def finish(batch_inputs, labels):
            pixels = normalize_pixels(batch_inputs["pixels"])
            # Padded frames stay 0.0, as padded embedding rows do (normalized black is not 0).
            pixels = tf.where(batch_inputs["padding_mask"][..., None, None, None], pixels, 0.0)
            return {"pixels": pixels, "padding_mask": batch_inputs["padding_mask"]}, labels

    elif inputs == "features":

        def prepare(example):
            return {"features": example["features"]}, _one_hot(example, num_classes)

        finish = None

    else:

        def prepare(example):
            return {"pixels": _frame_uint8(example["frame"])}, _one_hot(example, num_classes)

        def finish(batch_inputs, labels):
            return {"pixels": normalize_pixels(batch_inputs["pixels"])}, labels

    # Select and pad per example before shuffling: the shuffle buffer (and cache) then hold only
    # fixed-size model inputs (pixels still uint8), and as this map is deterministic, doing it
    # first does not change what the seed selects.
    if prepare_batch is None:
        examples = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    else:  # video level: `examples` holds prepared batches
        if ds.element_spec[VIDEO_LEVEL_FEATURES[0]].shape.rank == 1:  # one video per element
            # Labels of a batch-parsed read are ragged already (`stream.read_built`).
            ragged = isinstance(ds.element_spec["labels"], tf.RaggedTensorSpec)
            ds = ds.batch(PREPARE_BATCH) if ragged else ds.ragged_batch(PREPARE_BATCH)
        # Prepared before the shuffle: regrouping ragged labels costs more than dense bools.
        examples = ds.map(prepare_batch, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        # Before the shuffles: both mixup streams and every epoch read the one in-memory copy.
        examples = examples.cache()

    def stream(shuffle_seed: int | tf.Tensor | None, reshuffle: bool = True) -> tf.data.Dataset:
        if prepare_batch is not None:  # prepared batches, shuffled and regrouped as they are
            if shuffle_seed is None:
                return examples.rebatch(batch_size)
            return shuffle_batched(examples, batch_size, shuffle_buffer, shuffle_seed, reshuffle)
        if shuffle_seed is not None:
            shuffled = examples.shuffle(
                shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=reshuffle
            )
        else:
            shuffled = examples
        if inputs == "clips":
            # After the shuffle and cache: new crops every epoch, keyed by (seed, epoch, example).
            shuffled = augment.augment_clips(shuffled, max_frames, seed=shuffle_seed)
        if expand is not None:  # after the cache: it holds the compact form
            shuffled = shuffled.map(expand, num_parallel_calls=tf.data.AUTOTUNE)
        batched = shuffled.batch(batch_size)
        if finish is None:
            return batched
        # Normalize after batching: one vectorized op per batch instead of one per frame.
        return batched.map(finish, num_parallel_calls=tf.data.AUTOTUNE)

    def mixed(first: tf.data.Dataset, second: tf.data.Dataset, weights: tf.data.Dataset):
        # Two independently shuffled passes over the same split, as the original's two
        # DataLoaders; both have the same length, so the partial last batches pair up.
        pairs = tf.data.Dataset.zip(first, second, weights)
        return pairs.map(mixup, num_parallel_calls=tf.data.AUTOTUNE)

    first_seed, second_seed, weight_seed = (
        int(s) for s in np.random.SeedSequence(seed).generate_state(3)
    )
    if not training:
        batches = stream(None)
    elif epochs is None:
        if mixup_alpha is None:
            batches = stream(first_seed)
        else:
            weights = mixup_weights(mixup_alpha, weight_seed)
            batches = mixed(stream(first_seed), stream(second_seed), weights)
    else:

        def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
            # This function's graph only: see vidcls_keras/_compat/tf_seed.py.
            use_fixed_graph_seed()
            # This epoch's seeds are drawn from (stream seed, epoch) alone: no state carries
            # over from earlier epochs, so a pipeline that starts at this epoch agrees.
            first, second, weight = (
                _epoch_seed(stream_seed, epoch)
                for stream_seed in (first_seed, second_seed, weight_seed)
            )
            if mixup_alpha is None:
                return stream(first, reshuffle=False)
            weights = tf.data.Dataset.counter().map(
                lambda step: stateless_beta(mixup_alpha, tf.stack([weight, step])),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            return mixed(stream(first, reshuffle=False), stream(second, reshuffle=False), weights)

        batches = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(one_epoch)
    return without_autotune_thread(batches.prefetch(tf.data.AUTOTUNE))


def without_autotune_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` with tf.data's autotuning thread turned off: the same elements, in the same order.

    With that thread on (tf.data's default), destroying an iterator blocks until the thread next
    wakes (TF 2.21; seen in a native stack dump: `RootDataset::Iterator::~Iterator` waiting on its
    thread). It wakes 10 ms, 20 ms, 40 ms, ... apart, the period doubling up to 60 s, so the wait
    can last about as long as the iterator has lived, up to a minute; it happens in some
    teardowns, not all. Every `fit`, `evaluate` and `predict` ends with one, and so does each
    validation pass. Measured on 2 cores (README, "Measured speed"): 2-epoch fits of the mean
    model with validation took 0.81-1.30 s with the thread and 0.65-0.74 s without; 30-step
    transformer fits returned 8-10 s after their last step in some processes.

    Without the thread, `num_parallel_calls=AUTOTUNE` maps run at TF's starting parallelism (the
    machine's cores, at most 16) and `prefetch(AUTOTUNE)` keeps its own buffer sizing; the
    training input still runs hundreds of batches a second from the cache, far above any model's
    step rate here.

    Args:
        ds: any dataset; the option applies to its whole pipeline.

    Returns:
        The same dataset, with `options().autotune.enabled` False.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def shuffle_batched(
    batches: tf.data.Dataset,
    batch_size: int,
    shuffle_buffer: int,
    seed: int | tf.Tensor,
    reshuffle: bool = True,
) -> tf.data.Dataset:
    """Shuffles examples that come in batches into batches of `batch_size`, without splitting
    the batches into examples (which costs more than parsing them at video level).

    The batches are shuffled (a buffer of `ceil(window / PREPARE_BATCH)` of them), then
    regrouped into windows of `window` examples, the least multiple of `batch_size` that is at
    least `shuffle_buffer`; each window's rows are permuted and cut into batches. An example
    moves about as far as in a per-example shuffle of `shuffle_buffer` (a whole batch can
    move further), but examples of one input batch stay in one window.

    Args:
        batches: elements whose tensors share a leading batch dimension `(b, ...)`,
            b <= `PREPARE_BATCH`.
        batch_size: examples per output batch.
        shuffle_buffer: examples held by each of the two steps (about).
        seed: the shuffle's seed (an int, or a scalar int64 tensor in a dataset function).
        reshuffle: a new order at each iteration (as `Dataset.shuffle`'s
            `reshuffle_each_iteration`).

    Returns:
        The examples in batches of `batch_size` (only the last one smaller), in a seeded random
        order.
    """
    window = batch_size * max(1, -(-shuffle_buffer // batch_size))
    count = max(1, -(-window // PREPARE_BATCH))
    shuffled = batches.shuffle(count, seed=seed, reshuffle_each_iteration=reshuffle)
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=reshuffle).batch(2)

    def cut(window_examples, key):
        size = tf.shape(tf.nest.flatten(window_examples)[0])[0]
        order = tf.random.experimental.stateless_shuffle(tf.range(size), key)

        def take(start):
            rows = order[start : start + batch_size]
            return tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), window_examples)

        starts = tf.data.Dataset.range(0, tf.cast(size, tf.int64), batch_size)
        return starts.map(lambda start: take(tf.cast(start, tf.int32)))

    return tf.data.Dataset.zip(shuffled.rebatch(window), keys).flat_map(cut)


def pad_or_trim(embeddings: tf.Tensor, max_frames: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Pads with zero rows or trims (evenly spaced rows) one video's embeddings to `max_frames`.

    Args:
        embeddings: float `(n, D)`, one row per sampled frame; `n` may be 0.
        max_frames: rows to return.

    Returns:
        `(frames, padding_mask)`: float32 `(max_frames, D)` and bool `(max_frames,)`, True for
        the `min(n, max_frames)` real rows, which come first.
    """
    embeddings = tf.cast(embeddings, tf.float32)
    count = tf.shape(embeddings, out_type=tf.int64)[0]
    positions = tf.range(max_frames, dtype=tf.int64)

    def trim():
        return tf.gather(embeddings, (2 * positions + 1) * count // (2 * max_frames))

    def pad():
        return tf.pad(embeddings, [[0, max_frames - count], [0, 0]])

    frames = tf.cond(count > max_frames, trim, pad)
    frames = tf.ensure_shape(frames, [max_frames, embeddings.shape[-1]])
    return frames, positions < count


def is_multilabel(features: dict) -> bool:
    """Whether examples are multi-label: a `labels` sequence of class indices, no `label`.

    Args:
        features: an example dict's keys, e.g. `tf.data.Dataset.element_spec` or
            `DatasetInfo.features`.
    """
    return "labels" in features and "label" not in features


def youtube8m_rows(example: dict, max_frames: int) -> tf.Tensor:
    """One frame-level YouTube-8M example's first seconds, still quantized (uint8).

    Args:
        example: `rgb` uint8 `(n, R)` [+ `audio` uint8 `(n, A)`], one row per second.
        max_frames: seconds kept from the start, as the starter's reader keeps them.

    Returns:
        uint8 `(min(n, max_frames), R + A)`: `concat(rgb, audio)` per second.

    Raises:
        ValueError: the example has no `rgb` (nor video-level features, which take
            `_youtube8m_video_batch`).
    """
    if FRAME_LEVEL_FEATURES[0] not in example:
        raise ValueError(
            f"a YouTube-8M example needs {VIDEO_LEVEL_FEATURES[0]!r} (video level) or "
            f"{FRAME_LEVEL_FEATURES[0]!r} (frame level); it has {sorted(example)}."
        )
    parts = [example[name] for name in FRAME_LEVEL_FEATURES if name in example]
    return tf.concat(parts, axis=-1)[:max_frames]


def _dequantize_and_pad(rows: tf.Tensor, max_frames: int) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 `(k, D)`, k <= max_frames -> float32 `(max_frames, D)` (the real rows dequantized,
    zero rows after: only real rows are converted) and bool `(max_frames,)`."""
    count = tf.shape(rows)[0]
    frames = tf.pad(dequantize(rows), [[0, max_frames - count], [0, 0]])
    frames = tf.ensure_shape(frames, [max_frames, rows.shape[-1]])
    return frames, tf.range(max_frames) < count


def _youtube8m_video_batch(examples: dict, max_frames: int) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of video-level examples as model frames (see the module docstring): float32
    `(B, max_frames, R + A)` (row 0 the video's means, the rest 0) and bool `(B, max_frames)`."""
    parts = [
        tf.cast(examples[name], tf.float32) for name in VIDEO_LEVEL_FEATURES if name in examples
    ]
    frames = tf.concat(parts, axis=-1)[:, None]
    if max_frames > 1:  # (a pad of nothing would still copy)
        frames = tf.pad(frames, [[0, 0], [0, max_frames - 1], [0, 0]])
    padding_mask = tf.broadcast_to(tf.range(max_frames) < 1, tf.shape(frames)[:2])
    return frames, padding_mask


def _multi_hot_batch(labels: tf.RaggedTensor, num_classes: int) -> tf.Tensor:
    """`_multi_hot` for a batch: ragged int64 `(B, None)` -> bool `(B, num_classes)`, True where
    a video has the class. Written in one pass (`sparse_to_dense`; a label given twice is still
    True): at 3,862 classes the dense labels are most of a video-level batch's bytes."""
    values = tf.cast(labels.values, tf.int64)
    check = tf.debugging.assert_less(
        values,
        tf.constant(num_classes, tf.int64),
        message=f"label out of range: num_classes={num_classes} is less than the dataset's",
    )
    with tf.control_dependencies([check]):  # before sparse_to_dense, whose own error is obscure
        values = tf.identity(values)
    indices = tf.stack([tf.cast(labels.value_rowids(), tf.int64), values], axis=1)
    shape = tf.stack([tf.cast(labels.nrows(), tf.int64), num_classes])
    ones = tf.ones_like(values, tf.bool)
    return tf.sparse.to_dense(tf.SparseTensor(indices, ones, shape), validate_indices=False)


def attach_features(ds: tf.data.Dataset, features: np.ndarray) -> tf.data.Dataset:
    """Adds row i of `features` to example i of `ds`, as `"features"` (for `inputs="features"`).

    The examples keep their order, so `make_batches` shuffles and mixes them exactly as it would
    the same examples without features (its shuffles depend on the seed and the number of
    examples, not on their content).

    Args:
        ds: examples in a fixed order (e.g. `load_split`, which does not shuffle files).
        features: float `(num_examples, F)`, one row per example of `ds`, in the same order.

    Returns:
        The examples, each with a float32 `features` `(F,)` entry.

    Raises:
        ValueError: `features` is not 2-D, or `ds` is known to hold another number of examples.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be (num_examples, F), got shape {features.shape}.")
    count = int(ds.cardinality())
    if count >= 0 and count != len(features):
        raise ValueError(
            f"features has {len(features)} rows but the dataset holds {count} examples: "
            "compute one row per example, in the dataset's order."
        )
    rows = tf.data.Dataset.from_tensor_slices(features)
    return tf.data.Dataset.zip(ds, rows).map(
        lambda example, row: {**example, "features": row}, num_parallel_calls=tf.data.AUTOTUNE
    )


def normalize_pixels(pixels: tf.Tensor) -> tf.Tensor:
    """CLIP normalization: uint8 RGB `(..., 3)` -> float32 `(pixel / 255 - mean) / std`.

    The same numbers as `vidcls_keras.clip.preprocess` (OpenAI CLIP's per-channel mean and std),
    here in TensorFlow so that it runs inside the tf.data pipeline.
    """
    scaled = tf.cast(pixels, tf.float32) / 255.0
    return (scaled - tf.constant(CLIP_MEAN)) / tf.constant(CLIP_STD)


def mixup_weights(alpha: float, seed: int) -> tf.data.Dataset:
    """An endless, seeded stream of mixup weights `lam ~ Beta(alpha, alpha)`, float32 scalars.

    Each weight is a `stateless_beta` draw keyed by a seeded `tf.data.Dataset.random` stream,
    which changes every epoch (iteration) and repeats exactly for the same `seed` (and TF global
    seed).
    """
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return keys.map(
        lambda key: stateless_beta(alpha, tf.stack([key, tf.constant(seed, tf.int64)])),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _epoch_seed(stream_seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """An int64 seed for one epoch of one stream, a function of `(stream_seed, epoch)` only."""
    key = tf.stack([tf.constant(stream_seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.stateless_uniform([], seed=key, minval=None, maxval=None, dtype=tf.int64)


def stateless_beta(alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """One `Beta(alpha, alpha)` draw, float32 scalar in [0, 1], fixed by `seed` (int64 `(2,)`).

    Beta from two Gammas: `x / (x + y)` for `x, y ~ Gamma(alpha)` (`tf.random.stateless_gamma`).
    """
    # float64: for small alpha both draws can underflow float32 to 0, and 0 / 0 is NaN.
    draws = tf.random.stateless_gamma([2], seed=seed, alpha=alpha, dtype=tf.float64)
    total = draws[0] + draws[1]
    weight = tf.where(total > 0, draws[0] / total, tf.constant(0.5, tf.float64))
    return tf.cast(weight, tf.float32)


def mixup(first: tuple, second: tuple, weight: tf.Tensor) -> tuple[dict, tf.Tensor]:
    """Mixes two batches `(inputs, labels)` with one weight: `weight * first + (1 - weight) * second`.

    Every float input (`frames` or `pixels`) and the one-hot labels are mixed; `padding_mask`
    is the union of the two masks (True where either video has a real frame), as in the
    original. Consequence: where only one video is real, the mixed row is that video's row
    scaled by its weight (`lam * a + (1 - lam) * 0`), and it counts as a full frame, so the
    masked mean of a mixed pair is `lam * mean(a) + (1 - lam) * (n_b / n_a) * mean(b)` when
    `n_a >= n_b`: the shorter video weighs less than `1 - lam`. The intersection would avoid
    that but drop real frames of the longer video, whose label share stays; the union loses
    nothing, and the effect vanishes when videos have the same number of frames (the usual
    case: every video gets `num_frames` embeddings unless it is shorter than that).

    Args:
        first: `(inputs, labels)`, a batch; `labels` float32 `(batch, num_classes)` (or bool:
            multi-hot).
        second: a batch of the same shapes.
        weight: float32 scalar in [0, 1], the share of `first`.

    Returns:
        The mixed batch `(inputs, labels)`.
    """
    (first_inputs, first_labels), (second_inputs, second_labels) = first, second

    def mix(a, b):
        return weight * a + (1.0 - weight) * b

    mixed = {}
    for key, value in first_inputs.items():
        if key == "padding_mask":
            mixed[key] = tf.logical_or(value, second_inputs[key])
        else:
            mixed[key] = mix(value, second_inputs[key])
    # Multi-hot labels come as bool (see the module docstring): mixed, they are float32.
    first_labels, second_labels = (tf.cast(y, tf.float32) for y in (first_labels, second_labels))
    return mixed, mix(first_labels, second_labels)


def _one_hot(example: dict, num_classes: int) -> tf.Tensor:
    """The example's `label` as float32 one-hot `(num_classes,)`; fails on a label out of range."""
    label = tf.cast(example["label"], tf.int64)
    # tf.one_hot would silently give all zeros for a label >= num_classes.
    tf.debugging.assert_less(
        label,
        tf.constant(num_classes, tf.int64),
        message=f"label out of range: num_classes={num_classes} is less than the dataset's",
    )
    return tf.one_hot(label, num_classes, dtype=tf.float32)


def _multi_hot(example: dict, num_classes: int) -> tf.Tensor:
    """The example's `labels` (int64 `(k,)`, k may be 0) as bool multi-hot `(num_classes,)`."""
    labels = tf.cast(example["labels"], tf.int64)
    # tf.one_hot would silently give all zeros for a label >= num_classes.
    tf.debugging.assert_less(
        labels,
        tf.constant(num_classes, tf.int64),
        message=f"label out of range: num_classes={num_classes} is less than the dataset's",
    )
    # A sum, not a max: the max of no labels (an unlabelled test video) would be -inf.
    return tf.reduce_sum(tf.one_hot(labels, num_classes, dtype=tf.float32), 0) > 0


def _frame_uint8(frame: tf.Tensor) -> tf.Tensor:
    """The stored frame as uint8 `(H, W, 3)`, decoding it when TFDS left it as encoded bytes."""
    if frame.dtype == tf.string:  # read with decoders={"frame": tfds.decode.SkipDecoding()}
        frame = tf.io.decode_image(frame, channels=3, expand_animations=False)
    return tf.ensure_shape(frame, [None, None, 3])
