#!/usr/bin/python3
"""A stand-in for the emotion function behind API Gateway, for `mlfaas loadtest` tests.

POST /sentimentAnalysisONNX with {"sentence": ...} (or {"text": ...}) answers like seed A's function:
{"predicted_label", "confidence_score", "details"} after --delay seconds. Faults on demand: every Nth request
answers 500, drops the connection without answering, or hangs past the client's timeout. --serial makes the
server handle one request at a time (a fixed capacity of 1/delay requests/s) to show queueing. --chunked
sends bodies with chunked transfer coding. GET /count returns how many POSTs arrived.
"""
import argparse
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABELS = ["others", "happy", "sad", "angry"]


def classify(sentence):
    # Deterministic fake probabilities: the test is about the load tester, not the model.
    digest = hashlib.sha256(sentence.encode()).digest()
    weights = [digest[i] + 1 for i in range(4)]
    total = sum(weights)
    details = {label: w / total for label, w in zip(LABELS, weights)}
    label = max(details, key=details.get)
    return {"predicted_label": label, "confidence_score": details[label], "details": details}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--serial", action="store_true")
    ap.add_argument("--chunked", action="store_true")
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--close-every", type=int, default=0)
    ap.add_argument("--hang-every", type=int, default=0)
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    ap.add_argument("--tls-cert", help="serve https with this PEM certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    counter_lock = threading.Lock()
    serial_lock = threading.Lock()
    state = {"posts": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, payload):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            if args.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(body) // 2
                for piece in (body[:half], body[half:]):
                    if piece:
                        self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def do_GET(self):
            if self.path == "/count":
                with counter_lock:
                    self.reply(200, {"posts": state["posts"]})
            else:
                self.reply(404, {"message": "Not Found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with counter_lock:
                state["posts"] += 1
                n = state["posts"]
            if self.path != "/sentimentAnalysisONNX":
                return self.reply(404, {"message": "Not Found"})
            try:
                data = json.loads(raw)
                sentence = data.get("sentence", data.get("text"))
                if not isinstance(sentence, str):
                    raise ValueError
            except ValueError:
                return self.reply(400, {"error": "expected JSON {\"sentence\": ...}"})
            if args.close_every and n % args.close_every == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if args.hang_every and n % args.hang_every == 0:
                time.sleep(args.hang_seconds)
            if args.serial:
                with serial_lock:
                    time.sleep(args.delay)
            elif args.delay:
                time.sleep(args.delay)
            if args.fail_every and n % args.fail_every == 0:
                return self.reply(500, {"error": "injected failure"})
            self.reply(200, classify(sentence))

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512

        def handle_error(self, request, client_address):
            # The load tester abandons in-flight requests when a run ends: a broken pipe here is expected.
            pass

    server = Server(("127.0.0.1", 0), Handler)
    if args.tls_cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
