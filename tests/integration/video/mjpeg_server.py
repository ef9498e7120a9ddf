"""A small HTTP MJPEG camera on loopback for tests: basic auth, and corrupted parts on demand."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MjpegCamera:
    """Serves ``frames()`` (JPEG bytes, or anything for corruption) at ``fps`` on 127.0.0.1."""

    def __init__(
        self, frames: Callable[[int], bytes], fps: float = 5.0, username: str | None = None,
        password: str | None = None, max_seconds: float = 120.0,
    ) -> None:
        outer = self
        self.frames = frames
        self.fps = fps
        self.stop = threading.Event()
        self.requests: list[int] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if username is not None:
                    want = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        outer.requests.append(401)
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                outer.requests.append(200)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=ffserver")
                self.end_headers()
                started = time.monotonic()
                i = 0
                try:
                    while not outer.stop.is_set() and time.monotonic() - started < max_seconds:
                        body = outer.frames(i)
                        self.wfile.write(
                            b"--ffserver\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body + b"\r\n"
                        )
                        self.wfile.flush()
                        i += 1
                        outer.stop.wait(1.0 / outer.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/video.mjpg"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MjpegCamera:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
