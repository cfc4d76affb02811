"""`python -m vidcls_keras.experiments`: every configuration over several seeds."""

import sys

from vidcls_keras.training.experiments import main

if __name__ == "__main__":
    sys.exit(main())
