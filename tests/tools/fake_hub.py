#!/usr/bin/env python3
"""A local stand-in for the Hugging Face Hub's download URL layout, for tests.

Serves repositories from ROOT/OWNER/NAME/ (standard library only):
  GET /api/models/OWNER/NAME/revision/REV   -> {"siblings": [{"rfilename": ...}], "sha": ...}
  GET /OWNER/NAME/resolve/REV/FILE          -> 302 to /cdn/SHA256 for large files (with X-Linked-Etag and
                                               X-Linked-Size, as the Hub does for LFS files), else 200 + ETag
  GET /cdn/SHA256                           -> the bytes, honouring Range (206 + Content-Range)
Behaviour by owner, to exercise clients' error paths:
  gated/*   -> 401 GatedRepo unless "Authorization: Bearer good-token"
  flaky/*   -> the first CDN response of each blob is cut off half-way (connection closed)
  corrupt/* -> CDN bytes differ from the advertised sha256
Unknown repositories answer 401 RepoNotFound and unknown revisions 404 RevisionNotFound, like the Hub.
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import threading

LARGE_SUFFIXES = (".safetensors", ".bin", ".gguf", ".model")


class Hub:
    def __init__(self, root, log_path=None):
        self.root = root
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.blobs = {}  # sha -> (owner, path)
        self.cut_done = set()
        self.lock = threading.Lock()

    def record(self, line):
        if self.log_file:
            self.log_file.write(line + "\n")

    def repo_dir(self, owner, name):
        d = os.path.join(self.root, owner, name)
        return d if os.path.isdir(d) else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def auth_ok(self, owner):
        if owner != "gated":
            return True
        return self.headers.get("Authorization", "") == "Bearer good-token"

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        hub = self.server.hub
        with hub.lock:
            hub.record(f"{self.command} {self.path} range={self.headers.get('Range')}")
        m = re.fullmatch(r"/api/models/([^/]+)/([^/]+)/revision/([^/?]+)", self.path)
        if m:
            owner, name, rev = m.groups()
            return self.api(owner, name, rev)
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", self.path)
        if m:
            return self.resolve(*m.groups())
        m = re.fullmatch(r"/cdn/([0-9a-f]{64})", self.path)
        if m:
            return self.cdn(m.group(1))
        self.send_json(404, {"error": "not found"})

    def repo_errors(self, owner, name, rev):
        hub = self.server.hub
        if hub.repo_dir(owner, name) is None:
            self.send_json(401, {"error": "Repository Not Found"},
                           {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return True
        if not self.auth_ok(owner):
            self.send_json(401, {"error": "Access to model is restricted"},
                           {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to model is restricted"})
            return True
        if rev != "main":
            self.send_json(404, {"error": "Revision Not Found"},
                           {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id: " + rev})
            return True
        return False

    def api(self, owner, name, rev):
        if self.repo_errors(owner, name, rev):
            return
        d = self.server.hub.repo_dir(owner, name)
        files = sorted(f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
        self.send_json(200, {"id": f"{owner}/{name}", "sha": "0" * 40,
                             "siblings": [{"rfilename": f} for f in files]})

    def resolve(self, owner, name, rev, file):
        if self.repo_errors(owner, name, rev):
            return
        hub = self.server.hub
        path = os.path.join(hub.repo_dir(owner, name), file)
        if "/" in file or not os.path.isfile(path):
            return self.send_json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        data = open(path, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        if file.endswith(LARGE_SUFFIXES):
            with hub.lock:
                hub.blobs[sha] = (owner, path)
            self.send_response(302)
            self.send_header("Location", f"/cdn/{sha}")
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"' + hashlib.sha1(data).hexdigest() + '"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def cdn(self, sha):
        hub = self.server.hub
        with hub.lock:
            entry = hub.blobs.get(sha)
        if entry is None:
            return self.send_json(404, {"error": "no such blob"})
        owner, path = entry
        data = open(path, "rb").read()
        if owner == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        rng = self.headers.get("Range")
        status = 200
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            if not m:
                return self.send_json(400, {"error": "bad range"})
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = False
        with hub.lock:
            if owner == "flaky" and sha not in hub.cut_done:
                hub.cut_done.add(sha)
                cut = True
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True, help="written with the port once listening")
    ap.add_argument("--log", help="request log, one line per request")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hub = Hub(args.root, args.log)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
