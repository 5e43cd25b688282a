"""pv 0.2's ``Connection``, kept call-for-call so old scripts keep working.

It is a thin shim over the typed client: same validation, HTTPS, redaction and
rate-limit handling, but the original signatures and plain return values
(the server's message text, or the parsed status).
"""

from __future__ import annotations

from datetime import date as _date
from datetime import time as _time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only; the generated module imports us
    from pv.pvoutput import PVOutputClient, Status


class Connection:
    """``Connection(api_key, system_id, host='pvoutput.org')`` as in pv 0.2.

    ``host`` may carry a scheme and port (``http://127.0.0.1:8080``) to talk to
    another service such as the local fake one; without a scheme HTTPS is used.
    """

    def __init__(self, api_key: str, system_id: int | str, host: str = "pvoutput.org", **options: Any) -> None:
        from pv.pvoutput import PVOutputClient  # late: the generated module imports this one

        self.client: PVOutputClient = PVOutputClient(api_key, system_id, host=host, **options)

    def __repr__(self) -> str:
        return f"Connection({self.client!r})"

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
        """Upload one status: energy/power exported (generated) and imported (consumed)."""
        return self.client.add_status(
            date,
            time,
            energy_generation=energy_exp,
            power_generation=power_exp,
            energy_consumption=energy_imp,
            power_consumption=power_imp,
            cumulative=1 if cumulative else None,
        ).data

    def add_output(
        self,
        date: _date | str,
        energy_gen: float | None = None,
        energy_exp: float | None = None,
        power_peak: float | None = None,
        power_peak_time: _time | str | None = None,
        condition: str | None = None,
        temp_min: float | None = None,
        temp_max: float | None = None,
        comments: str | None = None,
        import_peak: float | None = None,
        import_offpeak: float | None = None,
        import_shoulder: float | None = None,
        import_highshoulder: float | None = None,
        consumption: float | None = None,
    ) -> str:
        """Upload one end-of-day summary."""
        return self.client.add_output(
            date,
            generated=energy_gen,
            exported=energy_exp,
            peak_power=power_peak,
            peak_time=power_peak_time,
            condition=condition,
            temperature_min=temp_min,
            temperature_max=temp_max,
            comments=comments,
            import_peak=import_peak,
            import_off_peak=import_offpeak,
            import_shoulder=import_shoulder,
            import_high_shoulder=import_highshoulder,
            consumption=consumption,
        ).data

    def get_status(self, date: _date | str | None = None, time: _time | str | None = None) -> Status:
        """The status at ``date``/``time``, or the latest one."""
        return self.client.get_status(date=date, time=time).data

    def delete_status(self, date: _date | str, time: _time | str) -> str:
        return self.client.delete_status(date, time=time).data
