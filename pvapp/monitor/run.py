"""Putting a configuration to work: storage, outputs, uploader, monitor; and ``pv upload``."""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from pvapp.clock import Clock, ScaledClock
from pvapp.config import DEMO_PORT, Config
from pvapp.outputs.pvoutput_upload import PVOutputUploader, RoundResult
from pvapp.reading import Output
from pvapp.storage import Storage, StorageError

from .display import ConsoleOutput
from .lock import LockBusy, MonitorLocks
from .service import Monitor

log = logging.getLogger("pv.monitor")

DEMO_MARK = "demo"  # event kind that marks a database as the demo's own


class StartupError(Exception):
    """The monitor cannot start (database unusable...): one line, exit status 1."""


def sim_url_for_clock(url: str, clock: Clock) -> str:
    """Give a ``sim://`` URL the monitor's clock (sped up, or real), unless it sets its own.

    The simulator and the monitor must agree on the simulated time, or the
    readings would be stamped with a different day than the one simulated.
    The spec module is imported first so that the simulator is created right
    after ``start`` is read from the clock (a delay here shifts the two clocks
    by delay x speed).
    """
    if not url.startswith("sim://"):
        return url
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if "speed" in query or "start" in query:
        return url
    if isinstance(clock, ScaledClock):
        query["speed"] = [f"{clock.speed:g}"]
        query["start"] = [clock.now().isoformat()]
    else:
        # The monitor runs on the real clock: so does the simulator, nights included (a one-shot
        # command's simulator starts at noon when it is night, which a monitor must not do).
        query["start"] = ["now"]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))


def make_open_port(clock: Clock) -> Any:
    def open_port(url: str, spec: Any, timeout: float | None) -> Any:
        import pv

        return pv.open_port(sim_url_for_clock(url, clock), spec=spec, timeout=timeout)

    return open_port


def open_storage(cfg: Config) -> Storage:
    """Open the database and make sure it can be written: a monitor that cannot store is not started."""
    try:
        storage = Storage(cfg.storage.path, synchronous=cfg.storage.synchronous)
    except StorageError as exc:
        raise StartupError(str(exc)) from None
    try:
        storage.check_writable()
    except StorageError as exc:
        storage.close()
        raise StartupError(str(exc)) from None
    return storage


def reset_demo_database(path: Path) -> None:
    """Delete the previous demo run's database (the simulated day starts over), and nothing else.

    The file is removed only if it is a pv database the demo wrote (it carries a
    ``demo`` event; databases of older versions qualify if every inverter in them
    is the demo's simulator).  Anything else under that name, a user's copy of a
    real database or a text file, is left alone and the demo does not start.
    """
    if not path.exists():
        for suffix in ("-wal", "-shm"):  # leftovers of a demo database deleted by hand
            (path.parent / (path.name + suffix)).unlink(missing_ok=True)
        return
    if not _written_by_demo(path):
        raise StartupError(
            f"{path} exists but was not written by the demo, which replaces its database on every run; "
            "it is left as it is: move it away, or run `pv monitor` in another folder"
        )
    for suffix in ("", "-wal", "-shm"):
        (path.parent / (path.name + suffix)).unlink(missing_ok=True)


def _written_by_demo(path: Path) -> bool:
    try:
        db = Storage(path, readonly=True)
    except StorageError:
        return False
    try:
        if db.events(kind=DEMO_MARK):
            return True
        return all(r["port"] == DEMO_PORT for r in db.inverters())
    except (StorageError, sqlite3.Error):
        return False
    finally:
        db.close()


def build_outputs(cfg: Config, *, live: bool | None, storage: Storage | None = None) -> list[Output]:
    outputs: list[Output] = [ConsoleOutput(sys.stdout, tz=cfg.timezone, live=live)]
    if cfg.mqtt_config is not None and storage is not None:
        mqtt_output = importlib.import_module("pvapp.outputs.mqtt")
        serials = [i.serial for p in cfg.ports for i in p.inverters if i.serial]
        all_known = all(i.serial for p in cfg.ports for i in p.inverters)
        outputs.append(
            mqtt_output.MqttOutput(
                cfg.mqtt_config,
                configured_serials=serials if all_known else None,
                history=storage.history,
            )
        )
    return outputs


