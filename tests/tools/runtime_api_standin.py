#!/usr/bin/env python3
"""A Lambda Runtime API (2018-06-01) stand-in for driving one `bootstrap` in tests, without `mlfaas serve`.

Hands out the events of --events (one JSON payload per line) in order on /invocation/next, and writes one JSON
line per invocation to --out: {"request_id", "event", "kind": "response" | "error", "headers", "body", and for
streamed responses "chunks": [[ms since the event was handed out, text], ...], "trailers"}. /init/error is recorded
with "kind": "init_error". When every event is answered (or INIT failed) it writes --out and exits 0; the
bootstrap, whose next /next then fails, exits on its own.
"""
import argparse
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

API = "/2018-06-01/runtime"


class State:
    def __init__(self, events):
        self.events = events
        self.next_index = 0
        self.handed_out = {}  # request id -> (index, monotonic time)
        self.results = []
        self.done = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        state = self.server.state
        if self.path != API + "/invocation/next":
            return self.answer(404)
        if state.next_index >= len(state.events):
            state.done = True
            self.close_connection = True
            return self.answer(410, b'{"message": "no more events"}')
        request_id = str(uuid.uuid4())
        payload = state.events[state.next_index].encode("utf-8")
        state.handed_out[request_id] = (state.next_index, time.monotonic())
        state.next_index += 1
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:t")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def read_chunked(self, t0):
        chunks, trailers = [], {}
        while True:
            size_line = self.rfile.readline()
            if not size_line:
                raise ConnectionError("the body ended before its last chunk")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            data = self.rfile.read(size)
            chunks.append([(time.monotonic() - t0) * 1000.0, data])
            self.rfile.read(2)  # CRLF
        while True:
            line = self.rfile.readline().decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            trailers[name.strip()] = value.strip()
        return chunks, trailers

    def do_POST(self):
        state = self.server.state
        if self.path == API + "/init/error":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.results.append({"kind": "init_error", "headers": dict(self.headers), "body": body.decode()})
            state.done = True
            return self.answer(202, b'{"status": "OK"}')
        parts = self.path[len(API) + 1:].split("/")
        if len(parts) != 3 or parts[0] != "invocation" or parts[1] not in state.handed_out:
            return self.answer(404)
        request_id, kind = parts[1], parts[2]
        index, t0 = state.handed_out.pop(request_id)
        record = {"request_id": request_id, "event": index, "kind": kind, "headers": dict(self.headers)}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, trailers = self.read_chunked(t0)
            raw = b"".join(c[1] for c in chunks)
            record["chunks"] = [[t, c.decode("utf-8", "replace")] for t, c in chunks]
            record["trailers"] = trailers
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record["body"] = raw.decode("utf-8", "replace")
        record["ms"] = (time.monotonic() - t0) * 1000.0
        state.results.append(record)
        self.answer(202, b'{"status": "OK"}')


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--port-file", required=True, help="written with the port once listening")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    events = [l.rstrip("\n") for l in open(args.events, encoding="utf-8") if l.strip()]
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.state = State(events)
    server.timeout = 0.2
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    deadline = time.monotonic() + args.timeout
    while not server.state.done and time.monotonic() < deadline:
        server.handle_request()
    with open(args.out, "w", encoding="utf-8") as f:
        for r in server.state.results:
            f.write(json.dumps(r) + "\n")
    if not server.state.done:
        print("runtime_api_standin: timed out", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
