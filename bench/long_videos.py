"""Frame sampling and embedding at real video lengths: auto vs seek vs sequential, keyframe mode.

    python bench/long_videos.py                                   # the full matrix (hours)
    python bench/long_videos.py --lengths 10 --sizes 640x360 --gops 5 --codecs h264
    python bench/long_videos.py --lengths 0.2 --sizes 640x360 --gops 2 --codecs h264 \
        --content smooth --frames 16 --embed-videos 2 --encoder tiny --repeats 1   # smoke test

Videos are generated once, with the ffmpeg binary of `imageio-ffmpeg` (an argument list, no
shell), into `--cache-dir` (default `vidcls_keras.files.cache_dir("bench_videos")`), written
atomically, and reused by later runs: every combination of `--lengths` (minutes: 3, 10, 45),
`--sizes` (640x360, 1280x720), `--gops` (a keyframe every 2, 5, 10 s), `--codecs` (H.264 mp4 with
libx264 veryfast, VP9 webm with libvpx-vp9 realtime) and `--content` ("smooth": ffmpeg's moving
`gradients`; "noise": the same with temporal noise on top, which costs 5-10x more to decode),
30 fps. The full matrix is 72 videos, about 60 GB, most of it the 45-minute noise videos: pick a
subset with the options.

For each video and each `--frames` count it prints:

- seconds of `video.sample_frames(path, n, strategy)` for "auto", "seek" and "sequential" (best
  of `--repeats` rounds that alternate between them, in an order that rotates), what auto
  chose, and whether auto is within 15% of the faster exact strategy (the check: the exit status
  is 1 when any video fails it; auto's time there is the best of its own rounds and those of the
  strategy it chose, which do the same work; auto's own rounds alone are printed too);
- seconds of the demux-only probe (`video.probe_video`), which every strategy pays;
- the keyframe mode (`frame_sampling="keyframes"`): seconds, speed-up over the faster exact
  strategy, and the mean distance in seconds from the exact positions;

and per video the end-to-end embedding rate (`embedding.pipeline.embed_videos` over
`--embed-videos` copies of the video: decode + preprocess in threads, overlapped with the encoder
and with the next videos' decoding) at `--embed-frames` frames, exact and keyframe mode, in
frames/s and as a share of the fp32 matmul ceiling (as in bench/embed_throughput.py, with its
full-width random ViT-B/32; `--encoder tiny` for a quick smoke run, whose share means nothing).
The issue's target: a share >= 0.75 at 100 frames on the 10-minute videos, for smooth content in
exact mode and for every video in keyframe mode (printed, not checked: it depends on the
machine being quiet).

`--skip-sampling` runs only the end-to-end part; `--decode-niceness N` sets how much nicer than
the encoder the decoding threads run (`embedding.pipeline.DECODE_NICENESS`; 0 = equal priority),
to compare.

Run it on a quiet machine: on a shared one the seconds mean little.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import pathlib
import platform
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import imageio_ffmpeg  # noqa: E402
import numpy as np  # noqa: E402

from vidcls_keras import clip, video  # noqa: E402
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.files import cache_dir, ensure_dir  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from embed_throughput import encoder_gflop, matmul_gflops  # noqa: E402

FPS = 30
AUTO_TOLERANCE = 1.15  # auto may take at most 15% longer than the faster exact strategy
TARGET_SHARE = 0.75
CODECS = {
    "h264": (".mp4", ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-sc_threshold", "0"]),
    "vp9": (
        ".webm",
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
         "-b:v", "0", "-crf", "35"],
    ),
}  # fmt: skip
CONTENT_FILTERS = {"smooth": [], "noise": ["-vf", "noise=alls=20:allf=t+u"]}


@dataclasses.dataclass(frozen=True)
class VideoSpec:
    """One benchmark video: length in minutes, frame size, keyframe interval, codec, content."""

    minutes: float
    width: int
    height: int
    gop_s: float
    codec: str
    content: str

    @property
    def name(self) -> str:
        return (
            f"{self.content}_{self.minutes:g}min_{self.width}x{self.height}_g{self.gop_s:g}s_"
            f"{self.codec}{CODECS[self.codec][0]}"
        )


def generate(spec: VideoSpec, folder: pathlib.Path) -> pathlib.Path:
    """The video of `spec` in `folder`, encoded now unless a previous run left it there."""
    path = folder / spec.name
    if path.is_file():
        return path
    seconds = spec.minutes * 60
    gop = max(1, round(spec.gop_s * FPS))
    suffix, codec = CODECS[spec.codec]
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{suffix}")
    source = f"gradients=size={spec.width}x{spec.height}:rate={FPS}:duration={seconds:g}:speed=0.01"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source,
        *CONTENT_FILTERS[spec.content], *codec, "-g", str(gop), "-keyint_min", str(gop),
        "-pix_fmt", "yuv420p", str(partial),
    ]  # fmt: skip
    print(f"generating {path.name} ...", flush=True)
    start = time.perf_counter()
    try:
        subprocess.run(command, check=True)
        os.replace(partial, path)  # whole or absent: a killed run leaves no half video
    finally:
        partial.unlink(missing_ok=True)
    print(f"  {time.perf_counter() - start:.0f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    return path


def best_seconds(repeats: int, function, *args, **kwargs) -> float:
    """Best wall time of `repeats` calls (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def end_to_end(embedder, path, num_frames, copies, frame_sampling, workers):
    """Frames/s of `embed_videos` over `copies` copies of one video, encoder rows/s (frames and
    the padding rows of its fixed-size calls), frames per video, and a stage summary."""
    stats = pipeline.PipelineStats()
    start = time.perf_counter()
    for result in pipeline.embed_videos(
        embedder,
        [path] * copies,
        num_frames,
        workers=workers,
        stats=stats,
        frame_sampling=frame_sampling,
    ):
        if result.error is not None:
            raise result.error
    wall = time.perf_counter() - start
    per_video = stats.frames // copies
    batch = pipeline.encoder_batch_size(num_frames)
    rows = copies * -(-per_video // batch) * batch
    summary = (
        f"decode+preprocess {stats.load_s:.1f} s, encoder {stats.embed_s:.1f} s, encoder waited "
        f"{stats.wait_s:.1f} s, wall {wall:.1f} s"
    )
    return stats.frames / wall, rows / wall, per_video, summary


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=pathlib.Path, default=None)
    parser.add_argument("--lengths", type=float, nargs="+", default=[3, 10, 45], help="minutes")
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    parser.add_argument("--gops", type=float, nargs="+", default=[2, 5, 10], help="seconds")
    parser.add_argument("--codecs", nargs="+", choices=sorted(CODECS), default=["h264", "vp9"])
    parser.add_argument(
        "--content", nargs="+", choices=sorted(CONTENT_FILTERS), default=["smooth", "noise"]
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 100])
    parser.add_argument("--repeats", type=int, default=2, help="timings are the best of these")
    parser.add_argument("--embed-frames", type=int, default=100)
    parser.add_argument("--embed-videos", type=int, default=4, help="copies per end-to-end run")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default auto)")
    parser.add_argument("--encoder", choices=["vit-b32", "tiny"], default="vit-b32")
    parser.add_argument("--skip-embed", action="store_true", help="frame sampling only")
    parser.add_argument("--skip-sampling", action="store_true", help="end to end only")
    parser.add_argument(
        "--decode-niceness",
        type=int,
        default=None,
        help="niceness added to the decoding threads (default: embed's, "
        "pipeline.DECODE_NICENESS; 0 = the encoder's priority)",
    )
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--matmul-size", type=int, default=4096)
    args = parser.parse_args(argv)

    folder = ensure_dir(args.cache_dir or cache_dir("bench_videos"), "--cache-dir")
    specs = [
        VideoSpec(minutes, *parse_size(size), gop, codec, content)
        for minutes, size, gop, codec, content in itertools.product(
            args.lengths, args.sizes, args.gops, args.codecs, args.content
        )
    ]
    paths = [generate(spec, folder) for spec in specs]
    if args.generate_only:
        return 0

    cores = os.cpu_count() or 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {cores} CPUs; videos in {folder}"
    )
    embedder = ceiling = None
    if not args.skip_embed:
        import jax

        gflops = max(matmul_gflops(args.matmul_size)[0], matmul_gflops(args.matmul_size // 2)[0])
        ceiling = gflops / encoder_gflop(clip.VIT_B32_CONFIG)
        print(
            f"jax {jax.__version__} on {jax.devices()[0].platform}; fp32 matmul ceiling "
            f"{gflops:.0f} GFLOP/s = {ceiling:.1f} ViT-B/32 frames/s"
        )
        if args.encoder == "tiny":
            embedder = clip.FrameEmbedder.tiny(0)
            print("  (tiny encoder: a smoke run; its shares of the ceiling mean nothing)")
        else:
            embedder = clip.FrameEmbedder(clip.VIT_B32_CONFIG.build())
        batch = pipeline.encoder_batch_size(args.embed_frames)
        warmup = np.zeros((batch, embedder.image_size, embedder.image_size, 3), np.float32)
        pipeline.embed_pixels(embedder, warmup, args.embed_frames)  # compile once

    if args.decode_niceness is not None:
        pipeline.DECODE_NICENESS = args.decode_niceness
    print(f"decoding threads {pipeline.DECODE_NICENESS} nicer than the encoder")
    failures, misses = [], []
    for spec, path in zip(specs, paths, strict=True):
        probe = video.probe_video(path)
        probe_s = best_seconds(args.repeats, video.probe_video, path)
        print(
            f"\n{path.name}: {probe.packets} frames, {len(probe.keyframes)} keyframes, "
            f"{probe.file_bytes / 1e6:.0f} MB, seekable={probe.seekable}; probe {probe_s:.2f} s"
        )
        for num_frames in [] if args.skip_sampling else args.frames:
            # Untimed first calls: the file in the page cache, libraries loaded (PyAV, codecs).
            video.sample_frames(path, num_frames)
            video.sample_frames(path, num_frames, frame_sampling="keyframes")
            # Rounds alternate between the strategies (the machine drifts: timing one strategy's
            # repeats, then the next's, once put 15% between auto and the same strategy run as
            # "sequential"), and the order rotates from round to round (auto first every time once
            # put 37% between auto and the same seeks); each keeps its best round.
            seconds = dict.fromkeys(("auto", "seek", "sequential"), float("inf"))
            order = list(seconds)
            for round_index in range(args.repeats):
                shift = round_index % len(order)
                for strategy in order[shift:] + order[:shift]:
                    took = best_seconds(1, video.sample_frames, path, num_frames, strategy)
                    seconds[strategy] = min(seconds[strategy], took)
            chosen = video.choose_strategy(probe, num_frames)
            exact_best = min(seconds["seek"], seconds["sequential"])
            # "auto" is choose_strategy (arithmetic on the probe) and then exactly the chosen
            # strategy's read, so its rounds and the chosen strategy's rounds time the same work:
            # the check takes the best of both. The same read under the two names has differed by
            # up to 30% either way in best-of-2 (10-minute 720p H.264: 2.90 vs 2.50 s in one run,
            # 1.89 vs 2.58 s in the next), which measures the machine, not the choice.
            auto_best = min(seconds["auto"], seconds[chosen])
            ok = auto_best <= AUTO_TOLERANCE * exact_best
            if not ok:
                failures.append(f"{path.name} n={num_frames}")
            key_s = best_seconds(
                args.repeats, video.sample_frames, path, num_frames, frame_sampling="keyframes"
            )
            offset = video.keyframe_offset_seconds(probe, num_frames) if probe.seekable else 0.0
            estimate = video.estimate_seconds(probe, num_frames)
            print(
                f"  n={num_frames:3d}: auto {seconds['auto']:6.2f} s ({chosen}), seek "
                f"{seconds['seek']:6.2f} s, sequential {seconds['sequential']:6.2f} s -> auto / "
                f"best = {seconds['auto'] / exact_best:.2f} as timed, {auto_best / exact_best:.2f} "
                f"with its choice's rounds {'ok' if ok else 'OVER 1.15'}"
                f"  [estimated CPU s: seek "
                + ("-" if estimate["seek"] is None else f"{estimate['seek']:.2f}")
                + f", sequential {estimate['sequential']:.2f}]"
            )
            print(
                f"         keyframes {key_s:6.2f} s = {exact_best / key_s:.1f}x faster than the "
                f"best exact, mean distance from the exact positions {offset:.2f} s"
            )
        if embedder is None:
            continue
        for frame_sampling in ("exact", "keyframes"):
            rate, row_rate, per_video, summary = end_to_end(
                embedder, path, args.embed_frames, args.embed_videos, frame_sampling, args.workers
            )
            share = rate / ceiling
            targeted = frame_sampling == "keyframes" or spec.content == "smooth"
            note = ""
            if targeted and spec.minutes == 10 and args.embed_frames == 100:
                met = share >= TARGET_SHARE
                note = f" (target >= {TARGET_SHARE}: {'met' if met else 'NOT met'})"
                if not met:
                    misses.append(f"{path.name} {frame_sampling}")
            fewer = ""
            if per_video < args.embed_frames:  # fewer keyframes than positions: fewer frames
                fewer = (
                    f" [{per_video} frames per video; counting the encoder's padding rows: "
                    f"{row_rate / ceiling:.2f}]"
                )
            print(
                f"  end to end, {args.embed_frames} frames, {frame_sampling}: {rate:.1f} frames/s "
                f"= {share:.2f} of ceiling{note}{fewer}; {summary}"
            )

    print()
    if misses:
        print(f"end-to-end target not met on: {', '.join(misses)}")
    if failures:
        print(f"auto over 1.15x the faster exact strategy on: {', '.join(failures)}")
        return 1
    print(f"auto within 15% of the faster exact strategy on all {len(specs)} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
