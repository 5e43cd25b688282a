"""A pyserial URL handler (``replay://NAME``) for tests: a port that replays a captured session.

Registered by putting this package's name in ``serial.protocol_handler_packages``
so that unchanged user code calling ``serial.serial_for_url("replay://...")``
talks to a script of real frames instead of hardware.
"""
