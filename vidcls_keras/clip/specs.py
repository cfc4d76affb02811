"""The one grammar that names a CLIP embedder: `preset:<name-or-dir>`, `hf:<dir>`, `tiny:<seed>`.

Datasets record the spec of the encoder that made their embeddings, training runs copy it into
`config.json`, and prediction, search and zero-shot rebuild the image or text tower from it. Every
one of them parses it here, so they agree on what is valid (e.g. the tiny seed is an integer).
"""

from __future__ import annotations

import dataclasses
import re

from vidcls_keras.errors import VidclsError

EMBEDDER_KINDS = ("preset", "hf", "tiny")
DEFAULT_PRESET = "clip-vit-base-patch32"
DEFAULT_EMBEDDER = f"preset:{DEFAULT_PRESET}"
EMBEDDER_ENV = "VIDCLS_EMBEDDER"
_EXAMPLES = (
    "Use 'preset:clip-vit-base-patch32' (default), 'preset:/path/to/preset_dir', "
    "'hf:/path/to/huggingface_checkpoint' or 'tiny:<seed>' (random weights, for tests)."
)


class EmbedderSpecError(VidclsError):
    """A string that is not an embedder spec."""


@dataclasses.dataclass(frozen=True)
class EmbedderSpec:
    """A parsed embedder spec.

    Attributes:
        kind: `"preset"` (a KerasCV CLIP preset name or a local preset directory), `"hf"` (a
            Hugging Face `CLIPModel.save_pretrained` directory) or `"tiny"` (random weights).
        value: the preset name or directory, the checkpoint directory, or the seed as text.
    """

    kind: str
    value: str

    @property
    def seed(self) -> int:
        """The seed of a `tiny:` spec."""
        if self.kind != "tiny":
            raise EmbedderSpecError(f"{self}: only a tiny embedder has a seed")
        return int(self.value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_embedder_spec(spec: str, *, source: str = "embedder spec") -> EmbedderSpec:
    """Parses and checks an embedder spec.

    Args:
        spec: e.g. `"preset:clip-vit-base-patch32"`, `"hf:/models/clip"`, `"tiny:0"`.
        source: where the spec came from, named in the error (e.g. `"$VIDCLS_EMBEDDER"`).

    Returns:
        The parsed spec (surrounding whitespace removed).

    Raises:
        EmbedderSpecError: the string is not of one of those forms.
    """
    text = str(spec).strip()
    kind, separator, value = text.partition(":")
    problem = None
    if not separator or not value:
        problem = "it has no '<kind>:<value>' form"
    elif kind not in EMBEDDER_KINDS:
        problem = f"unknown kind {kind!r}"
    elif kind == "tiny" and not re.fullmatch(r"-?\d+", value):
        problem = "a tiny embedder's value is its integer seed"
    if problem:
        raise EmbedderSpecError(f"{source}={text!r}: {problem}. {_EXAMPLES}")
    return EmbedderSpec(kind, value)
