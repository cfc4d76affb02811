"""`python -m vidcls_keras.zeroshot`: zero-shot classification with CLIP's text tower."""

import sys

from vidcls_keras.retrieval.zeroshot import main

if __name__ == "__main__":
    sys.exit(main())
