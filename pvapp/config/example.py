"""The commented example file ``pv config init`` writes."""

from __future__ import annotations

EXAMPLE = """\
# pv.toml: configuration of `pv monitor`.  Found at --config PATH, $PV_CONFIG,
# ./pv.toml, $XDG_CONFIG_HOME/pv/pv.toml (~/.config/pv/pv.toml) or /etc/pv/pv.toml.
# Environment variables override the file (PV_POLL_INTERVAL, PV_TIMEZONE,
# PV_STORAGE, PV_PORT + PV_SPEC); flags override both.  Secrets come only from
# the environment: PV_PVOUTPUT_API_KEY, PV_MQTT_PASSWORD.

# Local time zone of the site: PVOutput wants local times.  Default: the system's.
# timezone = "Australia/Sydney"

# Seconds between two status polls of each inverter.
poll_interval = 10

# Seconds of silence after which an inverter counts as asleep (night) and is
# logged once as such; it is re-registered when it answers again.
asleep_after = 300

[storage]
# SQLite file with every reading, every event and the PVOutput upload queue.
# Default: ~/.local/share/pv/pv.sqlite
# path = "/var/lib/pv/pv.sqlite"
# FULL: every poll survives a power cut (default).  NORMAL: survives a crash of pv.
synchronous = "FULL"
# Seconds the monitor keeps retrying when the database cannot be written (disk
# full, read-only), holding readings in memory, before it exits with status 1.
retry_for = 900

# One [[ports]] table per serial line.  `port` is a device path (prefer the stable
# /dev/serial/by-id/... name, see `pv ports`), or a URL: socket://host:port for an
# RS-485/Ethernet bridge, rfc2217://host:port, sim://cms for the simulator.
[[ports]]
port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1234567-if00-port0"
spec = "cms"            # cms, orion, sunezy, samil (samil_tcp: see listen:// below)
# timeout = 1.0         # reply timeout in seconds (default: the spec's)

  # One [[ports.inverters]] per inverter on that line.
  [[ports.inverters]]
  serial = "auto"       # or the serial number, e.g. "0905BO0139"
  name = "garage"
  pvoutput_system = 12345   # omit to not upload this inverter

# A second line, two inverters aggregated into one PVOutput system:
# [[ports]]
# port = "/dev/serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0"
# spec = "samil"
#   [[ports.inverters]]
#   serial = "S22A0001"
#   pvoutput_system = 67890
#   [[ports.inverters]]
#   serial = "S22A0002"
#   pvoutput_system = 67890

# Samil TCP units (SolarRiver TL-D, SolarLake TL with a network port) connect to
# us instead: listen, and advertise "I AM SERVER" on UDP 1300 (docs/monitor.md).
# [[ports]]
# port = "listen://0.0.0.0:1200"
# advertise = "255.255.255.255:1300"   # or a list, or false
#   [[ports.inverters]]
#   serial = "S221151415"              # others are refused; serial = "auto" takes any
#   pvoutput_system = 12345

[pvoutput]
# The API key comes from the environment variable PV_PVOUTPUT_API_KEY.
# Seconds between upload rounds.  Each round sends every closed status slot
# that PVOutput does not have yet, in batches, within the hourly rate limit.
upload_interval = 300
# Status interval of the systems in minutes (5, 10 or 15).  Default: ask PVOutput.
# status_interval = 5
# Requests per hour left unused for other apps sharing the key.
rate_reserve = 10
# system_id = 12345     # default system for inverters without pvoutput_system
send_temperature = true   # inverter temperature as v5
send_voltage = true       # grid voltage as v6

# [mqtt]
# Options of the MQTT / Home Assistant output: see docs/mqtt.md.
# The password comes from the environment variable PV_MQTT_PASSWORD.

[web]
# The read-only web page, JSON API and Prometheus /metrics (docs/web.md).
# Default: on, on this machine only.  --web ADDR:PORT, --no-web or PV_WEB override it.
listen = "127.0.0.1:8780"
# To serve the home network (listen = "0.0.0.0:8780"), a password or token is
# required: `pv web password` prints the password_hash line to paste here.
# password_hash = "scrypt$16384$8$1$..."
metrics = true
"""
