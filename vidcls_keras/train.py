"""`python -m vidcls_keras.train`: train one model on a built dataset."""

import sys

from vidcls_keras.training.trainer import main

if __name__ == "__main__":
    sys.exit(main())
