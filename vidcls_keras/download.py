"""`python -m vidcls_keras.download`: download the videos of a YouTube CSV with yt-dlp."""

import sys

from vidcls_keras.youtube.download import main

if __name__ == "__main__":
    sys.exit(main())
