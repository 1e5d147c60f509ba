"""Named error types of the SIP stack."""

from __future__ import annotations

STATUS_BAD_REQUEST = 400


class SipError(Exception):
    """Base of every error raised by mcu.sip."""


class SipParseError(SipError):
    """A message is malformed.

    `status` is the response a UAS should send (400, 505, ...) when the message is a request
    that could be parsed far enough to answer; `message` is that partial request (or None).
    """

    def __init__(self, reason: str, status: int = STATUS_BAD_REQUEST, message: object = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message


class SipFramingError(SipParseError):
    """A stream cannot be split into messages any more: the connection must be closed."""


class SipStateError(SipError):
    """An API call does not fit the state of the call, dialog or transaction it names."""


class UnknownCallError(SipStateError):
    """An API call names a call id that this user agent does not know (ended or never existed)."""
