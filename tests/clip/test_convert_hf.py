"""Hugging Face checkpoints -> KerasCV: the one config and safetensors reader, both weight maps,
and parity of the image tower with PyTorch on real frames (the text tower's is in test_text.py).

The checkpoints are randomly initialised Hugging Face CLIP models (no download) saved with
`save_pretrained`.
"""

import json
import os

import numpy as np
import pytest
from hf_references import (
    MAX_RELATIVE_ERROR,
    randomize_torch,
    relative_error,
    tiny_hf_vision_config,
    torch_image_embeddings,
)

from vidcls_keras.clip import convert_hf
from vidcls_keras.clip.errors import CheckpointError, TextEmbedderError
from vidcls_keras.clip.image import FrameEmbedder
from vidcls_keras.clip.text import TextEmbedder

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_from_hf_matches_pytorch_vit_b32_structure(tmp_path, real_pixels):
    """ViT-B/32's widths (768 / 12 heads / 3072 MLP / 512 projection), 2 layers, real frames."""
    config = transformers.CLIPVisionConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=2,
        num_attention_heads=12,
        image_size=224,
        patch_size=32,
        projection_dim=512,
        hidden_act="quick_gelu",
    )
    torch.manual_seed(0)
    model = transformers.CLIPVisionModelWithProjection(config).eval()
    randomize_torch(model)
    model.save_pretrained(tmp_path / "hf")
    embedder = FrameEmbedder.from_hf(tmp_path / "hf")
    assert embedder.embed_dim == 512 and len(embedder.image_encoder.encoder.resblocks) == 2

    ours = embedder.embed(real_pixels, batch_size=len(real_pixels))  # one call, no padding
    theirs = torch_image_embeddings(model, real_pixels)
    error = relative_error(ours, theirs)
    print(f"ViT-B/32-width parity, {len(real_pixels)} real frames: max relative error {error:.2e}")
    assert error <= MAX_RELATIVE_ERROR


def test_from_hf_loads_the_vision_tower_of_a_full_clip_model(tmp_path, real_pixels):
    config = transformers.CLIPConfig(
        text_config=dict(
            hidden_size=32,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=64,
            max_position_embeddings=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        ),
        vision_config=tiny_hf_vision_config(projection_dim=512).to_dict(),
        projection_dim=16,  # CLIPModel uses the top-level size, not vision_config's 512
    )
    torch.manual_seed(1)
    model = transformers.CLIPModel(config).eval()
    randomize_torch(model, seed=1)
    model.save_pretrained(tmp_path / "full")
    embedder = FrameEmbedder.from_hf(tmp_path / "full")
    assert embedder.embed_dim == 16

    pixels = real_pixels[:4]
    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
        pooled = model.vision_model(pixel_values=inputs).pooler_output
        expected = model.visual_projection(pooled).numpy()
    assert relative_error(embedder.embed(pixels), expected) <= MAX_RELATIVE_ERROR


def test_tiny_hf_checkpoint_matches_pytorch(tiny_hf_dir, real_pixels):
    directory, model = tiny_hf_dir
    embedder = FrameEmbedder.from_hf(directory)
    assert relative_error(
        embedder.embed(real_pixels), torch_image_embeddings(model, real_pixels)
    ) <= (MAX_RELATIVE_ERROR)


def test_hf_spec_round_trips(tiny_hf_dir, real_pixels):
    directory, _ = tiny_hf_dir
    embedder = FrameEmbedder.from_hf(directory)
    assert embedder.spec == f"hf:{directory.resolve()}"
    again = FrameEmbedder.from_spec(embedder.spec)
    assert again.spec == embedder.spec
    np.testing.assert_array_equal(again.embed(real_pixels[:2]), embedder.embed(real_pixels[:2]))


def test_from_hf_refuses_non_quick_gelu(tmp_path):
    model = transformers.CLIPVisionModelWithProjection(tiny_hf_vision_config(hidden_act="gelu"))
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="quick_gelu"):
        FrameEmbedder.from_hf(tmp_path)


