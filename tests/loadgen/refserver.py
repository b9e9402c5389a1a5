"""A reference HTTP/1.1 server with known latencies, run in its own process: the truth the load generator is held to.

Routes (query parameters in ms):
  /fast                         200 at once
  /delay?ms=20                  200 after a fixed delay
  /uniform?lo=30&hi=70          200 after a delay drawn uniformly from [lo, hi]
  /status?code=500              that status at once
  /chunked?ms=0                 200 with a chunked body, after the delay
  /close                        200 with `Connection: close`, then closes
  /stall?base=10&every=3000&stall=500[&once=1]
                                200 after base + what remains of the current stall; stalls are the last
                                `stall` ms of every `every` ms period, counted from the first /stall request

`python -m tests.loadgen.refserver [--cpu N]` prints `PORT <n>` once listening on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl

from grader.loadgen import clock

REPO_ROOT = Path(__file__).resolve().parents[2]
_REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


def response(status: int, body: bytes = b"ok", *, close: bool = False) -> bytes:
    """A Content-Length response."""
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Length: {len(body)}\r\n"
    head += "Connection: close\r\n" if close else ""
    return head.encode() + b"\r\n" + body


def chunked_response(parts: list[bytes]) -> bytes:
    """A chunked 200 response carrying `parts`, with a trailer."""
    chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-Trailer: yes\r\n\r\n"


FAST = response(200)


class Stalls:
    """Stall windows: the last `stall_s` of every `every_s` period after `epoch` (only the first when `once`)."""

    def __init__(self) -> None:
        self.epoch: float | None = None

    def remaining(self, now: float, every_s: float, stall_s: float, once: bool) -> float:
        if self.epoch is None:
            self.epoch = now
        elapsed = now - self.epoch
        if once and elapsed >= every_s:
            return 0.0
        phase = elapsed % every_s
        return every_s - phase if phase >= every_s - stall_s else 0.0


class ReferenceServer(asyncio.Protocol):
    """Answers each request after the delay its route asks for; keep-alive, responses in request order."""

    stalls = Stalls()

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.queue: list[asyncio.Future[bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = _content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.answer(head.split(" ", 2)[1])

    def answer(self, target: str) -> None:
        path, _, query = target.partition("?")
        if path == "/fast" and not self.queue:
            assert self.transport is not None
            self.transport.write(FAST)
            return
        args = {k: float(v) for k, v in parse_qsl(query)}
        delay_s, payload = self.route(path, args)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.queue.append(future)
        asyncio.get_running_loop().call_later(delay_s, _settle, future, payload)
        future.add_done_callback(lambda _f: self.flush())

    def route(self, path: str, args: dict[str, float]) -> tuple[float, bytes]:
        """(delay in s, response bytes) for a request."""
        ms = args.get("ms", 0.0) / 1000
        if path == "/fast":
            return 0.0, FAST
        if path == "/delay":
            return ms, FAST
        if path == "/uniform":
            return random.uniform(args.get("lo", 30.0), args.get("hi", 70.0)) / 1000, FAST
        if path == "/status":
            return 0.0, response(int(args.get("code", 500)), b"failed")
        if path == "/chunked":
            return ms, chunked_response([b"hello ", b"chunked ", b"world"])
        if path == "/close":
            return 0.0, response(200, close=True)
        if path == "/stall":
            stall = self.stalls.remaining(
                time.monotonic(), args.get("every", 3000) / 1000, args.get("stall", 500) / 1000, bool(args.get("once"))
            )
            return args.get("base", 10.0) / 1000 + stall, FAST
        return 0.0, response(404, b"not found")

    def flush(self) -> None:
        """Write the finished responses at the head of the queue (HTTP/1.1 answers in order)."""
        while self.queue and self.queue[0].done():
            payload = self.queue.pop(0).result()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(payload)
                if b"Connection: close" in payload[:200]:
                    self.transport.close()


def _settle(future: asyncio.Future[bytes], payload: bytes) -> None:
    if not future.done():
        future.set_result(payload)


def _content_length(head: str) -> int:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
    return 0


async def serve(port: int, announce: Callable[[int], None]) -> None:
    server = await asyncio.get_running_loop().create_server(ReferenceServer, "127.0.0.1", port, backlog=4096)
    announce(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running(cpu: int | None = None) -> Iterator[str]:
    """Start the reference server in its own process (pinned to `cpu` if given); yield its base URL."""
    argv = [sys.executable, "-m", "tests.loadgen.refserver"] + ([] if cpu is None else ["--cpu", str(cpu)])
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"reference server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clock.run(serve(args.port, lambda port: print(f"PORT {port}", flush=True)))  # timers on time, not up to 1 ms late


if __name__ == "__main__":
    main()
