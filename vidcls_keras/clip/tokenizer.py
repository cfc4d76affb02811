"""CLIP's byte-pair-encoding files: the tiny test vocabulary, reading and writing them, tokenizing.

    tiny_vocabulary        words              -> (vocabulary, merges), each word one token
    write_vocabulary       vocabulary, merges -> vocab.json + merges.txt (OpenAI/HF format)
    read_tokenizer_files   a directory        -> (vocabulary, merges) from vocab.json + merges.txt,
                                                 keras-hub's asset layout or tokenizer.json
    download_vocabulary    a preset name      -> OpenAI's (vocabulary, merges), downloaded once
    make_tokenizer         vocabulary, merges -> keras-hub's CLIPTokenizer

Tokenization uses `keras_hub.models.CLIPTokenizer` (KerasCV's own crashes, see
`vidcls_keras._compat.keras_cv`), which reads the same `vocab.json`/`merges.txt` and tokenizes
exactly like Hugging Face's `CLIPTokenizer` (NFC, whitespace collapsed, lower-cased, one token per
digit, `</w>` on every word; 0 differences from HF on the 10,797 titles, descriptions and
categories of the real youtube.csv with OpenAI's vocabulary).
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
from collections.abc import Iterable, Sequence

from vidcls_keras._compat.keras_cv import clip_tokenizer
from vidcls_keras.clip.errors import TextEmbedderError
from vidcls_keras.files import atomic_write_text

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
# Where KerasCV's own CLIP tests download OpenAI's BPE files (used when a preset has none).
KERAS_CV_VOCABULARY_URL = "https://storage.googleapis.com/keras-cv/models/clip/vocab.json"
KERAS_CV_MERGES_URL = "https://storage.googleapis.com/keras-cv/models/clip/merges.txt"
VOCABULARY_FILENAME = "vocab.json"
MERGES_FILENAME = "merges.txt"
# Words the tiny vocabulary spells as single tokens (everything else falls back to single bytes).
TINY_WORDS = (
    "a",
    "video",
    "photo",
    "about",
    "of",
    "the",
    "and",
    "food",
    "art",
    "music",
    "travel",
    "history",
    "street",
    "in",
    "bangkok",
)


def _bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible byte -> printable unicode character table (GPT-2 BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(code) for code in characters], strict=True))


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly merge the adjacent pair of lowest rank."""
    while len(symbols) > 1:
        pairs = [
            (ranks.get(pair, len(ranks)), index)
            for index, pair in enumerate(itertools.pairwise(symbols))
        ]
        rank, index = min(pairs)
        if rank == len(ranks):
            break
        symbols = symbols[:index] + [symbols[index] + symbols[index + 1]] + symbols[index + 2 :]
    return symbols


