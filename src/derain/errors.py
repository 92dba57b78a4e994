"""One exception type for every user-facing failure.

The CLI turns a `DerainError` into a single line on stderr and a non-zero exit, so anything a user
can cause (bad path, bad image, bad config) must be raised as this type with a message that says
what to do, never as a bare traceback.
"""


class DerainError(Exception):
    """An error caused by input the user gave; its message is shown as is."""
