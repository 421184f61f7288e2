#!/usr/bin/env python3
"""A real SMTP server for tests (Debian's python3-aiosmtpd): appends every message it accepts to a file, each
preceded by a line "From MAIL_FROM TO RCPT..." (mbox style).

usage: smtp_sink.py --mbox FILE --port-file FILE
"""
import argparse
import os
import signal
import socket
import threading

from aiosmtpd.controller import Controller


class AppendToFile:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        with open(self.path, "a") as f:
            f.write(f"From {envelope.mail_from} TO {' '.join(envelope.rcpt_tos)}\n{content}\n")
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mbox", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    for _ in range(20):
        port = free_port()
        controller = Controller(AppendToFile(args.mbox), hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except Exception:  # port taken between probe and bind: try another
            continue
    else:
        raise SystemExit("smtp_sink: no free port")
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(args.port_file + ".tmp", args.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
