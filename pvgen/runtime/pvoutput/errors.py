"""Exceptions for PVOutput replies, parsed from the ``<Reason> <code>: <text>`` body.

The server's own words are kept verbatim in ``server_text``: PVOutput's texts carry
the offending value (``Power value [2147483647] too high for system size [1755]``)
and users need to see it.  Kinds are recognised by substring, as every mature
client does, because capitals and embedded numbers vary between server versions.
"""

from __future__ import annotations

import re
from datetime import datetime

_BODY = re.compile(r"^\s*(?P<reason>[A-Za-z][A-Za-z ]*?)\s+(?P<code>\d{3})\s*:\s*(?P<text>.*?)\s*$", re.DOTALL)


class PVOutputError(Exception):
    """Base class: anything PVOutput (or the way to it) refused or failed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, server_text: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.server_text = server_text
        self.body = ""  # the whole reply body as received (redacted), when there was one


class AuthError(PVOutputError):
    """401, or 403 for a read-only key: retrying can never help; fix the settings."""


class ReadOnlyKey(AuthError):
    """A read-only key was used for a write service."""


class DonationRequired(PVOutputError):
    """403 Donation Mode: the call or a parameter needs a donation account."""


class RateLimited(PVOutputError):
    """403 Exceeded N requests per hour.  ``reset_at`` is when the hourly bucket refills (UTC)."""

    def __init__(
        self, message: str, *, reset_at: datetime | None, status: int | None = 403, server_text: str = ""
    ) -> None:
        super().__init__(message, status=status, server_text=server_text)
        self.reset_at = reset_at


class Rejected(PVOutputError, ValueError):
    """400: the server refused the data.  Never retried (except ``LoadInProgress``).

    Also a ``ValueError``: pv 0.2 raised ValueError on a 400, and scripts
    written for it catch that, while new code catches ``Rejected``.
    """

    kind = "rejected"


class MoonPowered(Rejected):
    kind = "moon_powered"


class DateTooOld(Rejected):
    kind = "date_too_old"


class DateInFuture(Rejected):
    kind = "date_in_future"


class TooHighForSystemSize(Rejected):
    kind = "too_high_for_system_size"


class LoadInProgress(Rejected):
    """The server is still loading earlier data; the one 400 worth retrying later."""

    kind = "load_in_progress"
    retryable = True


class NoStatusFound(Rejected):
    kind = "no_status_found"


class NoStatusesAdded(Rejected):
    kind = "no_statuses_added"


class CouldNotRead(Rejected):
    kind = "could_not_read"


class InvalidData(Rejected):
    """Refused by the client before sending: the server would have answered 400."""

    kind = "invalid"


class MethodNotAllowed(PVOutputError):
    pass


class ReplyFormatError(PVOutputError, ValueError):
    """A 200 reply that does not have the declared shape (a proxy's HTML page, a changed API)."""


class ServiceUnavailable(PVOutputError):
    """Network failure, timeout or 5xx: worth retrying with backoff."""

    retryable = True


# Order matters: first match wins.
_REJECT_KINDS: tuple[tuple[tuple[str, ...], type[Rejected]], ...] = (
    (("moon powered",), MoonPowered),
    (("too far in the past", "older than", "too old"), DateTooOld),
    (("in the future", "future date", "too new"), DateInFuture),
    (("too high for system size",), TooHighForSystemSize),
    (("load in progress",), LoadInProgress),
    (("no status found",), NoStatusFound),
    (("no statuses added",), NoStatusesAdded),
    (("could not read",), CouldNotRead),
)

REJECT_KINDS: dict[str, type[Rejected]] = {cls.kind: cls for _, cls in _REJECT_KINDS}


def split_body(body: str) -> tuple[str, int | None, str]:
    """``'Bad request 400: Moon Powered'`` -> ``('Bad request', 400, 'Moon Powered')``."""
    m = _BODY.match(body)
    if not m:
        return "", None, body.strip()
    return m.group("reason"), int(m.group("code")), m.group("text")


def error_from_reply(status: int, body: str, reset_at: datetime | None = None) -> PVOutputError:
    """Map one non-200 reply to the matching exception, keeping the server's text."""
    err = _classify(status, body, reset_at)
    err.body = body.strip()
    return err


def _classify(status: int, body: str, reset_at: datetime | None) -> PVOutputError:
    _reason, code, text = split_body(body)
    code = code or status
    shown = body.strip() or f"HTTP {status}"
    low = text.lower()
    if status >= 500 or code >= 500:
        return ServiceUnavailable(f"PVOutput unavailable: {shown}", status=status, server_text=text)
    if status == 401 or code == 401:
        return AuthError(f"PVOutput authentication failed: {shown}", status=status, server_text=text)
    if status == 403 or code == 403:
        if "read only" in low:
            return ReadOnlyKey(
                f"PVOutput refused a write with a read-only key: {shown}", status=status, server_text=text
            )
        if "donation" in low:
            return DonationRequired(f"PVOutput needs a donation account: {shown}", status=status, server_text=text)
        if "exceeded" in low and "request" in low:
            when = f" (resets {reset_at.isoformat()})" if reset_at else ""
            return RateLimited(
                f"PVOutput rate limit: {shown}{when}", reset_at=reset_at, status=status, server_text=text
            )
        return AuthError(f"PVOutput refused access: {shown}", status=status, server_text=text)
    if status == 405 or code == 405:
        return MethodNotAllowed(f"PVOutput: {shown}", status=status, server_text=text)
    if status == 400 or code == 400:
        for needles, cls in _REJECT_KINDS:
            if any(n in low for n in needles):
                return cls(f"PVOutput rejected the data: {shown}", status=status, server_text=text)
        return Rejected(f"PVOutput rejected the data: {shown}", status=status, server_text=text)
    return PVOutputError(f"PVOutput error: {shown}", status=status, server_text=text)
