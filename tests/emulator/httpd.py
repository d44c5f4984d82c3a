"""HTTP/1.1 over loopback: a thread per connection, keep-alive, one write per response.

Writing status line, headers and body in a single send (and TCP_NODELAY) keeps
small responses from waiting on delayed ACKs, which matters at hundreds of pages
per second.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.core import Emulator, Response

REASONS = {520: "Unknown Error", 522: "Connection Timed Out", 524: "A Timeout Occurred"}


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to `Emulator.dispatch` and writes what it returns."""

    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    disable_nagle_algorithm = True
    server: EmulatorServer

    def parse_request(self) -> bool:
        """Note the arrival time before header parsing (request records use it)."""
        self.arrived = time.time()
        return super().parse_request()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        emulator = self.server.emulator
        response = emulator.dispatch(self.command, self.path, self.headers, body, self.arrived)
        if response.drop:
            self._drop()
            return
        if response.delay > 0:
            self.server.stopping.wait(response.delay)
        self._write(response)

    def do_GET(self) -> None:
        """GET: every API route."""
        self._serve()

    def do_POST(self) -> None:
        """POST: the OAuth2 token URLs and the control endpoints."""
        self._serve()

    def do_PUT(self) -> None:
        """PUT: answered (405/404) like Discord does for routes it does not have."""
        self._serve()

    def do_PATCH(self) -> None:
        """PATCH: as PUT."""
        self._serve()

    def do_DELETE(self) -> None:
        """DELETE: as PUT."""
        self._serve()

    def _drop(self) -> None:
        """Close the connection without answering (a network fault)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response) -> None:
        status = response.status
        reason = REASONS.get(status) or self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {self.date_time_string()}"]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + response.body)
        except OSError:  # the client gave up (timeout) or the emulator is stopping
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `Emulator.requests` instead of a log."""


class EmulatorServer(ThreadingHTTPServer):
    """The listening socket, plus the open connections so `stop()` can close them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, emulator: Emulator, port: int) -> None:
        """Bind 127.0.0.1:`port` (0 = a free port)."""
        super().__init__(("127.0.0.1", port), _Handler)
        self.emulator = emulator
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then serve it on its own thread."""
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a connection once its thread is done with it."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Stop accepting, close the listener and every keep-alive connection."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        with self.connections_lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def serve(emulator: Emulator, port: int = 0) -> EmulatorServer:
    """Start serving on a daemon thread and return the server."""
    server = EmulatorServer(emulator, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"emulator:{server.port}",
        daemon=True,
    )
    thread.start()
    return server
