"""Outputs of the monitor: each gets readings only after they are stored.

Every output implements ``pvapp.reading.Output``.  The monitor runs each one
behind its own queue and thread (``pvapp.monitor.outputs.OutputRunner``), so a
broker that hangs or a PVOutput outage can delay only that output, never
polling, storage or the other outputs.  The PVOutput uploader is different in
kind: it does not take readings from memory at all but drains the durable
queue in the database (``pvoutput_upload``), so that nothing is lost when
PVOutput is unreachable for days.
"""
