"""`python -m vidcls_keras.embed`: videos to CLIP frame embeddings, one .npy per video."""

import sys

from vidcls_keras.embedding.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
