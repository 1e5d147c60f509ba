"""What the operator's tools (the admin API, `mcu ctl`) drive: a small interface the server
implements, so that the admin layer needs no import of the server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mcu.calls.content import ContentManager
    from mcu.conference.engine import Conference
    from mcu.config import Config


class DialError(Exception):
    """A dial-out could not be started; the message says why."""


class MeetingControl(Protocol):
    """The running meetings, as the admin API sees them."""

    conference: Conference
    config: Config
    content: ContentManager

    def now(self) -> float: ...

    def hangup(self, call_id: str, reason: str) -> bool:
        """End a call from our side; False if unknown."""
        ...

    async def dial(self, room_number: str, uri: str, display_name: str = "") -> str:
        """Call `uri` into a room; returns the call id. Raises DialError."""
        ...

    def reload_config(self) -> list[str]:
        """Load the config files again; the problems found (empty: applied)."""
        ...

    def has_call(self, call_id: str) -> bool:
        """The call exists (ringing or in the room)."""
        ...
