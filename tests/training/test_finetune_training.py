"""train --model finetune on a tiny clip dataset: each mode, the run's files, predict a real file.

The dataset is `tiny_clips/clips4`: the clip configs' features (`datasets.features.clip_features`:
JPEG frames at short side 256, timestamps, group), 3 classes of flat-colour clips, 4 frames each,
6 / 3 / 3 clips, written by a small builder here and read back by name as training reads
`video_folder/clips16`. The tower is the tiny random CLIP (`--encoder tiny:0`), 2 frames a clip.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from support import SHARED_VIDEOS, require_shared  # noqa: E402

from vidcls_keras import predict  # noqa: E402
from vidcls_keras.datasets.features import clip_features  # noqa: E402
from vidcls_keras.inference.classifier import VideoClassifier, _load_keras  # noqa: E402
from vidcls_keras.models import finetune  # noqa: E402
from vidcls_keras.training import trainer  # noqa: E402
from vidcls_keras.training.config import TrainConfig, TrainError  # noqa: E402

LABELS = ("red", "green", "blue")
CLIP_FRAMES = 4
SPLITS = {"train": 6, "validation": 3, "test": 3}


class TinyClips(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Flat-colour clips, one colour per class, with the clip configs' features and metadata."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"clips{CLIP_FRAMES}")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=clip_features(LABELS),
            metadata=tfds.core.MetadataDict(num_frames=CLIP_FRAMES, clip_short_side=256),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(index, count)
            for index, (split, count) in enumerate(SPLITS.items())
        }

    def _generate_examples(self, split_index: int, count: int):
        rng = np.random.default_rng(split_index)
        for index in range(count):
            label = index % len(LABELS)
            colour = np.zeros(3, np.uint8)
            colour[label] = 160 + int(rng.integers(0, 60))
            frames = np.broadcast_to(colour, (CLIP_FRAMES, 256, 320, 3)).copy()
            video_id = f"split{split_index}_clip{index}"
            yield (
                video_id,
                {
                    "video_id": video_id,
                    "title": "",
                    "label": label,
                    "num_frames": CLIP_FRAMES,
                    "clip_frames": frames,
                    "timestamps": np.arange(CLIP_FRAMES, dtype=np.float32),
                    "group": video_id,
                },
            )


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    TinyClips(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def config(clips_dir, output_dir, **overrides) -> TrainConfig:
    settings = dict(
        model="finetune",
        dataset=f"tiny_clips/clips{CLIP_FRAMES}",
        data_dir=str(clips_dir),
        output_dir=str(output_dir),
        encoder="tiny:0",
        max_frames=2,
        epochs=2,
        batch_size=3,
        verbose=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.mark.parametrize(
    "mode",
    [{}, {"unfreeze_blocks": 1}, {"full": True}],
    ids=["lora", "last_block", "full"],
)
def test_each_mode_trains_saves_and_predicts_a_file(clips_dir, tmp_path, mode):
    run = tmp_path / "run"
    metrics = trainer.train(config(clips_dir, run, **mode))

    assert metrics["selection"]["epochs"] == 2 and metrics["selection"]["best_epoch"] in (1, 2)
    assert metrics["test"]["num_examples"] == SPLITS["test"]
    assert "top5_accuracy" not in metrics["test"]  # 3 classes: top-1 only
    assert len(metrics["test"]["confusion_matrix"]) == len(LABELS)
    record = json.loads((run / "config.json").read_text())
    assert record["inputs"] == "clips" and record["embedder_spec"] == "tiny:0"
    assert record["model_arguments"]["encoder"] == "tiny:0"

    model = _load_keras(run / "model.keras")  # safe mode
    assert finetune.is_clips_model(model)
    trainable = {v.name for v in model.trainable_weights if finetune.TOWER_NAME in v.path}
    if not mode:
        assert trainable == {"lora_kernel_a", "lora_kernel_b"}
    else:
        assert "kernel" in trainable

    classifier = VideoClassifier.load(run)
    assert classifier.kind == "clips" and classifier.num_frames == 2
    frames = np.full((2, 90, 120, 3), 200, np.uint8)
    probabilities = classifier.predict_proba(frames)
    assert probabilities.shape == (len(LABELS),)
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)


@pytest.fixture(scope="module")
def lora_run(clips_dir, tmp_path_factory):
    """One epoch of the default mode (LoRA), shared by the tests that only read the run."""
    run = tmp_path_factory.mktemp("lora") / "run"
    trainer.train(config(clips_dir, run, epochs=1))
    return run


def test_predict_classifies_a_real_file_with_one_command(lora_run, capsys):
    video = require_shared(SHARED_VIDEOS / "moviepy__fire2.mp4", "the shared clips")
    assert predict.main([str(lora_run), str(video), "--top-k", "2"]) == 0
    output = capsys.readouterr().out
    assert video.name in output and any(label in output for label in LABELS)


def test_merged_lora_run_gives_the_same_probabilities(lora_run):
    model = _load_keras(lora_run / "model.keras")
    merged = finetune.merge_lora(model)
    rng = np.random.default_rng(0)
    inputs = {
        "pixels": rng.normal(size=(2, 2, 224, 224, 3)).astype("float32"),
        "padding_mask": np.array([[True, True], [True, False]]),
    }
    np.testing.assert_allclose(
        np.asarray(merged.predict_on_batch(inputs)),
        np.asarray(model.predict_on_batch(inputs)),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"full": True, "unfreeze_blocks": 1}, "--full"),
        ({"encoder": "nope"}, "--encoder"),
        ({"clip_norm": -1.0}, "--clip-norm"),
        ({"lora_rank": -1}, "--lora-rank"),
    ],
)
def test_bad_fine_tune_flags_are_refused(clips_dir, tmp_path, overrides, message):
    with pytest.raises(TrainError, match=message):
        config(clips_dir, tmp_path / "run", **overrides).validate()
