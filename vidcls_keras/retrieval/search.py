"""Text -> video search: rank a dataset split's videos by CLIP similarity to a query.

    python -m vidcls_keras.search "street food in bangkok" --dataset youtube_videos/frames100 \\
        --data-dir ~/tensorflow_datasets --top-k 10
    python -m vidcls_keras.search --eval-class-names --dataset youtube_videos/frames100

A video is represented by its **mean frame embedding**: each stored frame embedding is
L2-normalized, the unit vectors are averaged, and the average is L2-normalized again. Normalizing
each frame first gives every frame the same vote (CLIP image embeddings differ in norm from frame
to frame); normalizing the mean makes the dot product with a unit text embedding the cosine
similarity. The query is embedded by the CLIP text tower that matches the dataset's image
embedder (`clip_text.TextEmbedder.from_spec` of the spec in the dataset's metadata).

The video index (mean embeddings, ids, titles, labels) is computed once per dataset split and
cached as an `.npz`: in `$VIDCLS_CACHE_DIR/video_index/` when that is set, else next to the
dataset (in its version folder, `video_index-<split>.npz`), else in
`~/.cache/vidcls_keras/video_index/`. The file name is keyed by the dataset path and split, and
the file records a fingerprint of the dataset's files (names, sizes, modification times): a
rebuilt dataset gets a fresh index.

`--eval-class-names` uses each class name as a query ("art_music" -> "art music") and reports,
averaged over the classes, recall@k (the share of the class's videos in the top k) and average
precision (scikit-learn `average_precision_score`, whose mean over the classes is the mAP).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import sys
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

CACHE_DIR_ENV = "VIDCLS_CACHE_DIR"
DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/vidcls_keras")
INDEX_SUBDIR = "video_index"
# Bump when what the index holds, or how it is computed, changes: old files are then recomputed.
INDEX_FORMAT = 1
DEFAULT_TOP_K = 10
DEFAULT_RECALL_KS = (1, 5, 10)
EPSILON = 1e-12


class SearchError(ValueError):
    """A search request that cannot be served (empty query, bad k, no embedder recorded, ...)."""


@dataclasses.dataclass(frozen=True)
class VideoIndex:
    """A dataset split's videos, as unit mean frame embeddings.

    Attributes:
        embeddings: float32 `(N, D)`, rows of unit norm (`mean_frame_embedding` of each video).
        video_ids: `(N,)` str.
        titles: `(N,)` str ("" when unknown).
        labels: int64 `(N,)` class indices into `label_names`.
        label_names: the dataset's class names, in label order.
        embedder_spec: the image embedder recorded in the dataset's metadata ("" if none).
        dataset_path: the dataset's version folder.
        split: the split expression the index was built from.
    """

    embeddings: np.ndarray
    video_ids: np.ndarray
    titles: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    embedder_spec: str
    dataset_path: str
    split: str

    def __len__(self) -> int:
        return len(self.video_ids)


def l2_normalize(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    """`vectors / ||vectors||` along `axis` (zero vectors stay zero), as float32."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return (vectors / np.maximum(norms, EPSILON)).astype(np.float32)


def mean_frame_embedding(frame_embeddings: np.ndarray) -> np.ndarray:
    """One video's embedding: L2-normalize each frame, average, L2-normalize the average.

    Args:
        frame_embeddings: float `(k, D)`, k >= 1.

    Returns:
        float32 `(D,)` of unit norm (zero if every frame embedding is zero).

    Raises:
        SearchError: when there is no frame.
    """
    frame_embeddings = np.asarray(frame_embeddings, np.float32)
    if frame_embeddings.ndim != 2 or frame_embeddings.shape[0] == 0:
        raise SearchError(
            f"mean_frame_embedding: expected frame embeddings (k >= 1, D), got shape "
            f"{frame_embeddings.shape}; the video has no embedded frame."
        )
    return l2_normalize(l2_normalize(frame_embeddings).mean(axis=0))


# --------------------------------------------------------------------------------------------
# The video index and its cache.


def dataset_fingerprint(dataset_path: str | os.PathLike) -> str:
    """sha256 over the names, sizes and modification times of a dataset folder's files.

    Our own index files are left out, so writing the cache does not change the fingerprint.
    """
    folder = pathlib.Path(dataset_path)
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and not path.name.startswith(("video_index-", ".video_index-")):
            status = path.stat()
            digest.update(f"{path.name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _split_slug(split: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", split).strip("_") or "split"
    return f"{slug}-{hashlib.sha256(split.encode()).hexdigest()[:8]}"


