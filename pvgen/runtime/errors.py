"""Exceptions a caller of a generated client can meet, by what the caller should do about them."""

from __future__ import annotations


class InverterError(Exception):
    """Base class for every protocol-level failure."""


class NoReply(InverterError, TimeoutError):
    """Nothing usable arrived in time: the inverter is asleep, unplugged, or not registered."""


class IncompleteReply(NoReply):
    """A reply series stopped before its end frame; ``frames`` holds what did arrive, in order."""

    def __init__(self, message: str, frames: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.frames = frames


class ProtocolError(InverterError):
    """A frame arrived but made no sense for the request (wrong reply, bad payload)."""


class PortGone(InverterError, OSError):
    """The serial device or socket disappeared (USB adapter unplugged, TCP peer closed)."""


class UnsupportedCommand(InverterError):
    """The spec has no such command for this protocol variant (e.g. register over Samil TCP)."""


class UnsafeWriteRefused(InverterError, ValueError):
    """A write was outside the spec's safe range, or was not explicitly confirmed."""
