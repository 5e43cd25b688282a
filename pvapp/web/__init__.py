"""The monitor's local web page, its JSON API and the Prometheus ``/metrics`` endpoint.

Everything here is read-only: the page reads the database through its own
read-only SQLite connection and the monitor's live state through a snapshot
(:class:`pvapp.web.state.LiveState`, fed as an ordinary monitor output), so a
page request or a scrape can never reach a serial line, and never waits for
one.  See docs/web.md.
"""

from __future__ import annotations

from .config import DEFAULT_LISTEN, WebConfig

__all__ = ["DEFAULT_LISTEN", "WebConfig"]
