"""``pv service install``: a sandboxed systemd unit for ``pv monitor`` on a Raspberry Pi.

The unit comes from ``pvapp/data/pv-monitor.service.txt`` (also the documented
manual route).  It runs as a dedicated unprivileged account, ``pv`` by
default and never root: a monitor that parses bytes from a serial line and
replies from the network has no use for root, and ``sudo pv service install``
must not turn into ``User=root``.  The account is created once with the command
``SERVICE_ACCOUNT_COMMAND`` (printed when it is missing); ``--user`` picks
another one (for instance the account that installed pv with pipx in its home).

Values written into the unit are quoted for systemd (``"..."`` with ``\\``,
``"``, ``%`` and ``$`` escaped) and refused if they hold control characters, so
a path with spaces works and no path can add a directive.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "pv-monitor.service"
TEMPLATE = "pv-monitor.service.txt"  # .txt so that it ships as package data
DEFAULT_ACCOUNT = "pv"
SERVICE_ACCOUNT_COMMAND = (
    "sudo useradd --system --user-group --home-dir /var/lib/pv --no-create-home "
    "--shell /usr/sbin/nologin --groups dialout pv"
)
ENV_FILE = "/etc/pv/pv.env"
SYSTEM_DOCS = "man:systemd.exec(5)"  # what the sandboxing directives mean
HOMES = ("/home/", "/root/", "/run/user/")  # hidden from the service by ProtectHome=yes


class UnitValueError(ValueError):
    """A value that cannot be written into a unit file safely."""


def quote(value: str) -> str:
    """One ExecStart argument, double-quoted for systemd; specifiers and variables kept literal."""
    if not value or any(not ch.isprintable() for ch in value):
        raise UnitValueError(f"{value!r} is empty or holds control characters")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def _docs() -> str:
    """Documentation= URLs: systemd's own page, and this checkout's docs when they are on disk."""
    urls = [SYSTEM_DOCS]
    docs = Path(__file__).resolve().parents[2] / "docs"
    for name in ("monitor.md", "security.md"):
        if (docs / name).is_file():
            urls.append((docs / name).as_uri())
    return " ".join(urls)


def unit_text(*, user: str, pv_path: str, config: str, group: str | None = None) -> str:
    """The unit for ``user`` running ``pv_path --config config monitor``; ValueError on unsafe values."""
    for name, value in (("user", user), ("group", group or user)):
        if not value or any(not (ch.isalnum() or ch in "._-") for ch in value):
            raise UnitValueError(f"{name} {value!r} is not an account name")
    template = resources.files("pvapp.data").joinpath(TEMPLATE).read_text(encoding="utf-8")
    in_home = any(str(Path(pv_path)).startswith(h) for h in HOMES)
    values = {
        "@EXEC@": f"{quote(pv_path)} --config {quote(config)}",
        "@USER@": user,
        "@GROUP@": group or user,
        # a pv installed with pipx in the account's home must stay readable; otherwise hide homes
        "@PROTECT_HOME@": "read-only" if in_home else "yes",
        "@DOCS@": _docs(),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _check_secret_file(path: str) -> None:
    """The EnvironmentFile holds the API key and broker password: root only."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if st.st_mode & 0o077 or st.st_uid != 0:
        print(
            f"warning: {path} holds secrets but is readable by others (mode {stat.filemode(st.st_mode)}, "
            f"owner uid {st.st_uid}). Fix: sudo chown root:root {path} && sudo chmod 600 {path}",
            file=sys.stderr,
        )


def install(*, user: str | None, unit_dir: str, config: str | None, dry_run: bool, pv_path: str | None) -> int:
    account = user or DEFAULT_ACCOUNT
    exe = pv_path or shutil.which("pv") or str(Path(sys.argv[0]).resolve())
    conf = str(Path(config).absolute()) if config else "/etc/pv/pv.toml"
    try:
        entry: pwd.struct_passwd | None = pwd.getpwnam(account)
    except KeyError:
        entry = None
    if entry is None and user is not None:
        print(f"pv service install: --user: no such account {account!r}", file=sys.stderr)
        return 2
    if entry is not None and entry.pw_uid == 0:
        print(
            f"pv service install: --user: {account} is root; pv monitor never needs root (serial ports need the "
            f"dialout group, which the unit adds). Use the default account {DEFAULT_ACCOUNT!r} or another one",
            file=sys.stderr,
        )
        return 2
    if entry is None:
        print(
            f"{'note' if dry_run else 'pv service install'}: the service account {account!r} does not exist yet; "
            f"create it with: {SERVICE_ACCOUNT_COMMAND}  (or run the service as another account with --user)",
            file=sys.stderr,
        )
        if not dry_run:
            return 2
    if user is None and any(str(Path(exe)).startswith(h) for h in HOMES):
        print(
            f"pv service install: the {account!r} account cannot run {exe}: it is inside a home directory, "
            "which the unit hides (ProtectHome=yes). Install pv for the whole system "
            "(sudo PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install ./pv), "
            "or run the service as the account that owns it (--user NAME)",
            file=sys.stderr,
        )
        return 2
    group = account
    if entry is not None:
        try:
            import grp

            group = grp.getgrgid(entry.pw_gid).gr_name
        except KeyError:
            group = account
    try:
        text = unit_text(user=account, group=group, pv_path=exe, config=conf)
    except UnitValueError as exc:
        print(f"pv service install: --pv-path/--config-path: {exc}", file=sys.stderr)
        return 2
    if user is not None and in_dialout(account) is False:
        print(
            f"note: {account} is not in the dialout group. The service gets it from the unit "
            f"(SupplementaryGroups=dialout); for `pv status` by hand as {account}: sudo usermod -aG dialout {account}",
            file=sys.stderr,
        )
    if not Path(conf).exists():
        print(f"note: {conf} does not exist yet; create it with: pv config init {conf}", file=sys.stderr)
    _check_secret_file(ENV_FILE)
    if dry_run:
        sys.stdout.write(text)
        return 0
    target = Path(unit_dir) / UNIT_NAME
    try:
        target.write_text(text, encoding="utf-8")
    except PermissionError:
        print(
            f"pv service install: cannot write {target}: permission denied (run with sudo, or --dry-run)",
            file=sys.stderr,
        )
        return 1
    except FileNotFoundError:
        print(f"pv service install: --unit-dir: no such directory {unit_dir}", file=sys.stderr)
        return 2
    os.chmod(target, 0o644)
    print(f"wrote {target}\nnext: sudo systemctl daemon-reload && sudo systemctl enable --now pv-monitor")
    print("logs: journalctl -u pv-monitor -f")
    return 0


def in_dialout(user: str) -> bool | None:
    """True/False, or None when there is no dialout group on this system."""
    import grp

    try:
        group = grp.getgrnam("dialout")
    except KeyError:
        return None
    if user in group.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == group.gr_gid
    except KeyError:
        return False
