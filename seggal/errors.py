"""The one error type SegGal raises for bad input: its message is meant for the user, verbatim."""


class SegGalError(ValueError):
    """Bad input or an impossible request, with a message that names the file / value at fault."""
