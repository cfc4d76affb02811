"""The one family of user errors.

Every error that a user's input, files or environment can cause (a bad flag, a missing dataset, an
undecodable video, an embedder that cannot be loaded) is a `VidclsError`, a `ValueError`. The
commands print its message and exit with status 2; any other exception is a bug of ours and keeps
its traceback.
"""


class VidclsError(ValueError):
    """A problem with the user's input, files or environment; the message says how to fix it."""
