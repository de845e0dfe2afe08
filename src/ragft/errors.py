"""The one base class for errors a user can act on: the CLI prints these as one line, no traceback."""


class RagftError(Exception):
    """A problem the user can fix; the message names the file/setting and what to do."""
