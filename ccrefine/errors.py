"""Errors a user causes from the command line; the CLI prints their message (which names the fix)."""


class UsageError(ValueError):
    """A mistake in the command line or its inputs; the message names the fix."""
