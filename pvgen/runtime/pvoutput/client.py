"""The HTTP engine under the generated ``PVOutputClient``: session, auth, rate budget, retries.

Generated methods only describe *what* to send (from the spec); everything about *how*
lives here once: headers instead of URL parameters (so the key never lands in access
logs), ``X-Rate-Limit: 1`` on every request so the budget is always known, retries
only where they can help, and waits driven by an injectable clock so tests never sleep.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from ..text import redact as _redact
from ..text import register_secret
from .errors import (
    DonationRequired,
    InvalidData,
    LoadInProgress,
    PVOutputError,
    RateLimited,
    ReplyFormatError,
    ServiceUnavailable,
    error_from_reply,
)
from .model import OperationDef, RecordDef, ServiceDef
from .timeutil import as_zone, next_hour, slot
from .values import ParamError, encode_param, split_records

log = logging.getLogger("pv.pvoutput")

T = TypeVar("T")
RateMode = Literal["wait", "raise"]


@dataclass(frozen=True, slots=True)
class RateInfo:
    """The ``X-Rate-Limit-*`` headers of one reply; ``reset_at`` is UTC."""

    remaining: int | None
    limit: int | None
    reset_at: datetime | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateInfo | None:
        def num(name: str) -> int | None:
            raw = headers.get(name)
            try:
                return int(raw) if raw is not None else None
            except ValueError:
                return None

        remaining, limit, reset = (
            num("X-Rate-Limit-Remaining"),
            num("X-Rate-Limit-Limit"),
            num("X-Rate-Limit-Reset"),
        )
        if remaining is None and limit is None and reset is None:
            return None
        reset_at = datetime.fromtimestamp(reset, UTC) if reset is not None else None
        return cls(remaining, limit, reset_at)


@dataclass(frozen=True, slots=True)
class Reply(Generic[T]):
    """Every typed call returns the parsed data plus the rate budget it left."""

    data: T
    rate: RateInfo | None
    text: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; only for network errors, 5xx and Load in progress."""

    attempts: int = 4
    base: float = 2.0
    cap: float = 60.0
    load_wait: float = 30.0  # IoTaWatt waits 30 s on "Load in progress"
    rate_margin: float = 5.0  # seconds after the reset before trying again
    max_rate_waits: int = 2


@dataclass(frozen=True, slots=True)
class AccountInfo:
    donation: bool
    status_interval: int


MAX_REDIRECTS = 3  # same-origin only; PVOutput itself never redirects an API call

_warned_hosts: set[str] = set()


def redact(text: str, secret: str) -> str:
    """The one redaction path (``pvgen.runtime.text.redact``): whitespace-normalised, repr forms too."""
    return _redact(text, secret)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def is_loopback(host: str) -> bool:
    """True for a host name or address that never leaves this machine."""
    name = host.rsplit("@", 1)[-1]
    name = name[1:].split("]", 1)[0] if name.startswith("[") else name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def warn_plain_http(host: str, https: bool) -> None:
    """Say once per host that a plain-http PVOutput host sends the API key unencrypted (loopback excepted)."""
    if https or is_loopback(host) or host in _warned_hosts:
        return
    _warned_hosts.add(host)
    log.warning(
        "PVOutput host http://%s is not https: the API key and every reading cross the network unencrypted; "
        "use https://",
        host,
    )


class RedirectRefused(PVOutputError):
    """The server redirected to another origin: the API key is not sent there."""


