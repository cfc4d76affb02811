"""Seconds of `annotate` per minute of 640x360 video at `--every 1` (issue 11's figure).

    python bench/annotate_speed.py                                  # tiny embedder, 60 s of video
    python bench/annotate_speed.py --embedder vit-b32-random        # ViT-B/32's cost, no download
    python bench/annotate_speed.py --seconds 10 --matmul-size 1024  # a quick check

The video is generated once into `cache_dir("bench")` (`$VIDCLS_CACHE_DIR/bench`): FFmpeg's
`testsrc2` pattern (moving, textured) as H.264 at 30 fps when imageio-ffmpeg is installed (what
360p YouTube downloads hold), else a moving gradient written by OpenCV as mp4v; the line printed
says which. The classifier is a transformer head over `--max-frames` slots (random weights: the
cost of a trained one) behind the chosen embedder: `tiny:SEED` (default `tiny:0`), `preset:...` or
`hf:...` specs, or `vit-b32-random` (CLIP ViT-B/32's sizes with random weights).

Prints, for one `vidcls_keras.inference.annotate.annotate_video` call (after a warm-up call of the
encoder and head, so compilation is not counted):

- the headline: wall seconds per minute of video, and the real-time factor;
- the breakdown, from a second run of the two passes on their own: pass 1 (decode, sample,
  crop, embed, head), pass 2 (decode, draw, encode mp4v), and a decode-only pass for reference;
- the encoder's share of the machine's fp32 matmul ceiling during pass 1 (as in
  bench/embed_throughput.py; meaningful for ViT-B/32 sizes, tiny for the tiny encoder).

Nothing is asserted. On a machine shared with other jobs the wall figures depend on the
neighbours; the CPU seconds printed beside them much less.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from embed_throughput import Timer, encoder_gflop, matmul_gflops  # noqa: E402 (bench/ helpers)

from vidcls_keras import clip  # noqa: E402
from vidcls_keras.files import cache_dir  # noqa: E402
from vidcls_keras.inference import annotate  # noqa: E402
from vidcls_keras.inference.classifier import VideoClassifier  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30
LABELS = ("food", "art_music", "travel", "history")


def make_video(seconds: float) -> tuple[pathlib.Path, str]:
    """The benchmark video in the bench cache (made once): `(path, description)`."""
    folder = cache_dir("bench")
    folder.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * FPS)
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        ffmpeg = None
    kind = "H.264 (testsrc2)" if ffmpeg else "mp4v (gradient)"
    path = folder / f"annotate_{WIDTH}x{HEIGHT}_{FPS}fps_{frames}f_{kind.split()[0]}.mp4"
    if path.exists():
        return path, kind
    temp = folder / f".{path.stem}.{os.getpid()}.mp4"
    try:
        if ffmpeg:
            command = [ffmpeg, "-v", "error", "-y", "-f", "lavfi"]
            command += [
                "-i",
                f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
                "-frames:v",
                str(frames),
            ]
            command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "150", str(temp)]
            subprocess.run(command, check=True)
        else:
            writer = cv2.VideoWriter(
                str(temp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT)
            )
            ramp = np.arange(WIDTH)[None, :] + 2 * np.arange(HEIGHT)[:, None]
            for index in range(frames):
                gray = ((ramp + 3 * index) % 256).astype(np.uint8)
                writer.write(cv2.merge([gray, gray[::-1], np.roll(gray, index, axis=1)]))
            writer.release()
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path, kind


def make_classifier(embedder_name: str, max_frames: int) -> tuple[VideoClassifier, float]:
    """`(classifier, encoder GFLOP per frame)`: a random transformer head behind the embedder."""
    if embedder_name == "vit-b32-random":
        embedder = clip.FrameEmbedder(clip.VIT_B32_CONFIG.build(), spec="vit-b32-random")
    else:
        embedder = clip.FrameEmbedder.from_spec(embedder_name)
    encoder = embedder.image_encoder
    config = clip.EncoderConfig(
        image_size=encoder.input_resolution,
        patch_size=encoder.patch_size,
        width=encoder.width,
        num_layers=encoder.num_layers,
        num_heads=encoder.heads,
        embed_dim=encoder.output_dim,
    )
    keras.utils.set_random_seed(0)
    head = build_model(
        "transformer",
        num_classes=len(LABELS),
        max_frames=max_frames,
        embed_dim=embedder.embed_dim,
    )
    classifier = VideoClassifier(head, LABELS, max_frames, embedder_name, embedder)
    return classifier, encoder_gflop(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="video length (default 60)")
    parser.add_argument("--every", type=float, default=1.0, help="--every of annotate (default 1)")
    parser.add_argument("--window", type=int, default=5, help="--window of annotate (default 5)")
    parser.add_argument(
        "--embedder", default="tiny:0", help="tiny:SEED, preset:..., hf:... or vit-b32-random"
    )
    parser.add_argument(
        "--max-frames", type=int, default=100, help="frame slots of the head (default 100)"
    )
    parser.add_argument("--matmul-size", type=int, default=2048, help="for the fp32 ceiling")
    args = parser.parse_args(argv)

    import jax

    cores = os.cpu_count() or 1
    print(f"machine: {cores} CPUs, jax {jax.__version__} on {jax.devices()[0].platform}")
    path, kind = make_video(args.seconds)
    minutes = args.seconds / 60.0
    print(f"video: {path} ({args.seconds:g} s of {WIDTH}x{HEIGHT} {kind} at {FPS} fps)")
    classifier, gflop = make_classifier(args.embedder, args.max_frames)
    batch = annotate.moment_batch_size(classifier)
    print(
        f"classifier: transformer head ({args.max_frames} slots) behind {args.embedder} "
        f"({gflop:.3f} GFLOP per frame), {batch} frames per encoder call"
    )
    annotate.classify_crops(
        classifier, np.zeros((batch, *classifier.embedder.input_shape), np.uint8)
    )

    folder = pathlib.Path(tempfile.mkdtemp(prefix="annotate_bench_"))
    try:
        with Timer() as total:
            result = annotate.annotate_video(
                classifier, path, folder / "annotated.mp4", args.every, args.window
            )
        moments = len(result.timeline.times)
        print(
            f"annotate (--every {args.every:g}, --window {args.window}): {result.frames} frames, "
            f"{moments} classified, {total.wall_s:.2f} s = {total.wall_s / minutes:.1f} s per "
            f"minute of video ({args.seconds / total.wall_s:.1f}x real time)  [CPU "
            f"{total.cpu_s / minutes:.1f} s per minute over {cores} cores]"
        )

        with Timer() as classify:
            timeline, _, fps = annotate.classify_moments(classifier, path, args.every, args.window)
        with Timer() as render:
            annotate.render_video(path, timeline, folder / "render.mp4", fps)
        with Timer() as decode:
            with annotate.FrameReader(path) as reader:
                for _ in reader.frames():
                    pass
        print(
            "  per minute of video: "
            + ", ".join(
                f"{name} {timer.wall_s / minutes:.2f} s"
                for name, timer in (
                    ("pass 1 (decode + classify)", classify),
                    ("pass 2 (decode + draw + write)", render),
                    ("decode alone", decode),
                )
            )
        )
        gflops, _ = matmul_gflops(args.matmul_size)
        share = moments * gflop / classify.wall_s / gflops
        print(
            f"  encoder in pass 1: {moments * gflop / classify.wall_s:.1f} GFLOP/s = "
            f"{share:.3f} of the fp32 matmul ceiling ({gflops:.0f} GFLOP/s, {args.matmul_size} "
            "square)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
