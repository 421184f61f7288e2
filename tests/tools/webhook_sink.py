#!/usr/bin/env python3
"""An HTTP endpoint for tests that records every POST (headers + body) as a JSON line.

usage: webhook_sink.py --out FILE --port-file FILE [--fail-first N]
  --fail-first N   answer the first N requests with HTTP 500 (to exercise senders' retries)
"""
import argparse
import http.server
import json
import os
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"seen": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode("utf-8", "replace")
            with lock:
                state["seen"] += 1
                fail = state["seen"] <= args.fail_first
                with open(args.out, "a") as f:
                    f.write(json.dumps({"path": self.path, "status": 500 if fail else 200,
                                        "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body}) + "\n")
            self.send_response(500 if fail else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
