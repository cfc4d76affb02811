"""TEMPORARY re-exports while the split of the old tfds_videos module lands; removed before merge."""

from vidcls_keras.datasets.builder import *  # noqa: F403
from vidcls_keras.datasets.builder import requested_embedder  # noqa: F401
from vidcls_keras.datasets.features import *  # noqa: F403
from vidcls_keras.datasets.job import *  # noqa: F403
from vidcls_keras.datasets.listing import *  # noqa: F403
from vidcls_keras.datasets.listing import _problem  # noqa: F401
from vidcls_keras.datasets.report import *  # noqa: F403
from vidcls_keras.datasets.splits import *  # noqa: F403
from vidcls_keras.embedding.cache import *  # noqa: F403
from vidcls_keras.embedding.embedders import *  # noqa: F403
from vidcls_keras.embedding.embedders import _EMBEDDERS, _FINGERPRINTS  # noqa: F401
from vidcls_keras.embedding.pipeline import encoder_batch_size  # noqa: F401
