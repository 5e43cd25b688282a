"""One monitor per database and per port: advisory locks that name their holder.

Two monitors on one database would both upload its queue and fight over the
demo's file; two on one serial line would interleave requests and reset each
other's registrations.  Neither fails loudly by itself, so ``pv monitor`` takes
a lock on each before it starts and refuses to run if another process holds one,
saying which process that is.

``flock`` is used (not a pid file checked for staleness): the kernel drops the
lock when its holder dies, even by SIGKILL, so a crash never leaves a lock that
blocks the next start.  The lock file holds the holder's pid and command line for
the message; it is removed on a clean exit.  The database's lock lives beside it
(``pv.sqlite.lock``: same folder, same permissions, seen by every user of the
file); a port's lock lives in ``/run/lock`` (``$PV_LOCK_DIR`` overrides), named
after the device's real path, so ``/dev/serial/by-id/...`` and ``/dev/ttyUSB0``
are one port.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path


class LockBusy(Exception):
    """Another process holds the lock; ``str()`` names it."""

    def __init__(self, what: str, holder: str) -> None:
        super().__init__(f"{what} is in use by another process ({holder})")
        self.what = what
        self.holder = holder


class FileLock:
    """An exclusive ``flock`` on ``path``, taken without waiting."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``LockBusy`` (``OSError`` if the file cannot be made)."""
        with contextlib.suppress(OSError):  # the database's folder may not exist yet
            self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = _open(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise LockBusy(self.what, holder or "pid unknown") from None
            # The previous holder removes the file on exit: if it did so between our open and
            # our flock, we hold a lock on a file nobody else will open.  Start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self.fd = fd
            _write(fd, holder_text())
            return
        raise OSError(errno.EAGAIN, "lock file keeps changing", str(self.path))

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still holding it: a newcomer then starts over (above)
        os.close(self.fd)
        self.fd = None


def holder_text() -> str:
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    command = "".join(c if c.isprintable() else "?" for c in command)[:200]
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()}: {command}, since {since}"


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        # someone else's lock file: a read-only descriptor can still be locked
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    return fd


def _read(fd: int) -> str:
    try:
        text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return "".join(c if c.isprintable() else "?" for c in text)


def _write(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):  # a read-only descriptor: the lock still holds
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)


# -- what to lock -----------------------------------------------------------------------


def database_lock(path: Path) -> FileLock | None:
    if str(path) == ":memory:":
        return None
    return FileLock(path.parent / (path.name + ".lock"), f"the database {path}")


def port_lock(port: str, env: Mapping[str, str] | None = None) -> FileLock | None:
    """The lock of a serial device or a TCP bridge; None for in-process simulators."""
    if port.startswith("sim://"):
        return None  # a fresh simulator in this process: nothing is shared
    if re.search(r"://[^/?]*:0(?:[/?]|$)", port):
        return None  # an ephemeral TCP port (port 0): the kernel gives every process its own
    key = port.split("?", 1)[0] if "://" in port else os.path.realpath(port)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")
    if len(name) > 80:
        name = name[:60] + "-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return FileLock(lock_dir(env) / f"pv-port-{name}.lock", f"port {port}")


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("PV_LOCK_DIR"):
        return Path(env["PV_LOCK_DIR"])
    for candidate in ("/run/lock", "/var/lock", env.get("XDG_RUNTIME_DIR", "")):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


class MonitorLocks:
    """The database's lock and every port's, taken together or not at all."""

    def __init__(self, database: Path, ports: list[str]) -> None:
        locks = [database_lock(database), *(port_lock(p) for p in ports)]
        self.locks = [lock for lock in locks if lock is not None]
        self.held: list[FileLock] = []

    def acquire(self) -> None:
        try:
            for lock in self.locks:
                lock.acquire()
                self.held.append(lock)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        while self.held:
            self.held.pop().release()
