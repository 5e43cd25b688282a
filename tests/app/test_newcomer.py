"""A newcomer runs every command the README and docs/ show, at midnight and at noon.

The commands are read from the Markdown (``documented.py``), so a command newly
written into the docs is run here without changing this file.  Each runs in its
own empty folder with its own HOME (nothing of the user's is read or touched),
on the built-in simulator, with the local clock at 00:00 or 12:00 (a fixed-offset
``TZ``, see ``night.py``): the time at which a newcomer found nothing answering.

What the documentation's placeholders become: ``PORT`` is ``sim://cms``; a device
path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``) is a real pseudo-terminal served
by ``pv simulate --link`` in that folder; ``/etc/...``, ``/tmp/...`` paths move into
the folder; ``NAME VALUE`` is ``t_start 60``; ``FILE`` is a capture (or, after
``-o``, an output file); TCP ports are ephemeral.  Long-running commands run the way
the README says, with ``--duration`` (``pv pvoutput-service`` has none: it must be
alive after two seconds and is then stopped).  ``pv service install`` writes into
the folder (``--unit-dir``), never /etc.

The README's second command (the test suite itself) and the install steps are run
by CI (`.ci/run`), not from inside the suite.
"""

from __future__ import annotations

import getpass
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pv
import pytest

from .conftest import REPO, pv_cmd, pv_env
from .documented import DOC_FILES, documented_commands, expand
from .night import local_hour, zone_at

SHIPPED_SPECS = pv.SHIPPED_SPECS  # a --spec not among them is a user spec the docs write

HOURS = (0, 12)
SERIAL = "0905BO0139"  # the simulated CMS 2000's serial (captured model data)
SAMIL_SERIAL = "S221151415"  # the simulated SolarRiver TL-D's

# Documented commands that cannot run here, and why (each is still checked to parse).
NOT_RUN: dict[str, str] = {}
"""Documented flags a test cannot run here, with the reason (none today: every listener binds loopback)."""


def _collect() -> dict[tuple[tuple[str, ...], ...], list[tuple[str, str]]]:
    """Distinct documented chains (expanded) -> where each is written, and how (block, table, inline)."""
    out: dict[tuple[tuple[str, ...], ...], list[tuple[str, str]]] = {}
    for doc in documented_commands():
        variants = [expand(words) for words in doc.chain]
        # a single command: each variant on its own; a chain (a && b): one run, in one folder
        single = len(doc.chain) == 1
        chains = [(tuple(v),) for v in variants[0]] if single else [tuple(tuple(v[0]) for v in variants)]
        for chain in chains:
            out.setdefault(chain, []).append((doc.where, doc.kind))
    return out


DOCUMENTED = _collect()


def _id(chain: tuple[tuple[str, ...], ...]) -> str:
    return " && ".join(" ".join(c) for c in chain)[:80]


@dataclass
class Folder:
    """One newcomer's empty folder, at one hour."""

    path: Path
    hour: int
    env: dict[str, str] = field(default_factory=dict)
    device: str | None = None
    listen: int | None = None
    stdin: str | None = None  # a documented `< FILE`, for the command being run
    _sims: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        tz = zone_at(self.hour)
        assert local_hour(tz) == self.hour
        (self.path / "locks").mkdir()
        self.env = pv_env(
            TZ=tz,
            HOME=str(self.path / "home"),
            XDG_CONFIG_HOME=str(self.path / "home" / ".config"),
            XDG_DATA_HOME=str(self.path / "home" / ".local" / "share"),
            PV_LOCK_DIR=str(self.path / "locks"),
        )

    def pty(self) -> str:
        """A simulated inverter behind a real pseudo-terminal, started at this hour."""
        if self.device is None:
            link = self.path / "dev" / "ttyINV"
            link.parent.mkdir(exist_ok=True)
            sim = self._start("simulate", "--pty", "--link", str(link))
            assert sim.stdout is not None
            while not sim.stdout.readline().startswith("link:"):
                assert sim.poll() is None, "pv simulate did not start"
            self.device = str(link)
        return self.device

    def listen_port(self) -> int:
        """A loopback port for `listen://`, with a simulated Samil TCP unit calling it (as units do)."""
        if self.listen is None:
            self.listen = _closed_port()
            self._start("simulate", "--spec", "samil_tcp", "--connect", f"127.0.0.1:{self.listen}")
        return self.listen

    def user_spec(self, spec_id: str) -> None:
        """A spec of the user's own, written as docs/user-specs.md writes it, and PV_SPECS pointing at it."""
        specs = self.path / "home" / "pv-specs"
        target = specs / f"{spec_id}.yaml"
        if target.exists():
            return
        text = next(
            (
                m.group(1)
                for doc in DOC_FILES
                for m in re.finditer(
                    rf"cat > ~/pv-specs/{re.escape(spec_id)}\.yaml <<'EOF'\n(.*?)^\s*EOF$",
                    doc.read_text(encoding="utf-8"),
                    re.S | re.M,
                )
            ),
            None,
        )
        assert text is not None, f"--spec {spec_id}: not shipped, and no doc writes ~/pv-specs/{spec_id}.yaml"
        specs.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
        self.env["PV_SPECS"] = str(specs)
        self.env["PV_SPECS_CACHE"] = str(self.path / "spec-cache")

    def _start(self, *args: str) -> subprocess.Popen[str]:
        sim = subprocess.Popen(pv_cmd(*args), env=self.env, stdout=subprocess.PIPE, text=True)
        self._sims.append(sim)
        return sim

    def close(self) -> None:
        for sim in self._sims:
            sim.terminate()
            sim.communicate(timeout=20)


