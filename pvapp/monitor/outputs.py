"""Run each output behind its own bounded queue and thread.

``publish`` on the runner never blocks: if an output falls so far behind that
its queue is full, the oldest queued reading is dropped for *that output only*
(counted and logged once per episode).  The database already holds every
reading, so an output that cares (MQTT republish) can catch up from there.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from pvapp.reading import InverterInfo, InverterState, Output, Reading

log = logging.getLogger("pv.monitor")


@dataclass(frozen=True, slots=True)
class _State:
    inverter: InverterInfo
    state: InverterState


_STOP = object()


class OutputRunner:
    def __init__(self, output: Output, *, maxsize: int = 10000) -> None:
        self.output = output
        self.name = getattr(output, "name", type(output).__name__)
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.failures = 0
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"output {self.name}", daemon=True)

    @property
    def inline(self) -> bool:
        """An output that only copies a reference under a short lock (``inline = True``, the web page's
        live state) is called directly: a queue and a thread wake-up per poll would cost more than it does."""
        return bool(getattr(self.output, "inline", False))

    def start(self) -> None:
        if self.inline:
            self.output.start()
            return
        self._thread.start()

    def publish(self, reading: Reading) -> None:
        if self.inline:
            self._direct(self.output.publish, reading)
            return
        self._put(reading)

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        if self.inline:
            self._direct(self.output.inverter_state, inverter, state)
            return
        self._put(_State(inverter, state))

    def _direct(self, call: Any, *args: Any) -> None:
        try:
            call(*args)
        except Exception as exc:  # never let an output break polling
            self.failures += 1
            if self.failures == 1:
                log.warning("output %s failed: %s (further failures are counted quietly)", self.name, exc)

    def _put(self, item: Any) -> None:
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                    if self.dropped == 1 or self.dropped % 1000 == 0:
                        log.warning("output %s is behind: %d readings dropped for it", self.name, self.dropped)
                except queue.Empty:
                    pass

    def stop(self, timeout: float = 5.0) -> None:
        if self.inline:
            self._direct(self.output.stop)
            return
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.output.start()
        except Exception as exc:
            log.error("output %s failed to start: %s", self.name, exc)
        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            try:
                if isinstance(item, _State):
                    self.output.inverter_state(item.inverter, item.state)
                else:
                    self.output.publish(item)
                if self._failing:
                    log.info("output %s works again", self.name)
                    self._failing = False
            except Exception as exc:
                self.failures += 1
                if not self._failing:
                    log.warning("output %s failed: %s (further failures are counted quietly)", self.name, exc)
                    self._failing = True
        try:
            self.output.stop()
        except Exception as exc:
            log.warning("output %s failed to stop cleanly: %s", self.name, exc)
