"""Wire formats shared by the client (encode, parse replies) and the fake service (decode, format).

Both directions live in one module on purpose: the fake service checks requests
with ``decode_param`` and the client builds them with ``encode_param``, from the
same ``ParamDef``.  Client checks are only those the server also makes, never
stricter (users were bitten by clients refusing values PVOutput accepts).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from datetime import date, time
from typing import Any, TypeVar

from .errors import ReplyFormatError
from .model import ColumnDef, ParamDef, RecordDef

_T = TypeVar("_T")

_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_NUM = re.compile(r"^-?\d+(\.\d+)?$")
_LATLON = re.compile(r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$")


class ParamError(ValueError):
    """A value the server would not read.  ``key`` is the wire name, for ``Could not read [key]``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_date(text: str) -> date:
    if not _DATE.match(text):
        raise ValueError(f"not a yyyymmdd date: {text!r}")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def parse_time(text: str) -> time:
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"not an hh:mm time: {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


def format_date(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def format_time(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def format_decimal(value: float) -> str:
    """Plain decimal notation, no exponent, no trailing zeros (``21.2``, ``-3``)."""
    if math.isnan(value):
        return "NaN"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _check_range(p: ParamDef, number: float) -> None:
    if p.min is not None and number < p.min:
        raise ParamError(p.key, f"{p.name} ({p.key}) must be >= {format_decimal(p.min)}, got {format_decimal(number)}")
    if p.max is not None and number > p.max:
        raise ParamError(p.key, f"{p.name} ({p.key}) must be <= {format_decimal(p.max)}, got {format_decimal(number)}")


def encode_param(
    p: ParamDef, value: Any, records: dict[str, RecordDef] | None = None, interval: int | None = None
) -> str | None:
    """Turn a Python value into the wire text for ``p``; None means "leave it out".

    ``interval`` (the system's status interval, when known) floors ``aligned`` times the
    way the server files them, so two readings in one slot are seen as one by the caller.
    """
    if value is None:
        return None
    what = f"{p.name} ({p.key})"
    if p.type == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(p.key, f"{what} must be a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(p.key, f"{what} must be finite, got {value}")
        number = round(value)  # PVOutput wants whole W and Wh
        _check_range(p, number)
        if p.choices and str(number) not in p.choices:
            raise ParamError(p.key, f"{what} must be one of {', '.join(p.choices)}, got {number}")
        return str(number)
    if p.type == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ParamError(p.key, f"{what} must be a finite number, got {value!r}")
        _check_range(p, float(value))
        return format_decimal(float(value))
    if p.type == "date":
        if isinstance(value, date):
            return format_date(value)
        if isinstance(value, str):
            try:
                parse_date(value)
            except ValueError as exc:
                raise ParamError(p.key, f"{what}: {exc}") from None
            return value
        raise ParamError(p.key, f"{what} must be a date or yyyymmdd text, got {type(value).__name__}")
    if p.type == "time":
        if isinstance(value, str):
            try:
                value = parse_time(value)
            except ValueError as exc:
                raise ParamError(p.key, f"{what}: {exc}") from None
        if isinstance(value, time):
            if p.aligned and interval:
                minutes = (value.hour * 60 + value.minute) // interval * interval
                value = time(minutes // 60, minutes % 60)
            return format_time(value)
        raise ParamError(p.key, f"{what} must be a time or hh:mm text, got {type(value).__name__}")
    if p.type == "flag":
        return "1" if value else None
    if p.type == "latlon":
        if isinstance(value, tuple) and len(value) == 2:
            return f"{format_decimal(float(value[0]))},{format_decimal(float(value[1]))}"
        if isinstance(value, str) and _LATLON.match(value):
            return value
        raise ParamError(p.key, f"{what} must be (lat, lon) or 'lat,lon', got {value!r}")
    if p.type == "text":
        text = str(value)
        if p.max_len is not None and len(text) > p.max_len:
            raise ParamError(p.key, f"{what} is at most {p.max_len} characters, got {len(text)}")
        if p.choices and text not in p.choices:
            raise ParamError(p.key, f"{what} must be one of {', '.join(p.choices)}, got {text!r}")
        if p.type == "text" and any(c in text for c in "\r\n"):
            raise ParamError(p.key, f"{what} must be one line")
        return text
    if p.type == "records":
        if records is None:
            raise ParamError(p.key, "records need their definitions")
        return encode_records(records[p.record], value, p, interval)
    raise ParamError(p.key, f"unknown parameter type {p.type}")


def encode_records(rec: RecordDef, rows: Sequence[Any], p: ParamDef, interval: int | None = None) -> str:
    """Batch ``data``: fields by ``,``, rows by ``;``, trailing empty fields left off."""
    out: list[str] = []
    for index, row in enumerate(rows):
        fields: list[str] = []
        for f in rec.fields:
            try:
                text = encode_param(f, getattr(row, f.name), interval=interval)
            except ParamError as exc:
                raise ParamError(exc.key, f"row {index}: {exc}") from None
            if text is not None and ("," in text or ";" in text):
                raise ParamError(f.key, f"row {index}: {f.name} must not contain ',' or ';'")
            fields.append(text or "")
        while fields and fields[-1] == "":
            fields.pop()
        out.append(",".join(fields))
    return ";".join(out)


def decode_param(p: ParamDef, text: str) -> Any:
    """Server side: read wire text like PVOutput does; ParamError means ``Could not read [key]``."""
    try:
        if p.type == "int":
            if not _NUM.match(text):
                raise ValueError(text)
            number = float(text)
            if number != int(number):
                raise ValueError(text)  # whole W/Wh only
            value: Any = int(number)
            if p.choices and text not in p.choices:
                raise ValueError(text)
            return value
        if p.type == "decimal":
            if not _NUM.match(text):
                raise ValueError(text)
            return float(text)
        if p.type == "date":
            return parse_date(text)
        if p.type == "time":
            return parse_time(text)
        if p.type == "flag":
            if text not in ("0", "1"):
                raise ValueError(text)
            return text == "1"
        if p.type == "latlon":
            if not _LATLON.match(text):
                raise ValueError(text)
            lat, lon = text.split(",")
            return (float(lat), float(lon))
        if p.type in ("text", "records"):
            if p.choices and text not in p.choices:
                raise ValueError(text)
            return text
    except ValueError:
        raise ParamError(p.key, f"Could not read [{p.key}]") from None
    raise ParamError(p.key, f"Could not read [{p.key}]")


def decode_record(rec: RecordDef, text: str) -> dict[str, Any]:
    """Server side: one batch row into {wire key: value}; ``-1`` and empty mean "not sent"."""
    parts = text.split(",")
    if len(parts) > len(rec.fields):
        raise ParamError("data", "Could not read [data]")
    values: dict[str, Any] = {}
    for f, raw in zip(rec.fields, parts, strict=False):
        if raw in ("", "-1") and not f.required:
            continue
        values[f.key] = decode_param(f, raw)
    for f in rec.fields:
        if f.required and f.key not in values:
            raise ParamError(f.key, f"Could not read [{f.key}]")
    return values


# ---- reply columns -------------------------------------------------------------


def _cell(fields: Sequence[str], index: int) -> str | None:
    if index >= len(fields):
        return None
    text = fields[index].strip()
    return None if text in ("", "NaN", "nan", "null") else text


def col_int(fields: Sequence[str], index: int) -> int | None:
    text = _cell(fields, index)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return round(float(text))


def col_decimal(fields: Sequence[str], index: int) -> float | None:
    text = _cell(fields, index)
    return None if text is None else float(text)


def col_date(fields: Sequence[str], index: int) -> date | None:
    text = _cell(fields, index)
    return None if text is None else parse_date(text)


def col_time(fields: Sequence[str], index: int) -> time | None:
    text = _cell(fields, index)
    return None if text is None else parse_time(text)


def col_text(fields: Sequence[str], index: int) -> str | None:
    return _cell(fields, index)


def col_flag(fields: Sequence[str], index: int) -> bool | None:
    text = _cell(fields, index)
    return None if text is None else text not in ("0", "false")


col_period = col_text


def need(value: _T | None, column: str) -> _T:
    """Required columns: a missing value is a malformed reply, not a None."""
    if value is None:
        raise ReplyFormatError(f"reply column {column!r} is missing")
    return value


def split_fields(text: str) -> list[str]:
    return text.strip().split(",")


def split_records(text: str, separator: str) -> list[str]:
    """Rows of a reply; an empty body is no rows (getmissing, search)."""
    body = text.strip()
    if not body:
        return []
    return [r for r in body.split(separator) if r.strip()]


def split_sections(text: str, count: int) -> list[list[str]]:
    """``;``-separated sections, each split on ``,``; absent sections are empty lists."""
    parts = text.strip().split(";")
    out = [p.split(",") if p.strip() else [] for p in parts[:count]]
    return out + [[] for _ in range(count - len(out))]


def format_cell(c: ColumnDef, value: Any) -> str:
    """Fake-service side: one reply cell in PVOutput's format (``NaN`` for blanks)."""
    if value is None:
        return "NaN"
    if c.type == "int":
        return str(int(value))
    if c.type == "decimal":
        return format_decimal(float(value))
    if c.type == "date":
        return format_date(value)
    if c.type == "time":
        return format_time(value)
    if c.type == "flag":
        return "1" if value else "0"
    return str(value)


def format_row(columns: Sequence[ColumnDef], values: dict[str, Any]) -> str:
    return ",".join(format_cell(c, values.get(c.name)) for c in columns)


def row_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
