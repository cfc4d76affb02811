"""The whole pipeline in one offline command: videos -> TFDS dataset -> six models -> a prediction.

    python -m vidcls_keras.demo                                   # generated clips, tiny encoder
    python -m vidcls_keras.demo --embedder preset:clip-vit-base-patch32 --videos ~/my_videos

Stages, one line each on screen (long ones with a progress bar):

1. videos: writes a small labelled set of generated clips (`vidcls_keras.synthetic`, 4 classes x
   `--clips-per-class`), or takes `--videos DIR` laid out as `DIR/<class>/<video>`.
2. embedder: the CLIP image encoder of `--embedder`; the default `tiny:0` is a small ViT with
   random weights that needs no download (enough to run everything, not to classify real video).
3. dataset: builds the `video_folder` TFDS dataset (`vidcls_keras.datasets.video_folder`, which
   `import vidcls_keras.datasets` registers with TFDS) with TFDS' own `download_and_prepare`, the
   machinery behind `tfds build` (the equivalent command is printed): frames sampled per video,
   embedded, split train / validation / test. It needs the installed package only, no clone.
4. train: the six configurations of `vidcls_keras.experiments` (mean, transformer, frame; each
   with and without mixup) through `vidcls_keras.train`, selected on validation loss. With ~30
   training videos the original's settings would be 20 gradient steps, so the demo defaults to
   20 epochs of batch 4 at Adam 3e-3 (a few hundred steps; change with the flags).
5. results: the table `experiments` writes (`results.md`), test f1 per configuration, with the
   size of the test split (4 generated test videos: one video is 25 points). On generated clips
   or a random-weight `tiny:` encoder the original's numbers (173 real videos, pretrained CLIP)
   are left out of the table and chart, which say why: nothing there is comparable.
6. predict: one test video classified with `vidcls_keras.inference.classifier.VideoClassifier`
   (what `python -m vidcls_keras.predict` uses), loaded from the saved `.keras` artefact of the
   configuration with the best validation loss.

Everything lands in `--output-dir` (default `./demo_output`): `videos/` (generated clips),
`tensorflow_datasets/` (the built dataset), `embedding_cache/` (so a rerun embeds nothing again)
and `runs/`: `<configuration>/seed_<seed>/` (model.keras, config.json, metrics.json, history.csv,
plots) and the summary `results.md`, `results.csv`, `runs.csv`, `results.png`. A rerun replaces
the generated clips, the dataset and the runs, and reuses the cached embeddings.

On the default `tiny:0` encoder the scores say how well random features separate generated clips,
nothing about real video: the demo is there to show every step run, end to end, offline.
"""

# Somewhat over ~500 lines on purpose: the demo is one room, its command (`DemoConfig`, `run`,
# `main`) beside the step functions the notebooks call (`generate_videos`, `build_dataset`,
# `best_run`); splitting them would send a reader between two files to follow one run.

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pathlib
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import vidcls_keras  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import ensure_dir

DEFAULT_OUTPUT_DIR = "demo_output"
DEFAULT_EMBEDDER = "tiny:0"
DEFAULT_CONFIG = "frames16"
# About 30 training videos: the original's 10 epochs of batch 16 at Adam 1e-3 would be 20 steps
# here. Small batches, more epochs and a larger step give the heads a few hundred steps instead.
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 4
DEFAULT_LEARNING_RATE = 3e-3
BUILDER_NAME = "video_folder"
DATASETS_PACKAGE = "vidcls_keras.datasets"  # importing it registers the builders with TFDS
# The original project's six rows of `experiments.EXPERIMENTS` (`--only` picks others).
ORIGINAL_CONFIGURATIONS = (
    "mean",
    "mean_mixup",
    "transformer",
    "transformer_mixup",
    "frame",
    "frame_mixup",
)
STAGES = ("videos", "embedder", "dataset", "train", "results", "predict")
TINY_NOTE = (
    "tiny:0 is a small CLIP-shaped encoder with random weights (no download): it exercises the "
    "pipeline; pass --embedder preset:clip-vit-base-patch32 (or hf:DIR) for real CLIP embeddings"
)


