"""Text from outside, made safe to show: device text as data, secrets never in the clear.

Everything an inverter, a broker, a server or a file sends is untrusted.  Two
rules cover every place such text is shown or logged, and both live here, in
the lowest layer that needs them (the protocol runtime never imports the
application), so there is exactly one of each:

* ``shown(text)``: a character that :meth:`str.isprintable` rejects (C0 and C1
  controls such as ESC, DEL, bidi overrides and other format characters, line
  and paragraph separators, unassigned and private-use code points) is replaced
  by its Python escape (``\\x1b``, ``\\u202e``).  A serial number cannot clear
  the screen, set the clipboard (OSC 52), rename the terminal window or forge a
  log line; it shows up as what it is.  Raw values are kept in storage.
* ``redact(text)``: every registered secret (API key, broker password) becomes
  ``***``.  Secrets are compared with surrounding whitespace removed, so a key
  copied with a trailing CR/LF from a Windows-edited env file is still found,
  in the raw text and in its ``repr`` form.

``SafeFormatter`` applies both to every log record, so one formatter on the
handler covers every ``pv`` logger.  ``serial_problem`` is the one rule for
serial numbers, checked where they enter (discover reply, version reply,
configuration) before they become topics, ids or file names.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

# -- device text ---------------------------------------------------------------


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}")
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object, *, newlines: bool = False) -> str:
    """``value`` as text that cannot act on a terminal or a log: non-printables escaped.

    ``newlines=True`` keeps ``\\n`` as a line break (tracebacks, multi-line
    tables built by ``pv`` itself); everything else non-printable is escaped.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    if newlines:
        return "\n".join(shown(part) for part in text.split("\n"))
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


# -- serial numbers ----------------------------------------------------------------

SERIAL_MAX = 32  # the widest serial field of any known variant is 16 bytes (Eversolar, Samil version text)
_SERIAL_RE = re.compile(r"[\x21-\x7e]+")


def serial_problem(serial: str) -> str | None:
    """Why ``serial`` is not acceptable as an inverter's identity, or None when it is.

    A serial becomes an MQTT topic level, a Home Assistant unique_id, a
    database key and part of log lines: 1 to 32 visible ASCII characters
    (``!`` to ``~``, no spaces or controls).  Every captured serial is 10
    letters and digits; the outputs that build topics and ids replace what
    they cannot carry themselves.
    """
    if not serial:
        return "empty"
    if len(serial) > SERIAL_MAX:
        return f"{len(serial)} characters, more than {SERIAL_MAX}"
    if not _SERIAL_RE.fullmatch(serial):
        bad = next(ch for ch in serial if not "\x21" <= ch <= "\x7e")
        return f"character {_escape(bad) if not bad.isprintable() else repr(bad)} is not visible ASCII"
    return None


# -- secrets -------------------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 4  # shorter "secrets" would mask ordinary words in every log line


def _forms(secret: str) -> set[str]:
    """The spellings a secret can take in text: as given, trimmed, and their repr() escapes."""
    forms = {secret, secret.strip()}
    forms |= {repr(f)[1:-1] for f in list(forms)}
    return {f for f in forms if len(f.strip()) >= _MIN_SECRET}


def register_secret(secret: str | None) -> None:
    """Make ``redact`` (and so every ``pv`` log line, error and CLI output) mask ``secret``."""
    if not secret or len(secret.strip()) < _MIN_SECRET:
        return
    with _secrets_lock:
        _secrets.update(_forms(secret))


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    with _secrets_lock:
        _secrets.clear()


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every registered secret, and the ones given, replaced by ``***``."""
    forms = set(_secrets)
    for s in secrets:
        if s and len(s.strip()) >= _MIN_SECRET:
            forms |= _forms(s)
    for form in sorted(forms, key=len, reverse=True):  # longest first: a trimmed key inside a longer form
        if form in text:
            text = text.replace(form, MASK)
    return text


def safe(value: object) -> str:
    """What every line shown to a person goes through: secrets masked, then controls escaped."""
    return shown(redact(value if isinstance(value, str) else str(value)))


# -- logging -------------------------------------------------------------------------


class SafeFormatter(logging.Formatter):
    """A formatter whose output is redacted and escaped: the message stays on one line.

    The message (with its arguments, often device text or server replies)
    has every non-printable escaped, newlines included, so no record can
    forge another line; a traceback keeps its line breaks but nothing else.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(redact(super().formatMessage(record)))

    def formatException(self, ei: object) -> str:
        return shown(redact(super().formatException(ei)), newlines=True)  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return shown(redact(super().formatStack(stack_info)), newlines=True)


__all__ = [
    "MASK",
    "SERIAL_MAX",
    "SafeFormatter",
    "forget_secrets",
    "redact",
    "register_secret",
    "safe",
    "serial_problem",
    "shown",
]
