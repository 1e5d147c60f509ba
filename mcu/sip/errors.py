"""Named error types of the SIP stack."""

from __future__ import annotations

STATUS_BAD_REQUEST = 400
STATUS_TOO_LARGE = 413

# Keys of the refusal counters (UaCounters.refusals, SipTransportShell.refusals)
REFUSAL_TOO_LARGE = "sip_too_large"
REFUSAL_TOO_MANY_HEADERS = "sip_too_many_headers"
REFUSAL_TCP_CONNECTIONS = "tcp_connections"


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


class SipLimitError(SipParseError):
    """A message is refused for its size or number of header lines (see [limits] in the config),
    not because it is malformed. `refusal` is the counter key (REFUSAL_TOO_LARGE, ...)."""

    def __init__(self, reason: str, status: int, message: object, refusal: str):
        super().__init__(reason, status, message)
        self.refusal = refusal


class SipStreamLimitError(SipFramingError, SipLimitError):
    """A TCP/TLS message over the size limit: answered 413 if its head can be read, then the
    connection is closed (the rest of the stream cannot be framed without reading it all)."""


class SipStateError(SipError):
    """An API call does not fit the state of the call, dialog or transaction it names."""


class UnknownCallError(SipStateError):
    """An API call names a call id that this user agent does not know (ended or never existed)."""
