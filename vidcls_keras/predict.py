"""`python -m vidcls_keras.predict`: classify videos, folders and URLs; export."""

import sys

from vidcls_keras.inference.classifier import main

if __name__ == "__main__":
    sys.exit(main())
