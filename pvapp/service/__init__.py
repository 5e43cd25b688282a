"""systemd integration: readiness/watchdog notifications and the unit file installer."""
