"""``replay://NAME``: answer each request written with the next captured reply to it.

A session maps each captured request frame to the replies captured for that
command, in capture order.  Writing anything that is not byte-for-byte a
captured request is a test failure (the client built a wrong frame), so the
requests are checked as strictly as the replies are replayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import serial
from serial.serialutil import SerialBase

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


@dataclass
class Session:
    """A scripted conversation: request bytes -> queue of (vector index, reply bytes)."""

    replies: dict[bytes, list[tuple[int, bytes]]]
    names: dict[bytes, str]
    written: list[str] = field(default_factory=list)  # command names, in the order written
    served: list[int] = field(default_factory=list)  # vector indices of the replies handed out
    unexpected: list[bytes] = field(default_factory=list)


SESSIONS: dict[str, Session] = {}


class Serial(SerialBase):
    """The port: nothing to open but the named session."""

    session: Session
    _pending: bytearray

    def open(self) -> None:
        if self.port is None:
            raise serial.SerialException("port must be configured before it can be used")
        name = str(self.port).partition("://")[2]
        if name not in SESSIONS:
            raise serial.SerialException(f"no replay session {name!r} registered")
        self.session = SESSIONS[name]
        self._pending = bytearray()
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self, *args: object, **kwargs: object) -> None:
        """Line settings mean nothing to a replay."""

    def from_url(self, url: str) -> str:
        return url

    @property
    def in_waiting(self) -> int:
        return len(self._pending)

    def reset_input_buffer(self) -> None:
        self._pending.clear()

    def reset_output_buffer(self) -> None:
        """Nothing is ever buffered for output."""

    def write(self, data: ReadableBuffer, /) -> int:
        if not self.is_open:
            raise serial.PortNotOpenError()
        frame = bytes(data)
        s = self.session
        if frame not in s.replies:
            s.unexpected.append(frame)
            raise AssertionError(f"request {frame.hex()} is not one the captured session contains")
        s.written.append(s.names[frame])
        queue = s.replies[frame]
        if queue:
            index, reply = queue.pop(0)
            s.served.append(index)
            self._pending += reply
        return len(frame)

    def read(self, size: int = 1, /) -> bytes:
        if not self.is_open:
            raise serial.PortNotOpenError()
        if not self._pending:
            # nothing captured for this request: behave like a quiet line, briefly
            time.sleep(min(self.timeout or 0.0, 0.02))
            return b""
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out
