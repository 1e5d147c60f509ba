"""Errors of the admin API: each carries the HTTP status and a message that says what to fix."""

from __future__ import annotations

from typing import Any


class CommandError(Exception):
    """A command refused: nothing in the running meeting was changed."""

    status = 400

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class BadArguments(CommandError):
    status = 400


class Unauthorized(CommandError):
    status = 401


class NotFound(CommandError):
    status = 404


class MethodNotAllowed(CommandError):
    status = 405


class Conflict(CommandError):
    """The request is well formed but the meeting's state does not allow it now."""

    status = 409


class PayloadTooLarge(CommandError):
    status = 413


class UnsupportedMediaType(CommandError):
    status = 415


class Unprocessable(CommandError):
    status = 422


class TooManyRequests(CommandError):
    """The client sent more requests than [limits] admin_requests_per_second / admin_burst."""

    status = 429


class AdminStartError(Exception):
    """The admin API cannot start; the message says why and what to set in config."""


class Forbidden(CommandError):
    """Authenticated, but this request may not do that (no CSRF token, another tenant's room)."""

    status = 403