class BaseClient:
    """Typed PVOutput client core.  Subclassed by the generated ``pv.pvoutput.PVOutputClient``."""

    SERVICE: ServiceDef  # set by the generated subclass

    def __init__(
        self,
        api_key: str,
        system_id: int | str,
        *,
        host: str = "pvoutput.org",
        https: bool = True,
        tz: tzinfo | str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = _time.time,
        sleep: Callable[[float], None] = _time.sleep,
        on_rate_limit: RateMode = "wait",
        retry: RetryPolicy | None = None,
        timeout: float = 20.0,
        donation: bool | None = None,
        status_interval: int | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_key or not str(api_key).strip():
            raise ValueError("PVOutput API key is empty")
        sid = str(system_id).strip()
        if not sid.isdigit():
            raise ValueError(f"PVOutput system id must be a number, got {sid!r}")
        if on_rate_limit not in ("wait", "raise"):
            raise ValueError(f"on_rate_limit must be 'wait' or 'raise', got {on_rate_limit!r}")
        if "://" in host:  # "http://127.0.0.1:8080" picks the scheme explicitly
            scheme, _, host = host.partition("://")
            if scheme not in ("http", "https"):
                raise ValueError(f"PVOutput host scheme must be http or https, got {scheme!r}")
            https = scheme == "https"
        host = host.rstrip("/")
        if not host or "/" in host:
            raise ValueError(f"PVOutput host must be a host name with an optional port, got {host!r}")
        # a key pasted with a trailing CR/LF (an env file edited on Windows) is the same key
        self._key = str(api_key).strip()
        register_secret(str(api_key))
        self.system_id = int(sid)
        self.host = host
        self.https = https
        warn_plain_http(host, https)
        self.tz = as_zone(tz)
        if tz is None and str(self.tz) in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "UTC+00:00"):
            # Never silently UTC: a UTC host uploading UTC wall-clock times gets "Moon Powered".
            log.warning("PVOutput: no time zone given and this host runs on UTC; pass tz= the system's zone")
        self.session = session or requests.Session()
        self.clock = clock
        self.sleep = sleep
        self.on_rate_limit: RateMode = on_rate_limit
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.donation = donation
        self.status_interval = status_interval
        self._jitter = jitter
        self.rate: RateInfo | None = None
        self.requests_sent = 0
        self._stat_hour = -1
        self._stat_count = 0
        self._records: dict[str, RecordDef] = {r.name: r for r in self.SERVICE.records}

    def __repr__(self) -> str:
        scheme = "https" if self.https else "http"
        return f"{type(self).__name__}(system_id={self.system_id}, host={scheme}://{self.host}, api_key=***)"

    # ---- time ---------------------------------------------------------------

    def now(self) -> datetime:
        """Now in the system's local zone, from the injectable clock."""
        return datetime.fromtimestamp(self.clock(), self.tz)

    def slot(self, when: datetime | None = None) -> tuple[date, time]:
        """(date, time) for a moment, in the system's zone and aligned to its status interval."""
        return slot(when or self.now(), self.tz, self.status_interval or 5)

    # ---- account ------------------------------------------------------------

    def _fetch_account(self) -> AccountInfo:
        raise NotImplementedError

    def account(self, refresh: bool = False) -> AccountInfo:
        """Donation state and status interval; asks getsystem once, then remembers."""
        if refresh or self.donation is None or self.status_interval is None:
            info = self._fetch_account()
            self.donation = info.donation
            self.status_interval = info.status_interval
        assert self.donation is not None and self.status_interval is not None
        return AccountInfo(self.donation, self.status_interval)

    # ---- requests -----------------------------------------------------------

    def url(self, op: OperationDef) -> str:
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}{self.SERVICE.base_path}{op.path}"

    def encode(self, op: OperationDef, values: Mapping[str, Any]) -> dict[str, str]:
        """Validate like the server does (never stricter) and build the form."""
        form: dict[str, str] = dict(op.fixed)
        if op.donation and self.donation is False:
            raise DonationRequired(f"{op.name} needs a donation account (the server would answer 403 Donation Mode)")
        for p in op.params:
            value = values.get(p.key)
            try:
                text = encode_param(p, value, self._records, self.status_interval)
            except ParamError as exc:
                raise InvalidData(f"{op.name}: {exc}") from None
            if text is None:
                if p.required:
                    raise InvalidData(f"{op.name}: {p.name} ({p.key}) is required")
                continue
            if p.donation and self.donation is False:
                raise DonationRequired(f"{op.name}: {p.name} ({p.key}) needs a donation account")
            if p.type == "records":
                rows = len(values[p.key])
                top = p.batch_donation if self.donation is not False else p.batch_free
                if p.donation_only_batch and self.donation is False and rows > 1:
                    raise DonationRequired(f"{op.name}: sending several rows needs a donation account")
                if rows == 0:
                    raise InvalidData(f"{op.name}: {p.name} is empty")
                if top and rows > top:
                    raise InvalidData(f"{op.name}: at most {top} rows per request, got {rows}")
            form[p.key] = text
        if op.need_one_of and not any(k in form for k in op.need_one_of):
            extra = op.need_one_of_donation if self.donation else ()
            if not any(k in form for k in extra):
                names = ", ".join(op.need_one_of)
                raise InvalidData(f"{op.name}: at least one of {names} is required")
        return form

    def call(self, op: OperationDef, values: Mapping[str, Any]) -> tuple[str, RateInfo | None]:
        """Send one operation, with retries, rate-limit handling and error mapping."""
        form = self.encode(op, values)
        attempt = 0
        rate_waits = 0
        while True:
            self._respect_budget(op)
            try:
                body, rate = self._send(op, form)
                return body, rate
            except RateLimited as err:
                reset = err.reset_at or next_hour(self.clock())
                err.reset_at = reset
                self.rate = RateInfo(0, self.rate.limit if self.rate else None, reset)
                if self.on_rate_limit == "raise" or rate_waits >= self.retry.max_rate_waits:
                    raise
                rate_waits += 1
                self._sleep_until(reset)
            except PVOutputError as err:
                if not err.retryable or attempt + 1 >= self.retry.attempts:
                    raise
                if isinstance(err, LoadInProgress):
                    delay = self.retry.load_wait
                else:
                    delay = min(self.retry.cap, self.retry.base * (2**attempt))
                delay *= 0.5 + 0.5 * self._jitter()
                attempt += 1
                log.warning("PVOutput %s failed (%s); retry %d in %.1f s", op.name, err, attempt, delay)
                self.sleep(delay)

    def _sleep_until(self, reset: datetime) -> None:
        delay = reset.timestamp() - self.clock() + self.retry.rate_margin
        log.warning("PVOutput rate limit reached; waiting %.0f s until %s", max(delay, 0.0), reset.isoformat())
        if delay > 0:
            self.sleep(delay)

    def quota_exhausted(self) -> datetime | None:
        """The reset time if the last reply said no requests are left and it has not passed yet."""
        rate = self.rate
        if (
            rate
            and rate.remaining is not None
            and rate.remaining <= 0
            and rate.reset_at
            and rate.reset_at.timestamp() > self.clock()
        ):
            return rate.reset_at
        return None

    def _respect_budget(self, op: OperationDef) -> None:
        """Never send a request the server is known to refuse: wait for the reset or raise."""
        reset = self.quota_exhausted()
        if reset is None and op.rate_bucket == "statistic":
            hour = int(self.clock() // 3600)
            if hour != self._stat_hour:
                self._stat_hour, self._stat_count = hour, 0
            lim = self.SERVICE.limits
            top = lim.statistic_rate_donation if self.donation else lim.statistic_rate_free
            if self._stat_count >= top:
                reset = next_hour(self.clock())
        if reset is None:
            return
        if self.on_rate_limit == "raise":
            raise RateLimited(
                f"PVOutput rate limit: quota used up until {reset.isoformat()}", reset_at=reset, status=None
            )
        self._sleep_until(reset)

    def _send(self, op: OperationDef, form: dict[str, str]) -> tuple[str, RateInfo | None]:
        headers = {
            "X-Pvoutput-Apikey": self._key,
            "X-Pvoutput-SystemId": str(self.system_id),
            "X-Rate-Limit": "1",
        }
        method = "POST" if "POST" in op.methods else "GET"
        url = self.url(op)
        log.debug("PVOutput %s %s %s", method, url, form)
        self.requests_sent += 1
        if op.rate_bucket == "statistic":
            self._stat_count += 1
        try:
            resp = self._request(method, url, form, headers)
        except requests.Timeout as exc:
            raise ServiceUnavailable(f"PVOutput timed out: {redact(str(exc), self._key)}") from None
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"PVOutput unreachable: {redact(str(exc), self._key)}") from None
        rate = RateInfo.from_headers(resp.headers)
        if rate is not None:
            self.rate = rate
        body = redact(resp.text, self._key)  # a server (or proxy) echoing the key must not leak it
        log.debug("PVOutput reply %d %r rate=%s", resp.status_code, body[:200], rate)
        if resp.status_code == 200:
            return body, rate
        raise error_from_reply(resp.status_code, body, rate.reset_at if rate else None)

    def _request(self, method: str, url: str, form: dict[str, str], headers: dict[str, str]) -> requests.Response:
        """One HTTP exchange; redirects are followed only within the same origin.

        requests keeps custom headers such as ``X-Pvoutput-Apikey`` when it
        follows a redirect to another host (it strips only ``Authorization``),
        so redirects are handled here: the same request to the same scheme,
        host and port is repeated at the new path; anything else is refused
        before a byte goes there.
        """
        for _ in range(MAX_REDIRECTS + 1):
            if method == "POST":
                resp = self.session.post(url, data=form, headers=headers, timeout=self.timeout, allow_redirects=False)
            else:
                resp = self.session.get(url, params=form, headers=headers, timeout=self.timeout, allow_redirects=False)
            if not resp.is_redirect:
                return resp
            target = urljoin(url, resp.headers.get("Location", ""))
            if _origin(target) != _origin(url):
                there = "{}://{}".format(*urlsplit(target)[:2])
                raise RedirectRefused(
                    f"PVOutput at {self.host} answered {resp.status_code} with a redirect to {there}; "
                    "the API key is not sent to another host (set the PVOutput host to it if that is right)",
                    status=resp.status_code,
                )
            url = target.split("?", 1)[0] if method == "GET" else target
        raise ServiceUnavailable(f"PVOutput at {self.host}: more than {MAX_REDIRECTS} redirects", status=None)

    # ---- replies ------------------------------------------------------------

    @staticmethod
    def parse_one(op: OperationDef, parse: Callable[[str], T], text: str) -> T:
        """Parse a 200 reply; anything unreadable becomes a ReplyFormatError naming the call."""
        try:
            return parse(text)
        except ValueError as exc:
            raise ReplyFormatError(f"PVOutput {op.name}: unexpected reply {text[:80]!r}: {exc}", status=200) from None

    @staticmethod
    def parse_rows(op: OperationDef, parse: Callable[[str], T], text: str) -> list[T]:
        try:
            return [parse(row) for row in split_records(text, op.reply.separator)]
        except ValueError as exc:
            raise ReplyFormatError(f"PVOutput {op.name}: unexpected reply {text[:80]!r}: {exc}", status=200) from None

    # ---- batches ------------------------------------------------------------

    def _send_batch(self, rows: Sequence[Any]) -> list[tuple[date, time, bool]]:
        raise NotImplementedError

    def batch_size(self) -> int:
        """Rows per add-batch request for this account (30 free, 100 donation)."""
        donation = self.account().donation
        for op in self.SERVICE.operations:
            for p in op.params:
                if p.type == "records" and not p.donation_only_batch:
                    return p.batch_donation if donation else p.batch_free
        raise LookupError("the service has no batch operation")

    def status_window_days(self) -> int:
        lim = self.SERVICE.limits
        return lim.status_days_donation if self.account().donation else lim.status_days_free
