"""Writes `dummy_data/` for the builder test: tiny YouTube-8M shards of both levels (about 20 KB).

    python -m vidcls_keras.datasets.youtube8m.make_dummy_data

`vocabulary.csv` (25 classes, one with an empty Name), and in `video/` and `frame/` one shard per
split of 3 videos each (`train0000`, `validate0000`, `test0000`), with 8-wide rgb and 4-wide
audio (the builder reads the widths from the records) and, at frame level, 1-6 frames and the
2019 segment fields. `video/train0001.tfrecord` is a shard cut short, as an interrupted download
leaves it: the builder must report it and build the others.
"""

import pathlib

from vidcls_keras.youtube8m import synthetic

DUMMY_DATA = pathlib.Path(__file__).resolve().parent / "dummy_data"
SIZES = {"num_classes": 25, "rgb_size": 8, "audio_size": 4}


def main() -> None:
    synthetic.write_vocabulary(DUMMY_DATA / "vocabulary.csv", num_classes=SIZES["num_classes"])
    for level in ("video", "frame"):
        frame_options = {"frames": (1, 6), "segments": True} if level == "frame" else {}
        for split in ("train", "validate", "test"):
            synthetic.write_shards(
                DUMMY_DATA / level,
                split,
                num_shards=1,
                videos_per_shard=3,
                level=level,
                **SIZES,
                **frame_options,
            )
    # A shard (of other ids) cut 10 bytes short: its last record is incomplete.
    source = synthetic.write_shards(
        DUMMY_DATA / "cut", "train", num_shards=2, videos_per_shard=3, level="video", **SIZES
    )[1]
    data = source.read_bytes()
    (DUMMY_DATA / "video" / "train0001.tfrecord").write_bytes(data[:-10])  # inside the last
    for path in (DUMMY_DATA / "cut").iterdir():
        path.unlink()
    (DUMMY_DATA / "cut").rmdir()


if __name__ == "__main__":
    main()
