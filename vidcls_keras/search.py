"""`python -m vidcls_keras.search`: text search over a dataset's videos."""

import sys

from vidcls_keras.retrieval.search import main

if __name__ == "__main__":
    sys.exit(main())