@pytest.fixture
def folder(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Folder]:
    f = Folder(tmp_path, request.param)
    yield f
    f.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _capture(folder: Folder) -> str:
    """A hex capture of one real exchange with the simulator, for `pv decode FILE`."""
    path = folder.path / "capture.txt"
    if not path.exists():
        import pv  # noqa: F401  (registers sim://)
        import serial
        from pv import cms

        port = serial.serial_for_url("sim://cms?awake=always", timeout=1)
        inv = cms.Inverter(port)
        inv.handshake()
        inv.read_status()
        path.write_text(bytes(inv.last_frame).hex(" ") + "\n", encoding="utf-8")
        port.close()
    return str(path)


def concrete(words: tuple[str, ...], folder: Folder) -> list[str]:
    """A documented command line as a newcomer would type it here."""
    out: list[str] = []
    listening = any(w.startswith("listen://") or w == "--listen" for w in words)
    folder.stdin = None
    for i, tok in enumerate(words):
        prev = words[i - 1] if i else ""
        if tok in (">", "<", "2>") or prev in (">", "2>"):
            continue  # shell redirections: output is captured anyway; input is handled below
        if prev == "<":
            folder.stdin = _capture(folder) if tok == "FILE" else tok
            continue
        if tok == "PORT":
            tok = "sim://samil_tcp" if words[0] == "history" else "sim://cms"
        elif tok == "DAY":
            tok = time.strftime("%Y-%m-%d")  # today, in the folder's zone (TZ is set for the run)
        elif tok.startswith("listen://"):
            tok = f"listen://127.0.0.1:{folder.listen_port()}"
        elif prev == "--listen" and re.fullmatch(r"[\w.:\[\]]+:\d+", tok):
            continue  # replaced below, with the loopback port
        elif prev == "--advertise":
            tok = "off"  # tests never broadcast on the LAN
        elif tok.startswith("/dev/"):
            tok = folder.pty()
        elif tok == "NAME":
            tok = "t_start"
        elif tok == "VALUE":
            tok = "60"
        elif tok == "FILE":
            tok = str(folder.path / "out.file") if prev in ("-o", "--output") else _capture(folder)
        elif tok in ("<id>", "ID") and prev == "--spec":
            tok = "cms"
        elif tok == "ID" and prev == "--model":
            tok = "cms2000"  # a model of the spec above (pv decode --model)
        elif prev == "--spec" and tok not in SHIPPED_SPECS:
            folder.user_spec(tok)  # a spec of the user's own, as the docs write it
        elif tok == "$USER":
            # as the README means it: the user who runs sudo (never root, which the unit refuses)
            tok = getpass.getuser() if getpass.getuser() != "root" else "nobody"
        elif re.fullmatch(r"HOST:\d+", tok):
            tok = f"127.0.0.1:{_closed_port()}"
        elif prev in ("--tcp", "--discovery") and tok.isdigit():
            tok = "0"  # an ephemeral port (the simulator's listeners bind loopback unless told otherwise)
        elif tok.startswith(("/etc/", "/var/", "/tmp/")):
            moved = folder.path / tok.lstrip("/")
            moved.parent.mkdir(parents=True, exist_ok=True)
            tok = str(moved)
        out.append(tok)
        if tok == "--listen":
            out.append(f"127.0.0.1:{folder.listen_port()}")
    if listening and "--advertise" not in out:
        out += ["--advertise", "off"]
    command = out[:2]
    if out[0] == "monitor" and "--duration" not in out:
        # a unit that connects in calls back every few seconds: give it the time to
        out += ["--duration", "8" if listening else "2"]
    if out[0] == "simulate" and "--duration" not in out:
        out += ["--duration", "2"]
    if command == ["service", "install"] and "--unit-dir" not in out:
        (folder.path / "units").mkdir(exist_ok=True)
        out += ["--unit-dir", str(folder.path / "units")]
    if out[0] == "pvoutput-service" and "--port" not in out:
        out += ["--port", "0"]
    return out


