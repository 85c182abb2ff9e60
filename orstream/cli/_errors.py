"""Errors the command line turns into one line on stderr."""


class UsageError(Exception):
    """Bad input a user can fix: printed as one line, exit code 2."""