class DemoError(VidclsError):
    """A demo that cannot run: bad flag, unknown builder, no run to predict with."""


def _stage(number: int, name: str, message: str) -> None:
    print(f"[{number}/{len(STAGES)}] {name}: {message}", flush=True)


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    """Sets environment variables for the duration of the block, then restores them."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def generate_videos(
    root: str | os.PathLike,
    *,
    clips_per_class: int,
    num_frames: int,
    seed: int,
    show_progress: bool = True,
) -> pathlib.Path:
    """Replaces `root` with freshly generated clips, `root/<class>/<class>_NN.mp4`.

    Args:
        root: the folder to (re)create; the demo owns it.
        clips_per_class: clips per class.
        num_frames: frames per clip.
        seed: fixes every clip.
        show_progress: draw a tqdm bar.

    Returns:
        `root`.
    """
    from tqdm.auto import tqdm

    from vidcls_keras import synthetic

    root = pathlib.Path(root)
    shutil.rmtree(root, ignore_errors=True)  # no stale clips from a run with other sizes
    total = clips_per_class * len(synthetic.CLASS_NAMES)
    with tqdm(total=total, desc="writing clips", unit="clip", disable=not show_progress) as bar:
        synthetic.write_dataset(
            root,
            clips_per_class=clips_per_class,
            num_frames=num_frames,
            seed=seed,
            progress=lambda _: bar.update(),
        )
    return root


def tfds_build_command(
    videos_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    embedder: str,
    config: str,
    builder: str = BUILDER_NAME,
) -> str:
    """The `tfds build` command line that builds the same dataset as `build_dataset`.

    `tfds build <builder> --imports vidcls_keras.datasets --config <config> --manual_dir <videos>
    --data_dir <data_dir>`, prefixed with `VIDCLS_EMBEDDER=<embedder>` (`tfds build` passes no
    builder arguments, so the builder reads the embedder from the environment).
    """
    arguments = ["tfds", "build", builder, "--imports", DATASETS_PACKAGE, "--config", config]
    arguments += ["--manual_dir", videos_dir, "--data_dir", data_dir]
    return f"VIDCLS_EMBEDDER={shlex.quote(embedder)} " + shlex.join(map(os.fspath, arguments))


def build_dataset(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    embedder: str = DEFAULT_EMBEDDER,
    config: str = DEFAULT_CONFIG,
    builder: str = BUILDER_NAME,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = True,
) -> Any:
    """Builds `<builder>/<config>` into `data_dir` with TFDS, as `tfds_build_command` would.

    Imports `vidcls_keras.datasets` (which registers the builders with TFDS), makes the builder
    with `tfds.builder` and runs its `download_and_prepare`, the call `tfds build` makes. With `overwrite`, an
    earlier build of the same config in `data_dir` is deleted first (it may come from other
    videos or another embedder); the embedding cache keeps each video's embeddings, so a rebuild
    only re-reads them.

    Args:
        manual_dir: the builder's `--manual_dir` (`video_folder`: `<class>/<video>` folders).
        data_dir: the TFDS data dir (`--data_dir`).
        embedder: embedder spec (`tiny:0`, `preset:<name-or-dir>`, `hf:<dir>`).
        config: builder config, `frames16` or `frames100` (frames embedded per video).
        builder: a dataset of `vidcls_keras.datasets`, `video_folder` or `youtube_videos`.
        cache_dir: the cache root while building (`$VIDCLS_CACHE_DIR`; the embeddings land in
            `<cache_dir>/embeddings/`); None uses the library default
            (`vidcls_keras.files.cache_dir("embeddings")`).
        overwrite: delete an existing build first; False reuses it when present.

    Returns:
        The prepared `tfds.core.DatasetBuilder`; `f"{builder}/{config}"` with `data_dir` names
        it for `vidcls_keras.train` and `data.load_split`.

    Raises:
        DemoError: `builder` is not one of `vidcls_keras.datasets`.
    """
    import tensorflow_datasets as tfds

    import vidcls_keras.datasets  # noqa: F401  (registers video_folder and youtube_videos)

    try:
        known = tfds.builder_cls(builder).__module__.startswith(f"{DATASETS_PACKAGE}.")
    except tfds.core.registered.DatasetNotFoundError:
        known = False
    if not known:
        raise DemoError(
            f"builder {builder!r} is not a dataset of {DATASETS_PACKAGE}; use video_folder or "
            "youtube_videos."
        )

    data_dir = pathlib.Path(data_dir)
    if overwrite:
        shutil.rmtree(data_dir / builder / config, ignore_errors=True)
    environment = {} if cache_dir is None else {"VIDCLS_CACHE_DIR": os.fspath(cache_dir)}
    with _environment(**environment):
        dataset_builder = tfds.builder(
            f"{builder}/{config}", data_dir=os.fspath(data_dir), embedder=embedder
        )
        dataset_builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        )
    return dataset_builder


def _with_progress(rows: Sequence[Any]) -> list[Any]:
    """`experiments.Experiment`s whose `run` also draws a progress bar and a line per run."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(rows), desc="training", unit="run")

    def wrap(row: Any) -> Any:
        def run(train_config: Any) -> dict[str, Any]:
            bar.set_postfix_str(row.description)
            started = time.perf_counter()
            metrics = row.run(train_config)
            test = metrics["test"]
            kept = (metrics.get("selection") or {}).get("best_epoch")
            bar.write(
                f"      {row.description:<22} test f1-micro {test['f1_micro']:.3f}, f1-macro "
                f"{test['f1_macro']:.3f}; kept epoch {kept}; {time.perf_counter() - started:.0f} s"
            )
            bar.update()
            if bar.n == bar.total:
                bar.close()
            return metrics

        return dataclasses.replace(row, run=run)

    return [wrap(row) for row in rows]


