"""One exception type for mistakes a user can fix, so the CLI can print one clear line."""


class UserError(Exception):
    """Bad input or a missing resource: the message names the problem and the fix."""