def index_cache_path(dataset_path: str | os.PathLike, split: str) -> pathlib.Path:
    """Where the video index of `split` of the dataset in `dataset_path` is cached.

    `$VIDCLS_CACHE_DIR/video_index/<sha256(dataset path)[:16]>-<split>.npz` when the variable is
    set; else `<dataset_path>/video_index-<split>.npz` when that folder is writable; else the same
    name as the first under `~/.cache/vidcls_keras/video_index/`.
    """
    dataset_path = pathlib.Path(dataset_path).resolve()
    keyed_name = (
        f"{hashlib.sha256(str(dataset_path).encode()).hexdigest()[:16]}-{_split_slug(split)}.npz"
    )
    cache_root = os.environ.get(CACHE_DIR_ENV)
    if cache_root:
        return pathlib.Path(cache_root).expanduser() / INDEX_SUBDIR / keyed_name
    if dataset_path.is_dir() and os.access(dataset_path, os.W_OK):
        return dataset_path / f"video_index-{_split_slug(split)}.npz"
    return DEFAULT_CACHE_DIR.expanduser() / INDEX_SUBDIR / keyed_name


def compute_video_index(dataset: str, split: str, data_dir: str | None) -> VideoIndex:
    """Reads a split and computes every video's mean frame embedding (no cache).

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir the dataset was built in (None: TFDS' default).

    Raises:
        SearchError: when the split has no video.
    """
    from vidcls_keras import data

    examples, info = data.load_split(dataset, split, data_dir)
    embeddings, video_ids, titles, labels = [], [], [], []
    keep = ("embeddings", "video_id", "title", "label")
    for example in examples.map(lambda features: {key: features[key] for key in keep}):
        embeddings.append(mean_frame_embedding(example["embeddings"].numpy()))
        video_ids.append(example["video_id"].numpy().decode("utf-8"))
        titles.append(example["title"].numpy().decode("utf-8"))
        labels.append(int(example["label"].numpy()))
    if not video_ids:
        raise SearchError(f"dataset {dataset!r} split {split!r} has no video.")
    return VideoIndex(
        embeddings=np.stack(embeddings).astype(np.float32),
        video_ids=np.asarray(video_ids, dtype=str),
        titles=np.asarray(titles, dtype=str),
        labels=np.asarray(labels, np.int64),
        label_names=tuple(info.features["label"].names),
        embedder_spec=str(info.metadata.get("embedder", "")) if info.metadata else "",
        dataset_path=str(pathlib.Path(os.fspath(info.data_dir)).resolve()),
        split=split,
    )


def _dataset_path(dataset: str, data_dir: str | None) -> pathlib.Path:
    """The version folder TFDS reads `dataset` from (cheap: reads metadata, not examples)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise SearchError(
            f"dataset {dataset!r} was not found in data_dir={data_dir!r}: build it first "
            f"(tfds build builders/<name> --data_dir <dir>) and pass the same --data-dir. "
            f"TFDS said: {error}"
        ) from error
    return pathlib.Path(os.fspath(builder.data_dir)).resolve()


def _save_index(index: VideoIndex, path: pathlib.Path, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npz")
    try:
        np.savez(
            temp,
            format=np.int64(INDEX_FORMAT),
            fingerprint=np.str_(fingerprint),
            embeddings=index.embeddings,
            video_ids=index.video_ids,
            titles=index.titles,
            labels=index.labels,
            label_names=np.asarray(index.label_names, dtype=str),
            embedder_spec=np.str_(index.embedder_spec),
            dataset_path=np.str_(index.dataset_path),
            split=np.str_(index.split),
        )
        os.replace(temp, path)  # a reader sees the whole file or none
    finally:
        temp.unlink(missing_ok=True)


def _load_index(path: pathlib.Path, fingerprint: str, dataset_path: str, split: str):
    """The cached index, or None when absent, stale or for another dataset/split."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if (
                int(stored["format"]) != INDEX_FORMAT
                or str(stored["fingerprint"]) != fingerprint
                or str(stored["dataset_path"]) != dataset_path
                or str(stored["split"]) != split
            ):
                return None
            return VideoIndex(
                embeddings=stored["embeddings"].astype(np.float32),
                video_ids=stored["video_ids"],
                titles=stored["titles"],
                labels=stored["labels"].astype(np.int64),
                label_names=tuple(str(name) for name in stored["label_names"]),
                embedder_spec=str(stored["embedder_spec"]),
                dataset_path=dataset_path,
                split=split,
            )
    except (OSError, KeyError, ValueError):  # unreadable or older layout: recompute
        return None


