"""Loopback TCP ports: pick a free one, see whether one accepts connections, find what a process group listens on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from grader.sandbox import group_pids

LOOPBACK_HOSTS = (("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"))  # (address, how it is written in a URL)
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp*


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepting(port: int, timeout_s: float = 0.5) -> str | None:
    """The loopback host (as written in a URL) on which `port` accepts connections, or None."""
    for address, url_host in LOOPBACK_HOSTS:
        try:
            with socket.create_connection((address, port), timeout=timeout_s):
                return url_host
        except OSError:
            continue
    return None


def listening_ports(pgid: int) -> set[int]:
    """The TCP ports that processes of the group `pgid` listen on (Linux /proc; empty elsewhere)."""
    inodes = {inode for pid in group_pids(pgid) for inode in _socket_inodes(pid)}
    if not inodes:
        return set()
    return {port for table in ("tcp", "tcp6") for port, inode in _listeners(table) if inode in inodes}


def _socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets a process holds, from the `socket:[N]` links in /proc/<pid>/fd."""
    fd_dir = Path(f"/proc/{pid}/fd")
    found: set[str] = set()
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _listeners(table: str) -> list[tuple[int, str]]:
    """(port, socket inode) of every listening socket in /proc/net/<table>."""
    try:
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[3] == _LISTEN:
            found.append((int(fields[1].rsplit(":", 1)[1], 16), fields[9]))
    return found
