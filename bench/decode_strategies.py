"""Sequential decoding vs seeking, per clip, for the frame sampler in `vidcls_keras/video.py`.

For each clip and each number of frames it prints the wall time of:

- sequential: `sample_frames(..., strategy="sequential")`: grab() every frame, retrieve() only
  the chosen ones (the true frame count is learnt on the way).
- naive seek: `CAP_PROP_POS_FRAMES` then read() for every chosen index of the true count (the
  obvious alternative), with how many frames it got wrong or failed to read compared with a
  full decode.
- planned seek: `sample_frames(..., strategy="seek")`: seeks only on streams where seeking is
  exact ("-" otherwise), decodes forward instead of seeking when that is cheaper.
- the strategy `choose_strategy` picks, with its cost estimates in decoded frames.

Run from the repository root (the shared clips are in ../shared/data/videos):

    python bench/decode_strategies.py                    # the 8 shared clips, 16 and 100 frames
    python bench/decode_strategies.py --synthetic 180    # + a 3-minute 640x360 H.264 clip

Timings are the best of `--repeats` runs on a possibly shared CPU: read them as rough.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import tempfile
import time

import cv2
import numpy as np

from vidcls_keras import video

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO_ROOT.parent / "shared" / "data" / "videos"


def best_time(repeats: int, function, *args) -> tuple[float, object]:
    """Best wall time of `repeats` calls of `function(*args)`, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_seek(path: pathlib.Path, indices: np.ndarray) -> list[np.ndarray | None]:
    """One `CAP_PROP_POS_FRAMES` seek + read per index; None where the read fails."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    for index in indices.tolist():
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = capture.read()
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None)
    capture.release()
    return frames


def make_synthetic(folder: pathlib.Path, seconds: int) -> pathlib.Path:
    """A YouTube-like clip: 640x360, 30 fps, H.264 with a keyframe every 5 s."""
    import imageio_ffmpeg

    path = folder / f"synthetic_{seconds}s_640x360_g150.mp4"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
        "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "150", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=pathlib.Path, default=SHARED_VIDEOS)
    parser.add_argument("--num-frames", type=int, nargs="+", default=[16, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="SECONDS",
        help="also time a generated 640x360 clip of this length (0: no)",
    )  # fmt: skip
    args = parser.parse_args()

    paths = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in video.VIDEO_EXTENSIONS)
    with tempfile.TemporaryDirectory() as folder:
        if args.synthetic:
            paths.append(make_synthetic(pathlib.Path(folder), args.synthetic))
        header = (
            f"{'clip':38s} {'n':>4s} {'frames':>6s} {'sequential':>10s} {'naive seek':>10s} "
            f"{'wrong/fail':>10s} {'plan seek':>9s} {'est seq':>7s} {'est seek':>8s}  chosen"
        )
        print(header)
        print("-" * len(header))
        for path in paths:
            probe = video.probe_video(path)
            total = video.count_frames(path)
            for num_frames in args.num_frames:
                indices = video.frame_indices(total, num_frames)
                sequential_s, reference = best_time(
                    args.repeats, video.sample_frames, path, num_frames, "sequential"
                )
                naive_s, naive = best_time(args.repeats, naive_seek, path, indices)
                failed = sum(frame is None for frame in naive)
                wrong = sum(
                    frame is not None and not np.array_equal(frame, expected)
                    for frame, expected in zip(naive, reference, strict=True)
                )
                if probe.seekable:
                    planned_s, planned = best_time(
                        args.repeats, video.sample_frames, path, num_frames, "seek"
                    )
                    if not np.array_equal(planned, reference):
                        raise RuntimeError(f"{path}: planned seek returned different frames")
                    planned_text = f"{planned_s:8.3f}s"
                else:
                    planned_text = f"{'-':>9s}"
                costs = video.estimate_costs(probe, num_frames)
                cost_text = f"{costs['seek']:8d}" if costs["seek"] is not None else f"{'-':>8s}"
                chosen = video.choose_strategy(probe, num_frames)
                print(
                    f"{path.name:38s} {num_frames:4d} {total:6d} {sequential_s:9.3f}s "
                    f"{naive_s:9.3f}s {f'{wrong}/{failed}':>10s} {planned_text} {costs['sequential']:7d} "
                    f"{cost_text}  {chosen}"
                    + ("" if probe.seekable else f" (not seekable: {probe.reason})")
                )


if __name__ == "__main__":
    main()