def expected_status(argv: list[str]) -> tuple[int, str]:
    """(exit status, text it must show) for a newcomer without a configuration."""
    if argv[0] in ("upload", "backfill"):
        return 2, "[pvoutput]"  # nothing to upload to without a configuration: says what is missing
    if argv[0] == "set" and "--yes" not in argv:
        return 2, "refusing to write without confirmation: add --yes"
    if argv[0] == "history" and not any("://" in a for a in argv):
        return 2, "listen://"  # the unit's port comes from the configuration, which a newcomer has not written
    if argv[:2] == ["service", "install"] and "--user" not in argv and not _account("pv"):
        return 2, "useradd"  # the default service account: says how to create it
    return 0, ""


def _account(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def run(argv: list[str], folder: Folder) -> subprocess.CompletedProcess[str]:
    if argv[0] == "pvoutput-service":
        proc = subprocess.Popen(
            pv_cmd(*argv), cwd=folder.path, env=folder.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(2)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()  # never left running after the test
            proc.communicate()
            raise
        return subprocess.CompletedProcess(argv, 0 if alive else proc.returncode, out, err)
    if argv[:2] == ["web", "password"] and "--generate" not in argv:
        # typed twice at a terminal; a script (like this test) gives it on standard input, as documented
        return subprocess.run(
            pv_cmd(*argv),
            cwd=folder.path,
            env=folder.env,
            input="a long password for the page\n",
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    if folder.stdin is not None:
        with open(folder.stdin, "rb") as stdin:
            done = subprocess.run(
                pv_cmd(*argv),
                cwd=folder.path,
                env=folder.env,
                stdin=stdin,
                capture_output=True,
                timeout=90,
                check=False,
            )
        return subprocess.CompletedProcess(argv, done.returncode, done.stdout.decode(), done.stderr.decode())
    return subprocess.run(
        pv_cmd(*argv), cwd=folder.path, env=folder.env, capture_output=True, text=True, timeout=90, check=False
    )


def check(argv: list[str], proc: subprocess.CompletedProcess[str], where: list[str], folder: Folder) -> None:
    what = f"`pv {' '.join(argv)}` (documented at {', '.join(where[:3])}) at {folder.hour:02d}:00"
    status, text = expected_status(argv)
    assert proc.returncode == status, f"{what}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert text in proc.stderr + proc.stdout, f"{what}: no {text!r}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, f"{what}:\n{proc.stderr}"
    if status:
        return
    if argv[0] in ("status", "info", "params", "discover", "history"):
        serial = SAMIL_SERIAL if any(a.startswith(("listen://", "sim://samil_tcp")) for a in argv) else SERIAL
        assert serial in proc.stdout, f"{what}: the inverter did not answer\n{proc.stdout}\n{proc.stderr}"
    if argv[0] == "set":
        assert "T-Start is now 60 s" in proc.stdout, f"{what}:\n{proc.stdout}"
    if argv[0] == "monitor":
        assert "Pac" in proc.stdout, f"{what}: no reading\n{proc.stderr[-2000:]}"
    if argv[0] == "decode":
        assert "frames" in proc.stdout, f"{what}:\n{proc.stdout}"
    if argv[:2] == ["web", "password"]:
        assert "password_hash" in proc.stdout, f"{what}:\n{proc.stdout}"


@pytest.mark.parametrize("folder", HOURS, ids=lambda h: f"{h:02d}h", indirect=True)
@pytest.mark.parametrize("chain", list(DOCUMENTED), ids=_id)
def test_documented_command(chain: tuple[tuple[str, ...], ...], folder: Folder) -> None:
    where = [w for w, _ in DOCUMENTED[chain]]
    # named in a sentence ("`pv set` refuses ..."), not shown as a command line to type
    mention = all(kind == "inline" for _, kind in DOCUMENTED[chain])
    for words in chain:
        skip = next((why for flag, why in NOT_RUN.items() if flag in words), None)
        argv = concrete(words, folder)
        if skip:
            flag = next(w for w in words if w in NOT_RUN)
            helped = run([argv[0], "--help"], folder)  # still an option pv has, as documented
            assert helped.returncode == 0 and flag in helped.stdout
            pytest.skip(f"`pv {' '.join(words)}`: {skip}")
        if argv[0] == "export":
            # what a newcomer exports: the demo's readings, right after `pv monitor` in that folder
            demo = run(["monitor", "--duration", "2"], folder)
            assert demo.returncode == 0, demo.stderr
        proc = run(argv, folder)
        missing = "arguments are required" in proc.stderr or "expected one argument" in proc.stderr
        if mention and proc.returncode == 2 and missing:
            # a mention without its arguments: it must be a command pv has, refusing in one line
            assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert run([argv[0], "--help"], folder).returncode == 0
            continue
        check(argv, proc, where, folder)
        if argv[0] == "export" and not {"-o", "--format", "--history", "--from", "--to"} & set(argv):
            assert len(proc.stdout.splitlines()) > 1, f"`pv {' '.join(argv)}` exported no readings"


def test_the_docs_show_every_command_and_the_readme_s_first() -> None:
    """The collection above is not empty by accident: every `pv` command is documented and collected."""
    from pvapp.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    documented = {chain[0][0] for chain in DOCUMENTED}
    assert set(sub.choices) <= documented, set(sub.choices) - documented
    assert (("monitor",),) in DOCUMENTED and ("README.md:6", "block") in DOCUMENTED[(("monitor",),)]


# -- the README's API snippet and the pv 0.2 example ------------------------------------------------------


def _readme_snippet() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## The pv 0.2 API.*?```python\n(.*?)```", text, re.S)
    assert block, "README: no pv 0.2 API snippet"
    return block.group(1)


@pytest.mark.parametrize("folder", HOURS, ids=lambda h: f"{h:02d}h", indirect=True)
def test_readme_api_snippet_on_a_simulated_serial_port(folder: Folder, request: pytest.FixtureRequest) -> None:
    code = _readme_snippet()
    assert '"/dev/ttyUSB0"' in code
    code = code.replace('"/dev/ttyUSB0"', repr(folder.pty()))  # the same serial.Serial call, on a real pty
    # its PVOutput part talks to the local PVOutput-compatible service (no internet here), same calls
    from pvapp.pvoutput_service.service import PVOutputService

    service = PVOutputService().start()
    request.addfinalizer(service.stop)
    calls = re.findall(r'pvoutput\.Connection\(("[^"]*"), (\d+)\)', code)
    for key, system in calls:
        service.add_system(int(system), tz=folder.env["TZ"])
        service.add_key(key.strip('"'), int(system))
        code = code.replace(
            f"pvoutput.Connection({key}, {system})", f"pvoutput.Connection({key}, {system}, host={service.url!r})"
        )
    script = folder.path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder.path,
        env=folder.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Pac" in proc.stdout and "E-Total" in proc.stdout
    if calls:  # the status went to the (local) PVOutput service, as the snippet says
        assert any(r.path.endswith("addstatus.jsp") and r.status == 200 for r in service.requests)


@pytest.mark.parametrize("folder", HOURS, ids=lambda h: f"{h:02d}h", indirect=True)
def test_readme_legacy_example_on_the_simulator(folder: Folder) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"`(python examples/legacy_example\.py [^`]+)`", text)
    assert command, "README: the legacy example's command is gone"
    args = command.group(1).split()[1:]
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=folder.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Pac" in proc.stdout


def test_newcomer_runs_use_their_own_folders_only(tmp_path: Path) -> None:
    """The placeholders never lead outside the test's folder (no /etc, /tmp or HOME writes)."""
    f = Folder(tmp_path, 12)
    try:
        for chain in DOCUMENTED:
            for words in chain:
                for tok in concrete(words, f)[1:]:
                    if tok.startswith("/"):
                        assert tok.startswith(str(tmp_path)), tok
    finally:
        f.close()