def best_run(results: Sequence[Any]) -> Any:
    """The run with the lowest validation loss (model selection never looks at the test split).

    Args:
        results: `experiments.RunResult`s; runs without a saved model or validation metrics (a
            zero-shot row) are skipped.

    Returns:
        The chosen `RunResult` (the first one on a tie).
    """

    losses = {}
    for position, result in enumerate(results):
        run_dir = pathlib.Path(result.output_dir)
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        if (run_dir / "model.keras").is_file() and metrics.get("validation"):
            losses[position] = float(metrics["validation"]["loss"])
    if not losses:
        raise DemoError("no run saved a model with validation metrics: nothing to predict with.")
    return results[min(losses, key=losses.get)]


def first_test_video(dataset: str, data_dir: str | os.PathLike) -> tuple[str, str]:
    """`(video_id, label name)` of the first video of the test split, in file order."""
    from vidcls_keras import data

    examples, info = data.load_split(dataset, "test", os.fspath(data_dir))
    example = next(iter(examples.take(1).as_numpy_iterator()))
    label_names = info.features["label"].names
    return example["video_id"].decode("utf-8"), label_names[int(example["label"])]


@dataclasses.dataclass
class DemoConfig:
    """The demo's settings (its command-line flags).

    Attributes:
        output_dir: where everything is written.
        embedder: embedder spec; `tiny:0` (default) needs no download.
        videos: a `<class>/<video>` folder to use instead of generated clips; None generates.
        clips_per_class: generated clips per class.
        clip_frames: frames per generated clip.
        config: builder config, frames embedded per video (`frames16` or `frames100`).
        epochs: training epochs per configuration.
        batch_size: training batch size.
        learning_rate: Adam's learning rate.
        seed: seeds the generated clips and every training run.
        only: names of `experiments.EXPERIMENTS` rows to run (default: the original's six).
    """

    output_dir: str = DEFAULT_OUTPUT_DIR
    embedder: str = DEFAULT_EMBEDDER
    videos: str | None = None
    clips_per_class: int = 10
    clip_frames: int = 32
    config: str = DEFAULT_CONFIG
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    seed: int = 0
    only: Sequence[str] = ORIGINAL_CONFIGURATIONS


