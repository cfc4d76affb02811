"""A frozen CLIP image encoder on one frame per video, then a linear layer.

The original's "random frame" model: CLIP ViT-B/32 `encode_image` on one stored frame per video
(CLIP-normalized pixels), then one linear layer. The encoder is frozen and saved inside the
`.keras` file, so the file alone turns pixels into logits.

As the encoder is frozen and each video's frame is fixed, its output for a video never changes:
`split_frozen_encoder` gives the encoder and the trainable head as two models sharing the layers,
so training can encode every frame once and fit the head on those vectors (`training.trainer`),
then save the whole pixel model, whose head holds the trained weights.
"""

import keras
from keras_cv.models.feature_extractor import CLIPImageEncoder

# SavableCLIPImageEncoder lives with the other KerasCV workarounds; models import it from here.
from vidcls_keras._compat.keras_cv import SavableCLIPImageEncoder
from vidcls_keras.models.layers import check_rate, check_sizes

__all__ = ["SavableCLIPImageEncoder", "frame_classifier", "split_frozen_encoder"]


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


def split_frozen_encoder(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """A model as its frozen input encoder and the head after it, sharing the model's layers.

    It applies to a functional model with one input whose first layer is frozen
    (`trainable=False`) and whose other layers form a chain after it, each taking the previous
    one's output, as `frame_classifier`'s: pixels -> frozen encoder -> [Dropout] -> Dense. Both
    returned models call the model's own layers, so training the head trains the model: its
    weights, seed generators and optimizer variables are the model's.

    Args:
        model: e.g. `frame_classifier(...)`.

    Returns:
        `(encoder, head)`: `encoder` takes the model's inputs and returns the frozen layer's
        output, float `(batch, F)`; `head` takes `{"features": float (batch, F)}` and returns the
        model's outputs (logits). None when the model is not of that shape (no frozen first
        layer, several inputs, branches after the encoder).
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(layers) < 2:
        return None
    frozen, chain = layers[0], layers[1:]
    if frozen.trainable or not frozen.weights:
        return None
    try:  # a layer called more than once has no single input or output
        features = chain[0].input
        links = [
            (later.input, earlier.output)
            for earlier, later in zip(chain[:-1], chain[1:], strict=True)
        ]
        output = chain[-1].output
    except (AttributeError, ValueError):
        return None
    if (
        getattr(features, "_keras_history", (None,))[0] is not frozen
        or any(given is not expected for given, expected in links)
        or output is not model.outputs[0]
        or len(features.shape) != 2
    ):
        return None
    encoder = keras.Model(model.input, features, name=f"{model.name}_encoder")
    head_input = keras.Input(features.shape[1:], name="features")
    x = head_input
    for layer in chain:
        x = layer(x)
    head = keras.Model({"features": head_input}, x, name=f"{model.name}_head")
    return encoder, head