def load_video_index(
    dataset: str, split: str = "test", data_dir: str | None = None, *, use_cache: bool = True
) -> VideoIndex:
    """The video index of a dataset split, from the cache when it is current.

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        use_cache: False recomputes and does not write the cache.

    Returns:
        The `VideoIndex` (computed by `compute_video_index` on a cache miss, then cached).
    """
    if not use_cache:
        return compute_video_index(dataset, split, data_dir)
    dataset_path = _dataset_path(dataset, data_dir)
    fingerprint = dataset_fingerprint(dataset_path)
    path = index_cache_path(dataset_path, split)
    index = _load_index(path, fingerprint, str(dataset_path), split)
    if index is None:
        index = compute_video_index(dataset, split, data_dir)
        try:
            _save_index(index, path, fingerprint)
        except OSError as error:  # a read-only place: serve uncached, say so
            print(f"search: could not cache the video index at {path}: {error}", file=sys.stderr)
    return index


# --------------------------------------------------------------------------------------------
# The text side.


def resolve_text_embedder(text_embedder: Any, index: VideoIndex):
    """A `TextEmbedder` from an instance, a spec string, or (None) the dataset's recorded spec.

    Warns (UserWarning) when the embedder is not the one the dataset records.

    Raises:
        SearchError: no embedder given and none recorded, or widths that do not match.
    """
    from vidcls_keras.clip.text import TextEmbedder

    if text_embedder is None:
        if not index.embedder_spec:
            raise SearchError(
                f"the dataset at {index.dataset_path} records no embedder spec in its metadata; "
                "pass --text-embedder (e.g. preset:clip-vit-base-patch32) matching the image "
                "embedder it was built with."
            )
        text_embedder = index.embedder_spec
    if isinstance(text_embedder, str):
        text_embedder = TextEmbedder.from_spec(text_embedder)
    if text_embedder.embed_dim != index.embeddings.shape[1]:
        raise SearchError(
            f"text embedder {text_embedder.spec!r} gives {text_embedder.embed_dim}-d embeddings "
            f"but the dataset's are {index.embeddings.shape[1]}-d; use the text tower of the "
            f"CLIP the dataset was embedded with ({index.embedder_spec!r})."
        )
    if index.embedder_spec and text_embedder.spec != index.embedder_spec:
        warnings.warn(
            f"text embedder {text_embedder.spec!r} is not the image embedder the dataset was "
            f"built with ({index.embedder_spec!r}); CLIP scores only mean something when both "
            "towers come from the same model.",
            stacklevel=2,
        )
    return text_embedder


def _check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise SearchError(f"query {query!r} is empty; pass some words, e.g. 'street food'.")
    return query.strip()


