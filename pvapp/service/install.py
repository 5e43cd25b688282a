"""``pv service install``: a systemd unit for ``pv monitor`` on a Raspberry Pi.

The unit comes from ``pvapp/data/pv-monitor.service`` (also the documented
manual route).  Before writing, the account that will run the service is
checked for membership of ``dialout``: without it every serial port fails with
"permission denied", which is the most common first-run problem on a Pi.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "pv-monitor.service"
TEMPLATE = "pv-monitor.service.txt"  # .txt so that it ships as package data


def unit_text(*, user: str, pv_path: str, config: str) -> str:
    template = resources.files("pvapp.data").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return template.replace("@USER@", user).replace("@PV@", pv_path).replace("@CONFIG@", config)


def in_dialout(user: str) -> bool | None:
    """True/False, or None when there is no dialout group on this system."""
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


def install(*, user: str | None, unit_dir: str, config: str | None, dry_run: bool, pv_path: str | None) -> int:
    user = user or getpass.getuser()
    try:
        pwd.getpwnam(user)
    except KeyError:
        print(f"pv service install: --user: no such account {user!r}", file=sys.stderr)
        return 2
    exe = pv_path or shutil.which("pv") or str(Path(sys.argv[0]).resolve())
    conf = config or "/etc/pv/pv.toml"
    text = unit_text(user=user, pv_path=exe, config=conf)
    member = in_dialout(user)
    if member is False:
        print(
            f"warning: {user} is not in the dialout group, so it cannot open serial ports. Fix: "
            f"sudo usermod -aG dialout {user}  (the unit also adds dialout as a supplementary group)",
            file=sys.stderr,
        )
    if not Path(conf).exists():
        print(f"note: {conf} does not exist yet; create it with: pv config init {conf}", file=sys.stderr)
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
