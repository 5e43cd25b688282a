"""Package data: the example configuration and the systemd unit."""
