"""A frozen CLIP image encoder on one frame per video, then a linear layer.

The original's "random frame" model: CLIP ViT-B/32 `encode_image` on one stored frame per video
(CLIP-normalized pixels), then one linear layer. The encoder is frozen and saved inside the
`.keras` file, so the file alone turns pixels into logits.
"""

import keras
from keras_cv.models.feature_extractor import CLIPImageEncoder

# SavableCLIPImageEncoder lives with the other KerasCV workarounds; models import it from here.
from vidcls_keras._compat.keras_cv import SavableCLIPImageEncoder
from vidcls_keras.models.layers import check_rate, check_sizes

__all__ = ["SavableCLIPImageEncoder", "frame_classifier"]


def frame_classifier(
    num_classes: int,
    image_encoder: keras.Model,
    image_size: int = 224,
    dropout: float = 0.0,
) -> keras.Model:
    """Frozen image encoder on CLIP-normalized pixels, then a `Dense` layer to logits.

    A KerasCV `CLIPImageEncoder` is first copied into a `SavableCLIPImageEncoder` (see
    `vidcls_keras._compat.keras_cv` why), so the caller's encoder is left as it was; any other
    encoder is used as given and set to `trainable = False`. Either way the frozen encoder is part
    of the model and of its `.keras` file.

    Args:
        num_classes: number of classes (logits per image).
        image_encoder: a `keras.Model` from pixels `(batch, image_size, image_size, 3)` to
            embeddings `(batch, embed_dim)`, e.g. `FrameEmbedder.image_encoder`.
        image_size: height and width of the input pixels (224 for CLIP ViT-B/32).
        dropout: dropout rate on the image embedding; 0 (the original) adds no layer.

    Returns:
        A functional `keras.Model`: `{"pixels": float (batch, image_size, image_size, 3)}`
        -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, image_size=image_size)
    check_rate("dropout", dropout)
    if not isinstance(image_encoder, keras.Model):
        raise ValueError(
            f"image_encoder must be a keras.Model, got {type(image_encoder).__name__}: pass "
            "FrameEmbedder(...).image_encoder."
        )
    if isinstance(image_encoder, CLIPImageEncoder) and not isinstance(
        image_encoder, SavableCLIPImageEncoder
    ):
        image_encoder = SavableCLIPImageEncoder.from_encoder(image_encoder)
    image_encoder.trainable = False

    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    embeddings = image_encoder(pixels)
    if len(embeddings.shape) != 2:
        raise ValueError(
            f"image_encoder must return embeddings (batch, embed_dim), got shape "
            f"{embeddings.shape}: pass an encoder that pools and projects, such as "
            "FrameEmbedder(...).image_encoder."
        )
    x = embeddings
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model({"pixels": pixels}, logits, name="frame_classifier")
