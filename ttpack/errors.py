"""Errors `ttpack build` raises; each message says what is wrong and what to do."""


class BuildError(Exception):
    """The model cannot be built as asked."""


class BuildWarning(UserWarning):
    """The build succeeded, but part of the model may not compute what the
    framework does for every input (the message names the op and why)."""