def rank_videos(query_embedding: np.ndarray, video_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of one query to every video.

    Args:
        query_embedding: float `(D,)` (any norm).
        video_embeddings: float `(N, D)` unit rows (a `VideoIndex.embeddings`).

    Returns:
        float32 `(N,)` scores in [-1, 1].
    """
    return (np.asarray(video_embeddings, np.float32) @ l2_normalize(query_embedding)).astype(
        np.float32
    )


def top_k_order(scores: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the `top_k` highest scores, best first (ties: lower index first)."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return order[:top_k]


def search(
    query: str,
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    text_embedder: Any = None,
    index: VideoIndex | None = None,
) -> list[dict[str, Any]]:
    """Ranks a split's videos by cosine similarity to a text query.

    Args:
        query: the text, e.g. "street food in bangkok".
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir.
        top_k: how many results (at most the number of videos).
        text_embedder: a `TextEmbedder`, a spec string, or None for the dataset's own.
        index: a `VideoIndex` already loaded (skips `load_video_index`).

    Returns:
        Up to `top_k` dicts `{rank, video_id, title, label, score}`, best first.

    Raises:
        SearchError: for an empty query or `top_k < 1`.
    """
    query = _check_query(query)
    if top_k < 1:
        raise SearchError(f"top_k={top_k}: ask for at least one result.")
    index = index if index is not None else load_video_index(dataset, split, data_dir)
    embedder = resolve_text_embedder(text_embedder, index)
    scores = rank_videos(embedder.embed([query])[0], index.embeddings)
    return [
        {
            "rank": rank + 1,
            "video_id": str(index.video_ids[position]),
            "title": str(index.titles[position]),
            "label": index.label_names[int(index.labels[position])],
            "score": float(scores[position]),
        }
        for rank, position in enumerate(top_k_order(scores, top_k))
    ]


def class_name_query(name: str) -> str:
    """A class name as a query: underscores become spaces ("art_music" -> "art music")."""
    return name.replace("_", " ").strip()


def evaluate_class_name_queries(
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    ks: Sequence[int] = DEFAULT_RECALL_KS,
    text_embedder: Any = None,
    queries: Sequence[str] | None = None,
    index: VideoIndex | None = None,
) -> dict[str, Any]:
    """Retrieval quality with one query per class: recall@k and mAP over the split.

    For class c with n_c videos in the split, recall@k = (videos of class c among the top k) /
    n_c, and AP = `sklearn.metrics.average_precision_score(labels == c, scores)`. Classes with no
    video in the split are skipped (their AP is undefined) and listed.

    Args:
        dataset, split, data_dir, text_embedder, index: as for `search`.
        ks: the k values of recall@k.
        queries: one query per class, in label order; None uses `class_name_query(name)`.

    Returns:
        `{num_videos, queries, recall_at_k: {k: mean}, mean_average_precision, per_class:
        {name: {query, num_videos, average_precision, recall_at_k}}, skipped_classes}`.

    Raises:
        SearchError: wrong number of queries, an empty query, or k < 1.
    """
    from sklearn.metrics import average_precision_score

    index = index if index is not None else load_video_index(dataset, split, data_dir)
    if queries is None:
        queries = [class_name_query(name) for name in index.label_names]
    if len(queries) != len(index.label_names):
        raise SearchError(
            f"{len(queries)} queries for {len(index.label_names)} classes "
            f"{list(index.label_names)}: give one query per class, in this order."
        )
    queries = [_check_query(query) for query in queries]
    if not ks or min(ks) < 1:
        raise SearchError(f"ks={list(ks)}: every k must be >= 1.")
    embedder = resolve_text_embedder(text_embedder, index)
    query_embeddings = embedder.embed(queries)
    per_class: dict[str, Any] = {}
    skipped = []
    for label, (name, query) in enumerate(zip(index.label_names, queries, strict=True)):
        relevant = index.labels == label
        if not relevant.any():
            skipped.append(name)
            continue
        scores = rank_videos(query_embeddings[label], index.embeddings)
        order = top_k_order(scores, len(scores))
        per_class[name] = {
            "query": query,
            "num_videos": int(relevant.sum()),
            "average_precision": float(average_precision_score(relevant, scores)),
            "recall_at_k": {str(k): float(relevant[order[:k]].sum() / relevant.sum()) for k in ks},
        }
    if not per_class:
        raise SearchError(f"dataset {dataset!r} split {split!r} has no labelled video.")
    return {
        "num_videos": len(index),
        "queries": dict(zip(index.label_names, queries, strict=True)),
        "recall_at_k": {
            str(k): float(np.mean([c["recall_at_k"][str(k)] for c in per_class.values()]))
            for k in ks
        },
        "mean_average_precision": float(
            np.mean([c["average_precision"] for c in per_class.values()])
        ),
        "per_class": per_class,
        "skipped_classes": skipped,
    }


# --------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.search",
        description="Text -> video search over a built TFDS video dataset (CLIP similarity).",
    )
    parser.add_argument("query", nargs="?", help='the text query, e.g. "street food in bangkok"')
    parser.add_argument("--dataset", required=True, help="TFDS name or name/config")
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir it was built in")
    parser.add_argument("--split", default="test", help="split name or expression (test)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="results to print")
    parser.add_argument(
        "--text-embedder",
        default=None,
        help="text tower spec (default: the image embedder recorded in the dataset's metadata)",
    )
    parser.add_argument(
        "--eval-class-names",
        action="store_true",
        help="use the class names as queries; print recall@k and mAP",
    )
    parser.add_argument("--output-dir", default=None, help="write results.json / metrics.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.eval_class_names == (args.query is not None):
        build_parser().error("give either a query or --eval-class-names (not both).")
    try:
        if args.eval_class_names:
            ks = sorted({1, 5, args.top_k})
            result = evaluate_class_name_queries(
                args.dataset,
                split=args.split,
                data_dir=args.data_dir,
                ks=ks,
                text_embedder=args.text_embedder,
            )
            for name, metrics in result["per_class"].items():
                recalls = "  ".join(f"R@{k} {v:.3f}" for k, v in metrics["recall_at_k"].items())
                print(f"{name:<20} AP {metrics['average_precision']:.3f}  {recalls}")
            recalls = "  ".join(f"R@{k} {v:.3f}" for k, v in result["recall_at_k"].items())
            print(f"{'mean':<20} mAP {result['mean_average_precision']:.3f}  {recalls}")
            output_name = "metrics.json"
        else:
            result = search(
                args.query,
                args.dataset,
                split=args.split,
                data_dir=args.data_dir,
                top_k=args.top_k,
                text_embedder=args.text_embedder,
            )
            print(f"{'rank':>4}  {'score':>6}  {'label':<12} {'video_id':<24} title")
            for row in result:
                print(
                    f"{row['rank']:>4}  {row['score']:>6.3f}  {row['label']:<12} "
                    f"{row['video_id']:<24} {row['title']}"
                )
            output_name = "results.json"
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output_dir:
        output_dir = pathlib.Path(args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / output_name).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
