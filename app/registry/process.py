# edge: the host's name
"""This process's name in the registry."""

from __future__ import annotations

import os
import secrets
import socket


def process_name() -> str:
    """Host and pid, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
