"""A real HTTP server on 127.0.0.1 with Range support and ways to misbehave."""

from __future__ import annotations

import http.server
import socket
import time
from dataclasses import dataclass, field


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_first: set[str] = field(default_factory=set)  # first response stops halfway
    stall_first: set[str] = field(default_factory=set)  # first response pauses halfway
    fail_first: dict[str, int] = field(default_factory=dict)  # first response is this status
    content_types: dict[str, str] = field(default_factory=dict)
    no_length: set[str] = field(default_factory=set)  # no Content-Length header
    slow: set[str] = field(default_factory=set)  # 1 KB every 0.1 s
    ignore_range: bool = False


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path in state.fail_first:
            self.send_error(state.fail_first.pop(self.path))
            return
        start = 0
        if range_header and not state.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header(
            "Content-Type", state.content_types.get(self.path, "application/octet-stream")
        )
        if self.path not in state.no_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in state.slow:
            for begin in range(0, len(payload), 1024):
                try:
                    self.wfile.write(payload[begin : begin + 1024])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away
                time.sleep(0.1)
            return
        if self.path in state.cut_first:
            state.cut_first.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # hang up mid-file
            self.close_connection = True
            return
        if self.path in state.stall_first:
            state.stall_first.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            time.sleep(4.0)  # far longer than the client's read timeout
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output clean; requests are recorded in ServerState
