"""Retrieval speed: encoding the queries and ranking 10,000 videos x 512, as the index does it.

The issue's target: "encoding all queries and ranking 10,000 videos x 512 in well under a second
on this CPU (matrix product, not loops)". What it measures, on random unit vectors of the
index's shape (`--videos` x `--dim`, float32; ranking cost does not depend on the values):

1. Class-prompt queries (what `search --eval-class-names`, zero-shot and the retrieval table
   run): the `--classes` labels x 5 prompt templates embedded by the text tower and ensembled
   (`zeroshot.class_text_embeddings`), then
   a. the top-10 videos of every class query (`search.rank_videos` + `top_k_order`), and
   b. the full CLIP4Clip table both ways (`metrics.class_prompt_retrieval`: ranks of every
      video, R@k, MdR, MnR).
   The total a + b + encoding is the figure the target is about.
2. Title queries (youtube_videos' one title per video): `--titles` titles vs as many videos,
   `metrics.title_retrieval` both ways (2 x titles x videos x dim multiply-adds, in blocks of
   `QUERY_BLOCK` queries), and the encoding of the titles.

Text towers: the tiny random one (`TextEmbedder.tiny`, what tests use: fast, says nothing about
CLIP's cost) and, unless `--no-full-text-tower`, a **random tower of CLIP ViT-B/32's text
sizes** (width 512, 12 layers, 8 heads, 49,408 tokens, context 77, embed 512; no pretrained
weights here, and the cost of a forward pass does not depend on them). Its tokenizer is a small
BPE vocabulary that spells each word of the prompts and titles as one token, as CLIP's own
vocabulary does for common English words, so the token counts (and the cost) are CLIP's.
(The tiny tower's vocabulary spells unknown words such as "youtube" byte by byte.) Encoding
10,000 titles with the full tower is timed on `--title-sample` titles and scaled (linear in the
number of titles).

Share of the machine: the ranking's multiply-adds over the time, beside NumPy's float32 matmul
ceiling (best of a few `(2048, 2048) @ (2048, 2048)` products), as in bench/embed_throughput.py.

    python bench/retrieval_speed.py                                  # the full run (~1-2 min)
    python bench/retrieval_speed.py --videos 1000 --titles 500 --title-sample 16   # quick

Figures on a shared CPU are contended: rerun on a quiet machine for absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from vidcls_keras.clip import text  # noqa: E402
from vidcls_keras.clip.tiny import randomize_weights  # noqa: E402
from vidcls_keras.retrieval import metrics, zeroshot  # noqa: E402
from vidcls_keras.retrieval.index import l2_normalize  # noqa: E402
from vidcls_keras.retrieval.search import rank_videos, top_k_order  # noqa: E402

LABELS = ("food", "art music", "travel", "history")
# CLIP ViT-B/32's text tower (OpenAI): transformer width 512, 12 layers, 8 heads.
FULL_TEXT_SIZES = dict(
    transformer_width=512,
    transformer_layers=12,
    transformer_heads=8,
    vocab_size=49408,
    embed_dim=512,
    context_length=77,
)
WORDS = ("street", "food", "in", "bangkok", "history", "of", "rome", "travel", "vlog", "music")


def best_seconds(function, repeats: int = 5, warm_up: bool = True) -> float:
    """Best wall time of `repeats` calls (after one warm-up call unless `warm_up` is False)."""
    if warm_up:
        function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def numpy_matmul_gflops(size: int = 2048) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats=3) / 1e9


def query_words() -> list[str]:
    """Every word of the prompts, labels and generated titles (lower case, no punctuation)."""
    texts = [*zeroshot.DEFAULT_TEMPLATES, *LABELS, *WORDS]
    words = {word.strip(".{}").lower() for line in texts for word in line.split()}
    return sorted(word for word in words if word and word != "label")


def full_size_text_embedder(seed: int = 0) -> text.TextEmbedder:
    """A random text tower of CLIP ViT-B/32's sizes; its BPE vocabulary spells each query word
    as one token, as CLIP's 49,408-token vocabulary does for common English words."""
    vocabulary, merges = text.tiny_vocabulary(query_words())
    encoder = text._build_encoder(**FULL_TEXT_SIZES, end_token_id=vocabulary[text.END_TOKEN])
    randomize_weights(encoder, seed, scale=0.02, lecun_kernels=False)
    return text.TextEmbedder(encoder, vocabulary, merges, spec="")


