"""Errors that asyncsim reports to users as one line."""


class InputError(ValueError):
    """Bad user input: a file, field or value that is not what was expected.

    The message is one line naming the file (if any), the field and the expected value.
    """
