"""Fixtures shared by the CLIP tests: real frames, and tiny random Hugging Face checkpoints.

The checkpoints are randomly initialised models saved with `save_pretrained` (no download); the
fixtures that need torch and transformers skip without them.
"""

import numpy as np
import pytest
from hf_references import hf_tokenizer, randomize_all_torch, randomize_torch, tiny_hf_vision_config

from vidcls_keras.clip import preprocessing, tokenizer
from vidcls_keras.video import sample_frames


@pytest.fixture(scope="session")
def real_frames(shared_videos) -> dict[str, np.ndarray]:
    """Two frames from each of the 8 real clips (sizes 176x144 up to 1280x720, one rotated)."""
    return {path.name: sample_frames(path, 2) for path in sorted(shared_videos.iterdir())}


@pytest.fixture(scope="session")
def real_pixels(real_frames) -> np.ndarray:
    """`preprocess` of all real frames, (16, 224, 224, 3)."""
    return np.concatenate([preprocessing.preprocess(frames) for frames in real_frames.values()])


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory):
    """`(directory, model)`: a small random CLIPVisionModelWithProjection, save_pretrained."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.CLIPVisionModelWithProjection(tiny_hf_vision_config()).eval()
    randomize_torch(model)
    directory = tmp_path_factory.mktemp("tiny_hf")
    model.save_pretrained(directory)
    return directory, model


@pytest.fixture(scope="session")
def hf_text_checkpoint(tmp_path_factory):
    """`(directory, reference text model, HF tokenizer)`: a tiny CLIPModel saved like the Hub's,
    with the tiny BPE vocabulary saved by `CLIPTokenizer.save_pretrained`."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    vocabulary, merges = tokenizer.tiny_vocabulary()
    text_config = dict(
        vocab_size=len(vocabulary),
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        hidden_act="quick_gelu",
        bos_token_id=vocabulary[tokenizer.START_TOKEN],
        eos_token_id=vocabulary[tokenizer.END_TOKEN],
        pad_token_id=vocabulary[tokenizer.END_TOKEN],
    )
    vision_config = dict(
        hidden_size=16,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
        hidden_act="quick_gelu",
    )
    config = transformers.CLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=16
    )
    model = transformers.CLIPModel(config).eval()
    randomize_all_torch(model, seed=0)
    directory = tmp_path_factory.mktemp("hf_clip")
    model.save_pretrained(directory)
    hf = hf_tokenizer(vocabulary, merges)
    hf.save_pretrained(directory)
    reference = transformers.CLIPTextModelWithProjection(
        transformers.CLIPTextConfig(**text_config, projection_dim=16)
    ).eval()
    reference.text_model.load_state_dict(model.text_model.state_dict())
    reference.text_projection.load_state_dict(model.text_projection.state_dict())
    return directory, reference, hf