def random_titles(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 10)))) for _ in range(count)]


def bench_tower(name, embedder, videos, labels, titles, title_sample, ceiling) -> dict:
    """Prints and returns the figures of one text tower."""
    # Cold: the first call compiles the tower's operations for these shapes.
    start = time.perf_counter()
    zeroshot.class_text_embeddings(embedder, LABELS)
    cold = time.perf_counter() - start
    encode = best_seconds(lambda: zeroshot.class_text_embeddings(embedder, LABELS))
    classes = zeroshot.class_text_embeddings(embedder, LABELS)
    plain = ("{label}",)  # one prompt per class: what the aligned heads' default is tried against
    encode_plain = best_seconds(lambda: zeroshot.class_text_embeddings(embedder, LABELS, plain))

    def top_10():
        return [top_k_order(rank_videos(query, videos), 10) for query in classes]

    rank = best_seconds(top_10)
    table = best_seconds(lambda: metrics.class_prompt_retrieval(videos, labels, classes))
    total = encode + rank + table
    print(f"\n[{name} text tower, embed {embedder.embed_dim}]")
    print(
        f"  class prompts: encode {len(LABELS)} labels x {len(zeroshot.DEFAULT_TEMPLATES)} "
        f"templates {encode * 1e3:.1f} ms (first call, compiling: {cold:.2f} s); the "
        f"{len(LABELS)} plain names alone: {encode_plain * 1e3:.1f} ms"
    )
    print(f"  top-10 of {len(videos):,} videos per class query: {rank * 1e3:.1f} ms")
    print(f"  R@k/MdR/MnR table, both directions: {table * 1e3:.1f} ms")
    print(
        f"  => encode + rank + table: {total * 1e3:.1f} ms "
        f"({'well under' if total < 0.5 else 'under' if total < 1 else 'NOT under'} a second)"
    )
    sample = titles[:title_sample]
    embedder.embed(sample)  # compile these shapes
    per_title = best_seconds(lambda: embedder.embed(sample), repeats=2) / len(sample)
    print(
        f"  titles: encode {per_title * 1e3:.2f} ms per title (on {len(sample)}) -> "
        f"{per_title * len(titles):.1f} s for {len(titles):,} titles"
    )
    return {"total_s": total, "plain_encode_s": encode_plain, "per_title_s": per_title}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--titles", type=int, default=10_000, help="title queries (= videos)")
    parser.add_argument("--title-sample", type=int, default=256, help="titles timed per tower")
    parser.add_argument("--no-full-text-tower", action="store_true")
    args = parser.parse_args(argv)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible")
    ceiling = numpy_matmul_gflops()
    print(f"NumPy float32 matmul ceiling: {ceiling:.0f} GFLOP/s (best of 2048^3 products)")
    rng = np.random.default_rng(0)
    videos = l2_normalize(rng.standard_normal((args.videos, args.dim), dtype=np.float32))
    labels = rng.integers(0, len(LABELS), args.videos)
    titles = random_titles(args.titles)

    towers = [("tiny random", text.TextEmbedder.tiny(0, embed_dim=args.dim))]
    if not args.no_full_text_tower:
        start = time.perf_counter()
        towers.append(("ViT-B/32-sized random", full_size_text_embedder()))
        print(
            f"(built the ViT-B/32-sized random text tower in {time.perf_counter() - start:.1f} s)"
        )
    for name, embedder in towers:
        bench_tower(name, embedder, videos, labels, titles, args.title_sample, ceiling)

    count = min(args.titles, args.videos)
    title_embeddings = l2_normalize(rng.standard_normal((count, args.dim), dtype=np.float32))
    seconds = best_seconds(
        lambda: metrics.title_retrieval(videos[:count], title_embeddings), repeats=1, warm_up=False
    )
    gflop = 2 * 2 * count * count * args.dim / 1e9
    print(
        f"\ntitle queries: {count:,} titles x {count:,} videos x {args.dim}, both directions: "
        f"{seconds:.2f} s ({gflop:.0f} GFLOP of products = {gflop / seconds:.0f} GFLOP/s, "
        f"{gflop / seconds / ceiling:.2f} of the matmul ceiling; the rest is ranking)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
