"""The project's TFDS datasets, registered with TFDS on import.

    tfds build video_folder --imports vidcls_keras.datasets --config frames16 --manual_dir M
    python -c "import vidcls_keras.datasets, tensorflow_datasets as tfds; tfds.load(...)"

Each dataset is a TFDS folder builder (`<name>/<name>_dataset_builder.py`, README.md,
CITATIONS.bib, checksums.tsv, dummy_data/ and the builder test), as TFDS' community datasets are
laid out; `builders/<name>/` in a clone holds a two-line folder builder over the same class. The
shared machinery is in the modules beside them: `listing` (what is in a manual folder), `splits`,
`job` (one video -> one example, via `vidcls_keras.embedding`), `clips` (one video -> one clip
example: frames as JPEG for the `clips16` / `clips8` configs), `report`, and `builder` (the mixin).
"""

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before anything imports keras)
from vidcls_keras.datasets.video_folder import video_folder_dataset_builder  # noqa: F401
from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder  # noqa: F401
from vidcls_keras.datasets.youtube_videos import youtube_videos_dataset_builder  # noqa: F401
