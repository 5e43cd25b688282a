"""The database schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations have been applied.  A new
release only ever appends a migration; an old database is brought forward step
by step inside one transaction per step, so a crash mid-upgrade leaves the
previous version intact rather than half a schema.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE inverters (
        serial       TEXT PRIMARY KEY,
        spec_id      TEXT NOT NULL,
        port         TEXT NOT NULL,
        address      INTEGER,
        model        TEXT NOT NULL DEFAULT '',
        manufacturer TEXT NOT NULL DEFAULT '',
        firmware     TEXT NOT NULL DEFAULT '',
        va_rating    TEXT NOT NULL DEFAULT '',
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL
    );

    -- One row per accepted status poll.  time is UTC ISO-8601 with microseconds
    -- and a trailing Z, so text order is time order.  The main values have their
    -- own columns for queries; every decoded value (NULL where a guard rejected
    -- it) is in values_json, the reasons in rejected_json, and the reply frame as
    -- received in raw_frame, so a decoding bug can be corrected later.
    CREATE TABLE readings (
        id            INTEGER PRIMARY KEY,
        time          TEXT NOT NULL,
        serial        TEXT NOT NULL REFERENCES inverters(serial),
        pac           REAL,
        e_today       REAL,
        e_total       REAL,
        h_total       REAL,
        mode          TEXT NOT NULL DEFAULT '',
        faults_json   TEXT NOT NULL DEFAULT '[]',
        values_json   TEXT NOT NULL,
        rejected_json TEXT NOT NULL DEFAULT '{}',
        raw_frame     BLOB NOT NULL,
        UNIQUE (serial, time)
    );
    CREATE INDEX readings_time ON readings(time);

    -- State transitions of an inverter or a port, logged once each.
    CREATE TABLE events (
        id     INTEGER PRIMARY KEY,
        time   TEXT NOT NULL,
        serial TEXT,
        port   TEXT NOT NULL DEFAULT '',
        kind   TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_time ON events(time);

    -- The durable PVOutput upload queue: one row per system and status slot
    -- (local date and time of the slot start).  A row is updated by later
    -- readings of the same slot only while it is pending; the uploader claims
    -- rows ('sending') before it sends them, so a reading committed during the
    -- upload cannot change a row after its values went out.
    CREATE TABLE pvoutput_queue (
        system_id  INTEGER NOT NULL,
        date       TEXT NOT NULL,
        time       TEXT NOT NULL,
        slot_utc   TEXT NOT NULL,
        energy_wh  INTEGER,
        power_w    INTEGER,
        temperature REAL,
        voltage    REAL,
        status     TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sending', 'sent', 'rejected')),
        reason     TEXT NOT NULL DEFAULT '',
        attempts   INTEGER NOT NULL DEFAULT 0,
        updated    TEXT NOT NULL,
        PRIMARY KEY (system_id, date, time)
    );
    CREATE INDEX pvoutput_queue_pending ON pvoutput_queue(status, system_id, slot_utc);
    """,
    # 2: "the latest accepted value" lookups stay O(log n) however many readings
    # have that value refused (a day of NULL E-Today made every poll scan the day).
    """
    CREATE INDEX readings_e_today ON readings(serial, time) WHERE e_today IS NOT NULL;
    CREATE INDEX readings_e_total ON readings(serial, time) WHERE e_total IS NOT NULL;
    CREATE INDEX readings_h_total ON readings(serial, time) WHERE h_total IS NOT NULL;
    """,
    # 3: hourly energy the inverter logged itself (Samil TCP history), read after an outage.
    # Apart from readings on purpose: a history record never replaces a poll or counts as one.
    # Queue rows made from it are marked origin 'history', so they fill a gap without ever
    # overwriting a slot made from live readings.
    """
    CREATE TABLE history (
        serial     TEXT NOT NULL,
        date       TEXT NOT NULL,
        hour       INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 24),
        minute     INTEGER NOT NULL DEFAULT 0 CHECK (minute BETWEEN 0 AND 59),
        energy_kwh REAL NOT NULL,
        fetched    TEXT NOT NULL,
        PRIMARY KEY (serial, date, hour, minute)
    );
    ALTER TABLE pvoutput_queue ADD COLUMN origin TEXT NOT NULL DEFAULT 'live';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
