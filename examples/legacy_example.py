#!/usr/bin/env python3
"""The pv 0.2 example program, with only its print statements made Python 3.

It uses nothing but the original calls, to show that code written for pv 0.2
runs unchanged: reset, discover, register, version, the parameter and status
layouts, and the (label, value) pairs printed with "%-10s: %s".

Usage: python examples/legacy_example.py [PORT]
PORT is a device path (default /dev/ttyUSB0), a by-id path or a pyserial URL
such as sim://cms (the built-in simulator) or socket://host:port.
"""

import sys

import pv  # noqa: F401  (registers the sim:// URL handler, as pv 0.2 users never needed to)
import serial
from pv import cms

# pv.debug()        # uncomment to print every frame as hex
# pv.debug_color()  # or coloured by part

port = serial.serial_for_url(sys.argv[1] if len(sys.argv) > 1 else "/dev/ttyUSB0", 9600, timeout=1)

inv = cms.Inverter(port)

inv.reset()
sn = inv.discover()
if sn is None:
    print("Inverter is not connected.")
    sys.exit(1)

ok = inv.register(sn)  # Associates the inverter and assigns default address
if not ok:
    print("Inverter registration failed.")
    sys.exit(1)

print(inv.version())

param_layout = inv.param_layout()
parameters = inv.parameters(param_layout)
for field in parameters:
    print("%-10s: %s" % field)

status_layout = inv.status_layout()
status = inv.status(status_layout)
for field in status:
    print("%-10s: %s" % field)

port.close()
