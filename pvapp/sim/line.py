"""One connection to the simulated bus, with real-time delivery of the replies.

Every transport (``sim://`` port, pseudo-terminal, TCP client) owns a Line: it
feeds the bytes the client wrote into its own framer, hands complete request
frames to the shared Simulator, and schedules the reply bytes on a real-time
timeline: after the reply latency, serialised one after another as on a
half-duplex wire, optionally paced at the baud rate (10 bits per byte).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from .simulator import Simulator


class Line:
    """Request bytes in, timed reply bytes out."""

    def __init__(self, sim: Simulator, *, baud_pacing: bool | None = None, baud: int | None = None) -> None:
        self.sim = sim
        self.framer = sim.new_framer("request")
        pacing = sim.options.baud_pacing if baud_pacing is None else baud_pacing
        rate = baud or sim.options.baud or sim.spec.transport.baudrate
        self.byte_time = 10.0 / rate if pacing else 0.0
        self._out: deque[tuple[float, bytes]] = deque()
        self._busy_until = 0.0
        self.cond = threading.Condition()

    def receive(self, data: bytes, now: float | None = None) -> None:
        """The client wrote ``data``; answer every complete request frame in it."""
        now = time.monotonic() if now is None else now
        arrival = now + len(data) * self.byte_time  # the request's last byte reaches the inverter
        frames = self.framer.feed(data)
        if not frames:
            return
        with self.cond:
            for frame in frames:
                for outgoing in self.sim.exchange(frame):
                    t = arrival
                    for pause, chunk in outgoing.chunks:
                        start = max(t + pause, self._busy_until)
                        if self.byte_time:
                            for i in range(len(chunk)):
                                self._out.append((start + (i + 1) * self.byte_time, chunk[i : i + 1]))
                            end = start + len(chunk) * self.byte_time
                        else:
                            self._out.append((start, chunk))
                            end = start
                        self._busy_until = t = end
            self.cond.notify_all()

    def next_due(self) -> float | None:
        with self.cond:
            return self._out[0][0] if self._out else None

    def available(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self.cond:
            return sum(len(c) for t, c in self._out if t <= now)

    def take(self, limit: int | None = None, now: float | None = None) -> bytes:
        """Remove and return the reply bytes that have reached the client by now."""
        now = time.monotonic() if now is None else now
        out = bytearray()
        with self.cond:
            while self._out and self._out[0][0] <= now and (limit is None or len(out) < limit):
                t, chunk = self._out.popleft()
                if limit is not None and len(out) + len(chunk) > limit:
                    keep = limit - len(out)
                    out += chunk[:keep]
                    self._out.appendleft((t, chunk[keep:]))
                    break
                out += chunk
        return bytes(out)

    def discard_arrived(self, now: float | None = None) -> None:
        """What reset_input_buffer does: drop what arrived; bytes still on the wire come later."""
        self.take(None, now)

    def pending(self) -> int:
        with self.cond:
            return sum(len(c) for _, c in self._out)

    def clear(self) -> None:
        with self.cond:
            self._out.clear()
            self._busy_until = 0.0