def tiny_vocabulary(words: Iterable[str] = TINY_WORDS) -> tuple[dict[str, int], list[str]]:
    """A small CLIP-style BPE vocabulary that spells each of `words` as one token.

    Laid out like OpenAI's: the 256 byte characters, the same with `</w>`, one token per merge, then
    `<|startoftext|>` and `<|endoftext|>` last (so the end token has the largest id, as in OpenAI's
    vocabulary). Any text tokenizes: unknown words fall back to shorter pieces and single bytes.

    Args:
        words: lower-case words. For each, merge rules are appended (lowest priority) until BPE
            with all rules so far turns the word into a single token.

    Returns:
        `(vocabulary, merges)`: token -> id, and merge rules "a b" in priority order.
    """
    byte_to_character = _bytes_to_unicode()
    byte_characters = list(byte_to_character.values())
    tokens = byte_characters + [character + "</w>" for character in byte_characters]
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        encoded = "".join(byte_to_character[byte] for byte in word.lower().encode("utf-8"))
        symbols = list(encoded[:-1]) + [encoded[-1] + "</w>"]
        while len(pieces := _apply_merges(symbols, ranks)) > 1:
            # The new rule ranks last, so BPE reaches `pieces` first and then applies it.
            ranks[(pieces[0], pieces[1])] = len(ranks)
            tokens.append(pieces[0] + pieces[1])
    tokens += [START_TOKEN, END_TOKEN]
    merges = [f"{first} {second}" for first, second in ranks]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_vocabulary(
    directory: str | os.PathLike, vocabulary: dict[str, int], merges: Sequence[str]
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes `vocab.json` and `merges.txt` (OpenAI/HF format, `#version` header) to `directory`.

    Returns:
        The two paths written.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary_path = directory / VOCABULARY_FILENAME
    merges_path = directory / MERGES_FILENAME
    atomic_write_text(vocabulary_path, json.dumps(vocabulary, ensure_ascii=False))
    atomic_write_text(merges_path, "#version: 0.2\n" + "".join(f"{m}\n" for m in merges))
    return vocabulary_path, merges_path


def read_merges(path: pathlib.Path) -> list[str]:
    """The merge rules of a `merges.txt`, without its `#version` header and blank lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#version")]


def read_tokenizer_files(directory: pathlib.Path) -> tuple[dict[str, int], list[str]] | None:
    """The BPE files of a checkpoint or preset directory.

    Looks for `vocab.json` + `merges.txt` (at the top, or under `assets/tokenizer/` as keras-hub
    saves them, where the vocabulary may be `vocabulary.json`), else `tokenizer.json` (what
    transformers 5 `CLIPTokenizer.save_pretrained` writes).

    Returns:
        `(vocabulary, merges)`, or None when the directory holds none of them.

    Raises:
        TextEmbedderError: `tokenizer.json` holds no BPE tokenizer.
    """
    # OpenAI/HF names at the top, or keras-hub's tokenizer asset layout.
    for folder, vocabulary_name in (
        (directory, VOCABULARY_FILENAME),
        (directory / "assets" / "tokenizer", VOCABULARY_FILENAME),
        (directory / "assets" / "tokenizer", "vocabulary.json"),
    ):
        vocabulary_path = folder / vocabulary_name
        merges_path = folder / MERGES_FILENAME
        if vocabulary_path.is_file() and merges_path.is_file():
            vocabulary = json.loads(vocabulary_path.read_text(encoding="utf-8"))
            return vocabulary, read_merges(merges_path)
    tokenizer_path = directory / "tokenizer.json"
    if tokenizer_path.is_file():
        model = json.loads(tokenizer_path.read_text(encoding="utf-8"))["model"]
        if model.get("type") != "BPE":
            raise TextEmbedderError(
                f"{tokenizer_path}: expected a BPE tokenizer, found {model.get('type')!r}; "
                "save a CLIP tokenizer there (CLIPTokenizer.save_pretrained)."
            )
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        return dict(model["vocab"]), merges
    return None


def make_tokenizer(vocabulary: dict[str, int], merges: Sequence[str]):
    """keras-hub's CLIPTokenizer (same normalization and pre-splitting as HF's).

    Raises:
        TextEmbedderError: the vocabulary lacks `<|startoftext|>` or `<|endoftext|>`.
    """
    for token in (START_TOKEN, END_TOKEN):
        if token not in vocabulary:
            raise TextEmbedderError(
                f"the CLIP vocabulary has no {token!r} token; it must be a CLIP vocab.json."
            )
    return clip_tokenizer(vocabulary, merges)


def download_vocabulary(name: str) -> tuple[dict[str, int], list[str]]:
    """OpenAI's BPE files for a named preset, downloaded once.

    First keras-hub's CLIP tokenizer preset of the same name (Kaggle, "clip-vit-base-patch32" ->
    "clip_vit_base_patch32"), then the files KerasCV's own CLIP tests download.

    Returns:
        `(vocabulary, merges)`.

    Raises:
        TextEmbedderError: neither source could be downloaded.
    """
    import keras
    import keras_hub

    problems = []
    try:
        tokenizer = keras_hub.models.CLIPTokenizer.from_preset(name.replace("-", "_"))
        merges = [rule for rule in tokenizer.merges if rule.strip() and "#version" not in rule]
        return dict(tokenizer.vocabulary), merges
    except Exception as error:  # any download or lookup failure: try the next source
        problems.append(f"keras-hub preset: {type(error).__name__}: {error}")
    try:
        vocabulary_path = keras.utils.get_file(None, KERAS_CV_VOCABULARY_URL)
        merges_path = keras.utils.get_file(None, KERAS_CV_MERGES_URL)
    except Exception as error:  # any download failure gets the same advice
        problems.append(f"{KERAS_CV_VOCABULARY_URL}: {type(error).__name__}: {error}")
        raise TextEmbedderError(
            f"preset {name!r}: the CLIP vocabulary is not in the preset and could not be "
            f"downloaded ({'; '.join(problems)}). Put vocab.json and merges.txt (from any "
            "Hugging Face CLIP checkpoint, or the URLs above) into a local preset directory and "
            "pass that directory, or use an 'hf:' spec."
        ) from error
    vocabulary = json.loads(pathlib.Path(vocabulary_path).read_text(encoding="utf-8"))
    return vocabulary, read_merges(pathlib.Path(merges_path))
