"""``pv web password``: make the ``password_hash`` line for the ``[web]`` table.

The secret itself never goes into a file: it is typed (twice, not echoed) or
generated, and only its scrypt hash is printed for the configuration.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from .common import EXIT_OK, UsageError


def cmd_web_password(args: argparse.Namespace) -> int:
    from pvapp.web.auth import generate_token, hash_secret

    if args.generate:
        secret = generate_token()
        print(f"token (give it to browsers as the password and to Prometheus as the bearer token): {secret}")
    elif not sys.stdin.isatty():
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UsageError("no password on standard input (or use --generate)")
    else:
        secret = getpass.getpass("password for the web page: ")
        if not secret:
            raise UsageError("the password must not be empty")
        if getpass.getpass("again: ") != secret:
            raise UsageError("the two passwords differ")
    if len(secret) < 8:
        raise UsageError("use at least 8 characters (or --generate a token)")
    print("# put this line into the [web] table of pv.toml:")
    print(f'password_hash = "{hash_secret(secret)}"')
    return EXIT_OK


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("web", help="the monitor's web page: make its password hash")
    wsub = p.add_subparsers(dest="web_command", metavar="WHAT", required=True, parser_class=type(p))
    w = wsub.add_parser(
        "password",
        help="print the [web] password_hash line for a password typed twice (or read from stdin)",
        description="Print a password_hash line for the [web] table.  The same secret works as the HTTP Basic "
        "password in a browser (any user name) and as a Bearer token for Prometheus.",
    )
    w.add_argument("--generate", action="store_true", help="generate a random token instead of asking for one")
    w.set_defaults(func=cmd_web_password)