def run(config: DemoConfig) -> dict[str, Any]:
    """Runs the six stages (see the module docstring), printing one line per stage.

    Returns:
        `{"dataset", "data_dir", "runs_dir", "results_md", "best_run", "video", "true_label",
        "predictions", "seconds"}`.

    Raises:
        DemoError: a flag that cannot work, or an embedder that cannot be loaded.
        VidclsError: a video folder the builder rejects (`VideoListError`), or a training run
            that cannot start (`TrainError`).
    """
    from vidcls_keras import synthetic
    from vidcls_keras.clip.specs import parse_embedder_spec
    from vidcls_keras.datasets.listing import list_video_folder
    from vidcls_keras.embedding.embedders import load_embedder
    from vidcls_keras.inference.classifier import VideoClassifier
    from vidcls_keras.training import experiments
    from vidcls_keras.training import trainer as train

    start = time.perf_counter()
    spec = str(parse_embedder_spec(config.embedder, source="--embedder"))
    known = {row.name: row for row in experiments.EXPERIMENTS}
    unknown = [name for name in config.only if name not in known]
    if unknown or not config.only:
        raise DemoError(f"--only {list(config.only)}: choose among {list(known)}.")
    rows = [known[name] for name in dict.fromkeys(config.only)]
    output_dir = pathlib.Path(config.output_dir).absolute()
    ensure_dir(output_dir, "--output-dir")

    def elapsed() -> str:
        return f"{time.perf_counter() - start:.0f} s"

    # 1. Videos.
    if config.videos is None:
        _stage(1, "videos", f"generating {config.clips_per_class} clips per class ...")
        print(f"      NOTE: {synthetic.NOTICE}.", flush=True)
        videos_dir = generate_videos(
            output_dir / "videos",
            clips_per_class=config.clips_per_class,
            num_frames=config.clip_frames,
            seed=config.seed,
        )
    else:
        videos_dir = pathlib.Path(config.videos).expanduser().absolute()
        _stage(1, "videos", f"using your videos in {videos_dir} ...")
    listing = list_video_folder(videos_dir)
    print(
        f"      {len(listing.videos)} videos in {len(listing.class_names)} classes "
        f"({', '.join(listing.class_names)}) in {videos_dir} [{elapsed()}]",
        flush=True,
    )

    # 2. Embedder.
    _stage(2, "embedder", f"loading {spec} ...")
    try:
        embedder = load_embedder(spec)
    except VidclsError as error:
        raise DemoError(
            f"--embedder {spec}: {error} For this demo: --embedder preset:/path/to/preset_dir, "
            "--embedder hf:/path/to/checkpoint, or the default tiny:0."
        ) from error
    print(f"      {embedder.spec}: {embedder.embed_dim}-d frame embeddings [{elapsed()}]")
    if embedder.spec.startswith("tiny:"):
        print(f"      NOTE: {TINY_NOTE}.", flush=True)

    # 3. Dataset.
    data_dir = output_dir / "tensorflow_datasets"
    dataset = f"{BUILDER_NAME}/{config.config}"
    _stage(3, "dataset", f"building {dataset} with TFDS, as this command would:")
    print(
        "      "
        + tfds_build_command(videos_dir, data_dir, embedder=embedder.spec, config=config.config),
        flush=True,
    )
    dataset_builder = build_dataset(
        videos_dir,
        data_dir,
        embedder=embedder.spec,
        config=config.config,
        cache_dir=output_dir / "embedding_cache",
    )
    splits = {name: split.num_examples for name, split in dataset_builder.info.splits.items()}
    print(f"      {dataset} in {data_dir}: {splits} [{elapsed()}]", flush=True)

    # 4. Train the configurations (the original's six unless --only says otherwise).
    runs_dir = output_dir / "runs"
    shutil.rmtree(runs_dir, ignore_errors=True)  # the demo owns it: no runs left from before
    _stage(
        4,
        "train",
        f"{len(rows)} configurations x {config.epochs} epochs "
        f"(batch {config.batch_size}, Adam {config.learning_rate:g}) -> {runs_dir}",
    )
    base = train.TrainConfig(
        dataset=dataset,
        data_dir=os.fspath(data_dir),
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        overwrite=True,  # the demo owns its runs folder
        verbose=0,
    )
    results = experiments.run_experiments(
        base,
        [config.seed],
        runs_dir,
        experiments=_with_progress(rows),
        generated_videos=config.videos is None,  # not the original's: leave its numbers out
    )
    print(f"      trained [{elapsed()}]", flush=True)

    # 5. Results.
    results_md = runs_dir / experiments.RESULTS_MD_FILENAME
    _stage(5, "results", f"{results_md}")
    print(results_md.read_text(encoding="utf-8"), flush=True)
    num_test = splits["test"]
    caveat = "generated clips: the numbers show that the code runs" if config.videos is None else ""
    print(
        f"      NOTE: {num_test} test videos, so one video moves f1-micro by {1 / num_test:.2f}"
        + (f"; {caveat}." if caveat else "."),
        flush=True,
    )

    # 6. Predict one test video with the configuration that did best on validation.
    chosen = best_run(results)
    video_id, true_label = first_test_video(dataset, data_dir)
    video_path = videos_dir / video_id
    _stage(6, "predict", f"{chosen.experiment} (lowest validation loss) on a test video")
    command = ["python", "-m", "vidcls_keras.predict", chosen.output_dir, os.fspath(video_path)]
    print(f"      {shlex.join(command)}", flush=True)
    classifier = VideoClassifier.load(chosen.output_dir)
    predictions = classifier.predict(video_path, top_k=min(3, len(classifier.label_names)))
    ranked = ", ".join(f"{p['label']} {p['score']:.3f}" for p in predictions)
    print(
        f"      predict: {video_id} -> {predictions[0]['label']} ({ranked}); true label: {true_label}"
    )
    seconds = time.perf_counter() - start
    print(f"done in {seconds:.0f} s; everything is in {output_dir}", flush=True)
    return {
        "dataset": dataset,
        "data_dir": os.fspath(data_dir),
        "runs_dir": os.fspath(runs_dir),
        "results_md": os.fspath(results_md),
        "best_run": chosen.output_dir,
        "video": os.fspath(video_path),
        "true_label": true_label,
        "predictions": predictions,
        "seconds": seconds,
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.demo`."""
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.demo",
        description="The whole pipeline offline, in minutes on a CPU: generated (or your) videos "
        "-> TFDS dataset of CLIP frame embeddings -> the six configurations -> results table "
        "-> one prediction.",
    )
    parser.add_argument("--output-dir", default=defaults.output_dir, help="default: %(default)s")
    parser.add_argument(
        "--embedder",
        default=defaults.embedder,
        help="tiny:SEED (random weights, no download; default %(default)s), "
        "preset:clip-vit-base-patch32, preset:DIR or hf:DIR",
    )
    parser.add_argument(
        "--videos",
        default=None,
        metavar="DIR",
        help="your own videos as DIR/<class>/<video> instead of generated clips",
    )
    parser.add_argument("--clips-per-class", type=_positive_int, default=defaults.clips_per_class)
    parser.add_argument(
        "--clip-frames", type=_positive_int, default=defaults.clip_frames, help="frames per clip"
    )
    parser.add_argument(
        "--config",
        choices=("frames16", "frames100"),
        default=defaults.config,
        help="frames embedded per video (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        default=list(defaults.only),
        help="configurations of vidcls_keras.experiments to run (default: the original's six: "
        "%(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the demo; returns 0 on success, 2 when it cannot run (the reason is printed)."""
    arguments = build_parser().parse_args(argv)
    config = DemoConfig(**{key.replace("-", "_"): value for key, value in vars(arguments).items()})
    try:
        run(config)
    except VidclsError as error:  # DemoError, TrainError, VideoListError, embedder errors
        print(f"python -m vidcls_keras.demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
