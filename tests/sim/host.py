"""A bare host for engine tests: builds request frames with the spec's codec and parses replies.

It talks to ``Simulator.feed`` (no line timing) so behaviour tests run in
microseconds and do not depend on any particular client implementation.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pvapp.sim import Simulator
from pvgen.runtime.framing import Frame


class Host:
    def __init__(self, sim: Simulator, module: ModuleType | Any) -> None:
        self.sim = sim
        self.m = module
        self.spec = module.SPEC
        self.codec = module.CODEC
        self.host = self.spec.frame.host_address
        self.bcast = self.spec.frame.broadcast_address

    def request(self, command: str, payload: bytes = b"", *, dst: int | None = None) -> bytes:
        cmd = self.spec.command(command)
        if self.spec.frame.address_width:
            return bytes(
                self.codec.build(
                    cmd.control, cmd.function, payload, src=self.host, dst=self.bcast if dst is None else dst
                )
            )
        return bytes(self.codec.build(cmd.control, cmd.function, payload))

    def ask(self, command: str, payload: bytes = b"", *, dst: int | None = None) -> list[Frame]:
        """Send one request; return every reply frame (parsed and checksum-verified)."""
        raw = self.sim.feed(self.request(command, payload, dst=dst))
        framer = self.sim.new_framer()
        frames = framer.feed(raw)
        assert framer.pending() == 0 and framer.stats.garbage_bytes == 0, raw.hex()
        return frames

    def one(self, command: str, payload: bytes = b"", *, dst: int | None = None) -> Frame:
        frames = self.ask(command, payload, dst=dst)
        assert len(frames) == 1, f"{command}: expected one reply, got {len(frames)}"
        return frames[0]

    def handshake(self, address: int = 1, *, reset: bool = True) -> str:
        if reset:
            self.ask("reset")
        serial = self.one("discover").payload.decode("ascii")
        ack = self.one("register", self.m.encode_register(serial, address))
        assert ack.payload == b"\x06" and ack.src == address
        return serial

    def status(self, address: int = 1) -> dict[str, Any]:
        layout = self.spec.model(self.sim.options.model).status_layout
        frame = self.one("status", dst=address)
        return dict(self.m.decode_status(layout, frame.payload).values())
