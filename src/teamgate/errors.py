"""The one exception tree. Services raise these; web maps them to HTTP; the client maps back."""

from __future__ import annotations


class TeamgateError(Exception):
    """Base of every error a user can see. `kind` is the JSON `error` field."""

    kind = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(TeamgateError):
    kind = "BadRequest"


def invalid_cursor(problem: str) -> Invalid:
    """A list cursor (`after`) this server did not make, or made for another list or order."""
    return Invalid(
        f"invalid cursor ('after'): {problem}: use the next_cursor of a previous page "
        "unchanged, or start again without it"
    )


class TooLarge(Invalid):
    kind = "PayloadTooLarge"


class Unauthenticated(TeamgateError):
    kind = "Unauthorized"


class Forbidden(TeamgateError):
    """Access refused. For the audit log: `reason` says what decided (as `Decision.reason`),
    `action` what was refused (`workflow.delete`) and `resource` on what (`workflow/1`), when
    known; the web layer falls back to the route."""

    kind = "Forbidden"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        action: str | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.action = action
        self.resource = resource


class TooManyRequests(TeamgateError):
    """Refused for now (too many failed sign-ins); `retry_after` says in how many seconds."""

    kind = "TooManyRequests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(TeamgateError):
    kind = "NotFound"


class Conflict(TeamgateError):
    kind = "Conflict"


class AlreadyExists(Conflict):
    pass


class LockConflict(Conflict):
    kind = "Locked"


class InsufficientStorage(TeamgateError):
    """The disk or quota under the blob store or the database is full; the write that met
    it changed nothing (its blob was discarded, its transaction rolled back)."""

    kind = "InsufficientStorage"


class ConfigError(TeamgateError):
    """Bad server configuration: the server refuses to start."""

    kind = "ConfigError"
