"""Writes `dummy_data/` for the builder test: 2 classes x 3 tiny MP4s (about 2.5 KB each).

    python -m vidcls_keras.datasets.video_folder.make_dummy_data

Each clip is 64x48, 10 fps, 8-14 frames of a flat colour with a moving white square, written
with OpenCV's `mp4v` encoder (MPEG-4 Part 2), which every OpenCV build can write and read.
"""

import pathlib

import cv2
import numpy as np

DUMMY_DATA = pathlib.Path(__file__).resolve().parent / "dummy_data"
CLASSES = {"cooking": (40, 120, 220), "sports": (60, 200, 60)}  # BGR background per class


def write_clip(path: pathlib.Path, colour: tuple[int, int, int], num_frames: int) -> None:
    """A `num_frames`-frame 64x48 clip: flat `colour` with a white square moving right."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for index in range(num_frames):
        frame = np.empty((48, 64, 3), np.uint8)
        frame[:] = colour
        cv2.rectangle(frame, (index * 4, 12), (index * 4 + 12, 24), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def main() -> None:
    for name, colour in CLASSES.items():
        folder = DUMMY_DATA / name
        folder.mkdir(parents=True, exist_ok=True)
        for number, num_frames in enumerate((8, 11, 14)):
            shade = tuple(min(255, c + 25 * number) for c in colour)
            write_clip(folder / f"clip{number}.mp4", shade, num_frames)
    (DUMMY_DATA / "sports" / "notes.txt").write_text("not a video: listed as skipped\n")


if __name__ == "__main__":
    main()
