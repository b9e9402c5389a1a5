"""A minimal HTTP/1.1 keep-alive client on an asyncio protocol: one request at a time per connection.

No general-purpose client sits in the hot path: a request is a pre-encoded byte string, and the
response is parsed only as far as needed to know its status and where it ends (Content-Length,
chunked transfer coding, or the connection closing).
"""

from __future__ import annotations

import asyncio
import errno
from typing import Final

MAX_HEAD_BYTES: Final = 64 * 1024

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS, _UNTIL_CLOSE, _DONE = range(7)


class BadResponse(Exception):
    """The bytes received are not an HTTP/1.x response."""


class ConnectionClosed(ConnectionError):
    """The server closed the connection before the response ended."""


def encode_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request as sent on the wire (keep-alive, Content-Length when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: grade-loadgen"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class ResponseParser:
    """Incremental parser of one response: feed bytes until it says the response is complete."""

    def __init__(self, head_request: bool = False) -> None:
        self._head_request = head_request
        self._buffer = bytearray()
        self._state = _HEAD
        self._remaining = 0
        self.status = 0
        self.keep_alive = True

    def feed(self, data: bytes) -> bool:
        """Take more bytes; True once the whole response has been read. Raises BadResponse."""
        buf = self._buffer
        buf += data
        while self._state != _DONE:
            if self._state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise BadResponse(f"response head over {MAX_HEAD_BYTES} bytes")
                    return False
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._read_head(head)
            elif self._state in (_LENGTH, _CHUNK_DATA):
                if len(buf) < self._remaining:
                    self._remaining -= len(buf)
                    buf.clear()
                    return False
                del buf[: self._remaining]
                self._state = _DONE if self._state == _LENGTH else _CHUNK_SIZE
            elif self._state in (_CHUNK_SIZE, _TRAILERS):
                end = buf.find(b"\r\n")
                if end < 0:
                    return False
                line = bytes(buf[:end])
                del buf[: end + 2]
                if self._state == _TRAILERS:
                    self._state = _DONE if not line else _TRAILERS
                else:
                    self._read_chunk_size(line)
            else:  # _UNTIL_CLOSE
                buf.clear()
                return False
        return True

    def feed_eof(self) -> bool:
        """The server closed the connection: True if that ends the response (a body read until close)."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        return self._state == _DONE

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            return  # interim response (100 Continue): the real one follows
        self.status = status
        self.keep_alive = parts[0] != b"HTTP/1.0"
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = _content_length(value)
            elif name == b"transfer-encoding":
                chunked = value.strip().lower().endswith(b"chunked")
            elif name == b"connection":
                tokens = value.strip().lower()
                self.keep_alive = b"close" not in tokens and (self.keep_alive or b"keep-alive" in tokens)
        if self._head_request or status in (204, 304):
            self._state = _DONE
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._remaining = length
            self._state = _LENGTH if length else _DONE
        else:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False

    def _read_chunk_size(self, line: bytes) -> None:
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadResponse(f"bad chunk size line: {line[:40]!r}") from exc
        if size < 0:
            raise BadResponse(f"bad chunk size line: {line[:40]!r}")
        self._remaining = size + 2  # the data and its CRLF
        self._state = _CHUNK_DATA if size else _TRAILERS


def _content_length(value: bytes) -> int:
    text = value.strip()
    if not text.isdigit():
        raise BadResponse(f"bad Content-Length: {text[:40]!r}")
    return int(text)


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; :meth:`request` sends a request and resolves to its status code."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[int] | None = None
        self._parser = ResponseParser()
        self.closed = False
        self.received = False  # whether any byte of the current response arrived

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        """Connect (TCP_NODELAY is asyncio's default)."""
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def request(self, payload: bytes, *, head_request: bool = False) -> asyncio.Future[int]:
        """Send `payload`; the future resolves to the status code or fails with the transport error."""
        assert self._transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = ResponseParser(head_request)
        self.received = False
        self._transport.write(payload)
        return self._waiter

    def abort(self) -> None:
        """Drop the connection at once (after a timeout the response can no longer be matched)."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        self.received = True
        try:
            complete = self._parser.feed(data)
        except BadResponse as exc:
            self._fail(exc)
            return
        if complete:
            self._waiter = None
            if not self._parser.keep_alive:
                self.close()
            waiter.set_result(self._parser.status)

    def eof_received(self) -> bool:
        waiter = self._waiter
        self.closed = True
        if waiter is not None and not waiter.done() and self._parser.feed_eof():
            self._waiter = None
            waiter.set_result(self._parser.status)
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionClosed("connection closed before the response ended"))

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()


def error_kind(exc: BaseException) -> str:
    """A short, stable name for a transport error: 'timeout', 'connection refused', ..."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, ConnectionClosed):
        return "connection closed"
    if isinstance(exc, BadResponse):
        return "bad response"
    if isinstance(exc, OSError) and exc.errno is not None:
        return (exc.strerror or errno.errorcode.get(exc.errno, str(exc.errno))).lower()
    return type(exc).__name__
