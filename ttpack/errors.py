"""Errors `ttpack build` raises; each message says what is wrong and what to do."""


class BuildError(Exception):
    """The model cannot be built as asked."""
