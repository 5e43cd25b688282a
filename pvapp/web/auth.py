"""The web page's one secret: a password or token, stored only as a salted scrypt hash.

One secret serves both kinds of client: a browser sends it as the HTTP Basic
password (any user name; the browser asks once and remembers it), Prometheus
and scripts as ``Authorization: Bearer <token>``.  The configuration holds only
``scrypt$N$r$p$salt$hash``, so a leaked pv.toml does not leak the secret.

scrypt is deliberately slow (tens of ms here, most of a second on a Pi Zero),
so a verified secret is remembered for the life of the process as an HMAC
under a random key: the page's polling and Prometheus' scrapes pay the slow
hash once, not on every request, and failed guesses are serialised behind one
lock so a flood of them costs one core at most, never the poller's time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

SCHEME = "scrypt"
# 2**14 x 8 x 128 bytes = 16 MiB and ~50 ms here: the usual interactive-login setting
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32


class HashFormatError(ValueError):
    """The stored hash is not ``scrypt$N$r$p$salt$hash``; ``str()`` says what is wrong."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None, n: int = N, r: int = R, p: int = P) -> str:
    """The text to store in ``[web] password_hash`` for ``secret``."""
    if not secret:
        raise ValueError("the password or token must not be empty")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=KEY_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise HashFormatError("expected scrypt$N$r$p$salt$hash (make one with `pv web password`)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise HashFormatError("N, r and p must be integers and salt and hash base64 text") from None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or n * r > 2**24:
        raise HashFormatError(f"scrypt parameters N={n} r={r} p={p} are out of range")
    if len(salt) < 8 or len(key) < 16:
        raise HashFormatError("salt or hash too short")
    return n, r, p, salt, key


def generate_token() -> str:
    """A random token for Prometheus and scripts (about 190 bits)."""
    return secrets.token_urlsafe(24)


class Verifier:
    """Checks a presented secret against the stored hash; thread-safe."""

    def __init__(self, stored: str) -> None:
        self.n, self.r, self.p, self.salt, self.key = parse_hash(stored)
        self._memo_key = secrets.token_bytes(32)
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def _memo(self, secret: str) -> bytes:
        return hmac.new(self._memo_key, secret.encode("utf-8"), hashlib.sha256).digest()

    def check(self, secret: str) -> bool:
        memo = self._memo(secret)
        if memo in self._good:
            return True
        with self._lock:  # one slow hash at a time, whatever the number of guessing clients
            got = hashlib.scrypt(
                secret.encode("utf-8"),
                salt=self.salt,
                n=self.n,
                r=self.r,
                p=self.p,
                maxmem=256 * 1024 * 1024,
                dklen=len(self.key),
            )
        if hmac.compare_digest(got, self.key):
            self._good.add(memo)
            return True
        return False

    def check_header(self, header: str | None) -> bool:
        """An ``Authorization`` header value: ``Bearer TOKEN`` or ``Basic base64(user:password)``."""
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return self.check(value)
        if scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            _, sep, password = decoded.partition(":")
            return bool(sep) and bool(password) and self.check(password)
        return False
