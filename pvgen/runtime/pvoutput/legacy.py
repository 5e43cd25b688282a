"""pv 0.2's ``Connection``, call for call, so old scripts keep working.

It is a thin shim over the typed client (same validation, HTTPS, key
redaction), with pv 0.2's signatures and results: every call returns the
server's reply text; a 400 raises ``ValueError`` whose text is the server's
(the typed ``Rejected``, which is a ValueError too, so ``except Rejected``
works as well); any other failure raises the typed exception, whose text is
the server's reply where there was one.  Like pv 0.2, it sends each request
once: no retries, no waiting for the rate limit (both can be switched back
on with the typed client's options).  docs/legacy.md has the details.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date as _date
from datetime import time as _time
from typing import TYPE_CHECKING, Any, TypeVar

from .client import RetryPolicy
from .errors import PVOutputError

if TYPE_CHECKING:  # pragma: no cover - typing only; the generated module imports us
    from pv.pvoutput import PVOutputClient

T = TypeVar("T")

# pv 0.2 made one request per call and raised on any failure.
LEGACY_DEFAULTS: dict[str, Any] = {"on_rate_limit": "raise", "retry": RetryPolicy(attempts=1)}


def _as_pv02(call: Callable[[], T]) -> T:
    """Run one call; a failure with a server reply carries that reply's text, as in pv 0.2."""
    try:
        return call()
    except PVOutputError as err:
        if err.body:
            err.args = (err.body,)
        raise


class Connection:
    """``Connection(api_key, system_id, host='pvoutput.org')`` as in pv 0.2.

    ``host`` may carry a scheme and port (``http://127.0.0.1:8080``) to talk to
    another service such as the local one; without a scheme HTTPS is used.
    Further keyword arguments go to ``PVOutputClient`` (``tz``, ``timeout``,
    ``retry``, ``on_rate_limit``, ...).
    """

    def __init__(self, api_key: str, system_id: int | str, host: str = "pvoutput.org", **options: Any) -> None:
        from pv.pvoutput import PVOutputClient  # late: the generated module imports this one

        self.client: PVOutputClient = PVOutputClient(api_key, system_id, host=host, **(LEGACY_DEFAULTS | options))

    def __repr__(self) -> str:
        return f"Connection({self.client!r})"

    def add_output(
        self,
        date: _date | str,
        generated: float | None,
        exported: float | None = None,
        peak_power: float | None = None,
        peak_time: _time | str | None = None,
        condition: str | None = None,
        min_temp: float | None = None,
        max_temp: float | None = None,
        comments: str | None = None,
        import_peak: float | None = None,
        import_offpeak: float | None = None,
        import_shoulder: float | None = None,
        *,
        import_highshoulder: float | None = None,
        consumption: float | None = None,
    ) -> str:
        """Upload one end-of-day summary; returns the server's reply text.

        The two keyword-only arguments after pv 0.2's twelve are PVOutput
        parameters pv 0.2 did not send (``ih``, ``c``).
        """
        return _as_pv02(
            lambda: (
                self.client.add_output(
                    date,
                    generated=generated,
                    exported=exported,
                    peak_power=peak_power,
                    peak_time=peak_time,
                    condition=condition,
                    temperature_min=min_temp,
                    temperature_max=max_temp,
                    comments=comments,
                    import_peak=import_peak,
                    import_off_peak=import_offpeak,
                    import_shoulder=import_shoulder,
                    import_high_shoulder=import_highshoulder,
                    consumption=consumption,
                ).text
            )
        )

    def add_status(
        self,
        date: _date | str,
        time: _time | str,
        energy_exp: float | None,
        power_exp: float | None = None,
        energy_imp: float | None = None,
        power_imp: float | None = None,
        cumulative: bool = False,
    ) -> str:
        """Upload one status: energy/power exported (generated, v1/v2) and imported (consumed, v3/v4)."""
        return _as_pv02(
            lambda: (
                self.client.add_status(
                    date,
                    time,
                    energy_generation=energy_exp,
                    power_generation=power_exp,
                    energy_consumption=energy_imp,
                    power_consumption=power_imp,
                    cumulative=1 if cumulative else None,
                ).text
            )
        )

    def get_status(self, date: _date | str | None = None, time: _time | str | None = None) -> str:
        """The server's reply text for the status at ``date``/``time``, or the latest one.

        The text as sent (``20260115,10:05,4400,2600,NaN,...``), not parsed: a
        reply the typed client could not parse is still returned.
        """
        from pv.pvoutput import SERVICE

        op = SERVICE.operation("get_status")
        return _as_pv02(lambda: self.client.call(op, {"d": date, "t": time})[0])

    def delete_status(self, date: _date | str, time: _time | str) -> str:
        """Delete the status at ``date``/``time``; returns the server's reply text."""
        return _as_pv02(lambda: self.client.delete_status(date, time=time).text)
