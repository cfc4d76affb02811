"""References for the CLIP tests: OpenAI's image transform in torch, random Hugging Face models.

torch and transformers are imported on use; the fixtures in `conftest.py` skip without them.
"""

import numpy as np
from PIL import Image

# Parity bound: max|keras - torch| / max|torch|, float32.
MAX_RELATIVE_ERROR = 1e-4


def reference_crop(frame: np.ndarray) -> np.ndarray:
    """torchvision 0.28's `Resize(224, BICUBIC)` + `CenterCrop(224)` on a PIL image, written out.

    `_compute_resized_output_size` (longer side `int(224 * long / short)`), `PIL.Image.resize`,
    then crop offsets `int(round((size - 224) / 2.0))`. Returns uint8 (224, 224, 3).
    """
    image = Image.fromarray(frame)
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = 224, int(224 * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), Image.BICUBIC)
    top = int(round((new_height - 224) / 2.0))
    left = int(round((new_width - 224) / 2.0))
    return np.array(image.crop((left, top, left + 224, top + 224)))


def reference_transform(frame: np.ndarray) -> np.ndarray:
    """OpenAI CLIP's `_transform(224)`: the crop, `ToTensor` (`float().div(255)`) and
    `Normalize` (`sub(mean).div(std)`) in torch float32. Returns (224, 224, 3) float32 (HWC)."""
    import torch

    tensor = torch.from_numpy(reference_crop(frame)).permute(2, 0, 1).contiguous()
    tensor = tensor.float().div(255)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
    return tensor.sub(mean).div(std).permute(1, 2, 0).numpy()


def randomize_torch(model, seed: int = 0) -> None:
    """Makes biases and LayerNorm parameters non-trivial (HF initialises them to 0 and 1)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith(".bias"):
                parameter.copy_(0.02 * noise)
            elif "norm" in name and name.endswith(".weight"):
                parameter.copy_(1.0 + 0.1 * noise)


def randomize_all_torch(module, seed: int) -> None:
    """Overwrites every parameter with seeded noise large enough for LayerNorm epsilon to show."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "layer_norm" in name and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(0.2 * noise)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """`max |actual - expected| / max |expected|` over all entries."""
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def row_relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest per-row `max |actual - expected| / max |expected|`."""
    difference = np.abs(actual - expected).max(axis=1)
    return float((difference / np.abs(expected).max(axis=1)).max())


def torch_image_embeddings(model, pixels: np.ndarray) -> np.ndarray:
    """Runs an HF vision-with-projection model on NHWC pixels (fed as NCHW)."""
    import torch

    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
        return model(pixel_values=inputs).image_embeds.numpy()


def tiny_hf_vision_config(**overrides):
    """`clip.image.TINY_CONFIG`'s sizes (so Keras reuses the tiny encoder's compiled functions)."""
    import transformers

    sizes = dict(
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=224,
        patch_size=32,
        projection_dim=16,
        hidden_act="quick_gelu",
    )
    return transformers.CLIPVisionConfig(**{**sizes, **overrides})


def hf_tokenizer(vocabulary, merges):
    """Hugging Face's `CLIPTokenizer` over a BPE vocabulary."""
    import transformers

    return transformers.CLIPTokenizer(
        vocab=vocabulary, merges=[tuple(rule.split()) for rule in merges]
    )
