"""A real HTTP server on 127.0.0.1 for the model-zoo tests: plain files with Range support, cut connections,
and a fake Hugging Face Hub (``server.hub``: repo → files). ``server`` is its pytest fixture."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path → bytes) with Range support; ``cut`` paths drop the connection mid-file on their
    first full request, ``short`` paths always announce the full length but send half."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.short: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.hub: dict[str, dict[str, bytes]] = {}  # repo → files

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool):
        server: Server = self.server
        server.requests.append((self.command, self.path, self.headers.get("Range")))
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/?]+).*", self.path)
        if match and match[1] in server.hub and match[2] in ("main", COMMIT):  # other revisions: 404
            info = {"id": match[1], "sha": COMMIT, "siblings": [{"rfilename": f} for f in server.hub[match[1]]]}
            return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/?]+).*", self.path)
        if match and match[1] in server.hub and match[2] in ("main", COMMIT):
            tree = [{"type": "file", "path": f, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                    for f, d in server.hub[match[1]].items()]
            return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, body)
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
        if match and match[1] in server.hub and match[3] in server.hub[match[1]]:
            data = server.hub[match[1]][match[3]]
            return self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, body)
        data = server.files.get(self.path)
        if data is None:
            return self._send(404, b"not found", {}, body)
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match:
            start = int(match[1])
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            status = 206
        else:
            headers, status = {}, 200
        part = data[start:]
        headers |= {"Content-Length": str(len(part)), "Accept-Ranges": "bytes", "ETag": '"v1"',
                    "Content-Type": "application/octet-stream"}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not body:
            return
        if self.path in server.short or (self.path in server.cut and not match):
            server.cut.discard(self.path)
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)

    def _send(self, status, data, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


@pytest.fixture()
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


