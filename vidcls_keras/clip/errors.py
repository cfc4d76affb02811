"""The CLIP code's user errors, both `vidcls_keras.errors.VidclsError`s (CLIs print, exit 2)."""

from vidcls_keras.errors import VidclsError


class CheckpointError(VidclsError):
    """Weights or a preset cannot be turned into a CLIP image encoder (says why and what to do).

    `vidcls_keras.clip.convert_hf` raises it for either tower; `TextEmbedder` reports the same
    problems as `TextEmbedderError`.
    """


class TextEmbedderError(VidclsError):
    """A text tower or its tokenizer cannot be built from the given files or spec."""
