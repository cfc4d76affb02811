"""CI: two builds of video_folder/frames16 (different installs, Pythons) hold the same examples.

    python .ci/same_dataset.py DATA_DIR_A DATA_DIR_B

Same ids, splits, labels, frame counts and stored frames, exactly; embeddings exactly when both
environments run the same JAX, else within 1e-5 (the user stage installs whatever PyPI serves).
Prints one line per split; exits 1 on the first difference.
"""

import sys

import numpy as np
import tensorflow_datasets as tfds

import vidcls_keras.datasets  # noqa: F401  (registers video_folder)


def examples(data_dir: str) -> dict[str, dict[str, dict]]:
    builder = tfds.builder("video_folder/frames16", data_dir=data_dir)
    return {
        split: {
            example["video_id"].decode(): example
            for example in tfds.as_numpy(builder.as_dataset(split=split))
        }
        for split in builder.info.splits
    }


def main(first: str, second: str) -> int:
    a, b = examples(first), examples(second)
    if sorted(a) != sorted(b):
        print(f"splits differ: {sorted(a)} vs {sorted(b)}")
        return 1
    worst = 0.0
    for split in a:
        if sorted(a[split]) != sorted(b[split]):
            print(f"{split}: video ids differ")
            return 1
        for video_id, left in a[split].items():
            right = b[split][video_id]
            for name in ("label", "num_frames", "frame", "title"):
                if not np.array_equal(left[name], right[name]):
                    print(f"{split} {video_id}: {name} differs")
                    return 1
            difference = float(np.max(np.abs(left["embeddings"] - right["embeddings"])))
            worst = max(worst, difference)
            if difference > 1e-5:
                print(f"{split} {video_id}: embeddings differ by {difference:.3g}")
                return 1
        print(f"{split}: {len(a[split])} examples, same ids, labels, frames")
    print(f"largest embedding difference: {worst:.3g} (0 = bit for bit)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