def test_from_hf_refuses_missing_extra_and_misshapen_tensors(tmp_path, tiny_hf_dir):
    source, _ = tiny_hf_dir
    tensors = safetensors_numpy.load_file(os.fspath(source / "model.safetensors"))

    def write(name: str, changed: dict) -> os.PathLike:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "config.json").write_text((source / "config.json").read_text())
        safetensors_numpy.save_file(changed, os.fspath(directory / "model.safetensors"))
        return directory

    missing = {k: v for k, v in tensors.items() if k != "vision_model.post_layernorm.bias"}
    with pytest.raises(CheckpointError, match="missing tensors.*post_layernorm.bias"):
        FrameEmbedder.from_hf(write("missing", missing))
    no_projection = {k: v for k, v in tensors.items() if k != "visual_projection.weight"}
    with pytest.raises(CheckpointError, match="CLIPVisionModel has no projection"):
        FrameEmbedder.from_hf(write("no_projection", no_projection))
    extra = {**tensors, "vision_model.encoder.layers.2.mlp.fc1.weight": np.zeros((512, 128))}
    with pytest.raises(CheckpointError, match="match no KerasCV weight.*layers.2.mlp.fc1"):
        FrameEmbedder.from_hf(write("extra", extra))
    # Text tensors are only expected in a full CLIPModel checkpoint.
    text = {**tensors, "text_projection.weight": np.zeros((16, 32), np.float32)}
    with pytest.raises(CheckpointError, match="text_projection"):
        FrameEmbedder.from_hf(write("text", text))
    misshapen = {**tensors, "visual_projection.weight": np.zeros((8, 128), np.float32)}
    with pytest.raises(CheckpointError, match="shape does not match"):
        FrameEmbedder.from_hf(write("misshapen", misshapen))
    with pytest.raises(CheckpointError, match="no config.json"):
        FrameEmbedder.from_hf(tmp_path / "missing_dir")
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "config.json").write_text((source / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        FrameEmbedder.from_hf(tmp_path / "no_weights")


def test_one_config_reader_for_both_towers(tmp_path, tiny_hf_dir, hf_text_checkpoint):
    full = convert_hf.read_config(hf_text_checkpoint[0])
    assert full.full_model and full.projection_dim == 16
    assert convert_hf.convert_text_config(full) == {
        "transformer_width": 32,
        "transformer_layers": 2,
        "transformer_heads": 2,
        "vocab_size": full.text["vocab_size"],
        "embed_dim": 16,
        "context_length": 16,
        "layer_norm_epsilon": 1e-5,
    }
    assert convert_hf.convert_vision_config(full)["width"] == 16
    vision_only = convert_hf.read_config(tiny_hf_dir[0])
    assert not vision_only.full_model and vision_only.text is None
    assert convert_hf.convert_vision_config(vision_only) == {
        "image_size": 224,
        "patch_size": 32,
        "width": 128,
        "num_layers": 2,
        "num_heads": 2,
        "embed_dim": 16,
    }
    with pytest.raises(CheckpointError, match="no text tower"):
        convert_hf.convert_text_config(vision_only)
    # CLIPTextModelWithProjection's flat config.json is read too.
    config = transformers.CLIPTextConfig(hidden_size=32, intermediate_size=128, projection_dim=8)
    config.save_pretrained(tmp_path / "text_only")
    text_only = convert_hf.read_config(tmp_path / "text_only")
    assert text_only.projection_dim == 8 and text_only.text["hidden_size"] == 32
    (tmp_path / "other" / "config.json").parent.mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "siglip"}))
    with pytest.raises(CheckpointError, match="not a CLIP checkpoint"):
        convert_hf.read_config(tmp_path / "other")


def test_text_tower_of_a_vision_checkpoint_is_a_text_embedder_error(tiny_hf_dir):
    with pytest.raises(TextEmbedderError, match="no text tower"):
        TextEmbedder.from_hf(tiny_hf_dir[0])


def test_one_safetensors_reader_reads_shards_and_skips_a_tower(tmp_path, hf_text_checkpoint):
    directory = hf_text_checkpoint[0]
    whole = convert_hf.read_safetensors(directory)
    assert any(name.startswith("vision_model.") for name in whole)
    text = convert_hf.read_safetensors(directory, convert_hf.VISION_PREFIXES)
    assert text and not any(name.startswith(convert_hf.VISION_PREFIXES) for name in text)
    # A sharded checkpoint: model.safetensors.index.json + shards.
    model = transformers.CLIPModel.from_pretrained(directory)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    sharded = convert_hf.read_safetensors(tmp_path / "sharded")
    assert sorted(sharded) == sorted(whole)
    for name, value in whole.items():
        np.testing.assert_array_equal(sharded[name], value)
    shard = sorted((tmp_path / "sharded").glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"missing {shard.name}"):
        convert_hf.read_safetensors(tmp_path / "sharded")


def test_weight_maps_cover_every_weight():
    from vidcls_keras.clip.image import TINY_CONFIG

    encoder = TINY_CONFIG.build()
    pairs = convert_hf.vision_weight_map(encoder)
    assert {id(variable) for variable, _, _ in pairs} == {id(v) for v in encoder.weights}
    text_encoder = TextEmbedder.tiny(0).text_encoder
    pairs = convert_hf.text_weight_map(text_encoder)
    assert {id(variable) for variable, _, _ in pairs} == {id(v) for v in text_encoder.weights}
    assert len({name for _, name, _ in pairs}) == len(pairs)