def run_monitor(
    cfg: Config, *, clock: Clock, live: bool | None = None, duration: float | None = None, no_upload: bool = False
) -> int:
    locks = MonitorLocks(cfg.storage.path, [p.port for p in cfg.ports])
    try:
        locks.acquire()
    except LockBusy as exc:
        print(f"pv monitor: {exc}; one monitor per database and per port: stop it first", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pv monitor: cannot create the lock file {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        return _run_monitor(cfg, clock=clock, live=live, duration=duration, no_upload=no_upload)
    finally:
        locks.release()


def _run_monitor(
    cfg: Config, *, clock: Clock, live: bool | None = None, duration: float | None = None, no_upload: bool = False
) -> int:
    if cfg.demo:
        try:
            reset_demo_database(cfg.storage.path)
        except StartupError as exc:
            print(f"pv monitor: {exc}", file=sys.stderr)
            return 1
        start = clock.now().astimezone(cfg.timezone).strftime("%H:%M")
        print(
            f"pv monitor: no configuration found, running the built-in simulator (sim://cms, a simulated CMS 2000"
            f" at {clock.speed:g}x speed from {start}); readings go to {cfg.storage.path}"
            " (recreated on each demo run). `pv config init` writes a configuration to start from.\n"
            f"pv monitor: the demo's clock runs {clock.speed:g}x: a poll every {cfg.poll_interval:g} simulated"
            f" seconds is {clock.speed / cfg.poll_interval:g} readings per real second, stamped with the simulated"
            " time of day; log lines carry the real time.",
            file=sys.stderr,
            flush=True,
        )
    else:
        ports = ", ".join(p.port for p in cfg.ports)
        log.info("pv monitor: configuration %s; ports %s; storage %s", cfg.source, ports, cfg.storage.path)
    try:
        storage = open_storage(cfg)
        if cfg.demo:
            storage.record_event(clock.now(), DEMO_MARK, detail="written by the demo; replaced on its next run")
    except (StartupError, StorageError) as exc:
        print(f"pv monitor: {exc}", file=sys.stderr)
        return 1
    outputs = build_outputs(cfg, live=live, storage=storage)
    web = start_web(cfg, clock)
    if web is not None:
        outputs.append(web.output)
    console = outputs[0]
    saved_handlers = list(logging.getLogger().handlers)
    if isinstance(console, ConsoleOutput) and console.live and _same_terminal():
        # log lines would scroll the table away: show the last few under it instead
        logging.getLogger().handlers[:] = [console.log_handler()]
    stop = threading.Event()
    uploader = None
    if cfg.pvoutput is not None and cfg.pvoutput_systems and not no_upload:
        if not cfg.pvoutput.api_key:
            log.warning("PVOutput: PV_PVOUTPUT_API_KEY is not set; statuses are queued in the database, not sent")
        else:
            uploader = PVOutputUploader(
                cfg.pvoutput,
                sorted(cfg.pvoutput_systems),
                storage=storage,
                clock=clock,
                tz=cfg.timezone,
                stop=stop,
            )
    monitor = Monitor(
        cfg,
        clock=clock,
        storage=storage,
        outputs=outputs,
        open_port=make_open_port(clock),
        uploader=uploader,
        stop=stop,
    )
    if web is not None:
        web.attach(monitor)
    try:
        monitor.run(duration=duration)
    finally:
        if web is not None:
            web.stop()
        storage.close()
        logging.getLogger().handlers[:] = saved_handlers
    log.info("stopped: %d readings stored this run", monitor.readings_stored)
    return monitor.exit_code


def start_web(cfg: Config, clock: Clock) -> Any:
    """The web page and /metrics on their own threads; None when off or when the address is taken.

    A taken port does not stop the monitor: collecting readings matters more
    than showing them, so it says so once and polls on.
    """
    if not cfg.web.enabled:
        return None
    from pvapp.web.server import WebError, WebServer

    try:
        web = WebServer(cfg, now=clock.now)
        web.start()
    except (WebError, OSError) as exc:
        log.error("web page not served: %s (choose another with --web ADDR:PORT, or --no-web)", exc)
        return None
    log.info("web page: %s", web.url)
    return web


def _same_terminal() -> bool:
    try:
        return sys.stderr.isatty() and sys.stdout.isatty() and os.ttyname(2) == os.ttyname(1)
    except OSError:
        return False


def upload_now(cfg: Config, *, clock: Clock, system: int | None = None) -> dict[int, RoundResult]:
    """``pv upload``: one round per system, right now, then exit."""
    assert cfg.pvoutput is not None
    storage = open_storage(cfg)
    systems = sorted(cfg.pvoutput_systems) if system is None else [system]
    stop = threading.Event()
    uploader = PVOutputUploader(cfg.pvoutput, systems, storage=storage, clock=clock, tz=cfg.timezone, stop=stop)
    try:
        return {sid: uploader.upload_round(sid) for sid in systems}
    finally:
        storage.close()
