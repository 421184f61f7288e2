#!/usr/bin/env python3
"""Client side of bench/llm_function.sh: against a running `mlfaas serve` whose template has one `llm` function
per memory size, for each function:
  1. one Invoke of a 256-token answer (the first: a cold start), then `--warm` more: the engine's time to first
     token and decode tokens/s come from the answer's `timings`, Init Duration / Billed Duration / Max Memory
     Used from the function's REPORT lines (read later by the shell script through `mlfaas experiment
     parse-logs`; this prints the request ids);
  2. `--streams` InvokeWithResponseStream calls of a short answer (`"stream": true, "stream_format": "ndjson"`):
     a raw HTTP client timestamps the send and the first PayloadChunk holding text; the stream's last line
     carries the engine's `timings.first_token_ms` for that request. The difference is what the platform,
     the Runtime API and the runtime add between the client and the engine's first token.
Prints one JSON object per line. Standard library only."""
import argparse
import http.client
import json
import struct
import time

PROMPT = "You are a chatbot trying to answer a multiple choice question. Which gas do plants take in from the air?"


def invoke(port, name, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request("POST", f"/2015-03-31/functions/{name}/invocations", json.dumps(body))
    res = conn.getresponse()
    data = res.read()
    conn.close()
    if res.status != 200 or res.getheader("X-Amz-Function-Error"):
        raise SystemExit(f"{name}: Invoke answered {res.status}: {data[:300]!r}")
    return res.getheader("x-amzn-RequestId"), json.loads(data)


def events(buffer):
    """Complete event-stream messages at the front of buffer: ([(headers, payload)], rest)."""
    out = []
    while len(buffer) >= 12:
        total, headers_len = struct.unpack(">II", buffer[:8])
        if len(buffer) < total:
            break
        raw, headers, i = buffer[12:12 + headers_len], {}, 0
        while i < len(raw):
            n = raw[i]
            name = raw[i + 1:i + 1 + n].decode()
            i += 1 + n
            kind = raw[i]
            i += 1
            if kind == 7:  # string
                (length,) = struct.unpack(">H", raw[i:i + 2])
                headers[name] = raw[i + 2:i + 2 + length].decode()
                i += 2 + length
            else:
                raise SystemExit(f"unexpected event-stream header type {kind}")
        out.append((headers, buffer[12 + headers_len:total - 4]))
        buffer = buffer[total:]
    return out, buffer


def stream(port, name, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    payload = json.dumps(body)
    conn.connect()
    t0 = time.perf_counter()
    conn.request("POST", f"/2021-11-15/functions/{name}/response-streaming-invocations", payload)
    res = conn.getresponse()
    if res.status != 200:
        raise SystemExit(f"{name}: InvokeWithResponseStream answered {res.status}: {res.read()[:300]!r}")
    request_id = res.getheader("x-amzn-RequestId")
    first_text_ms, buffer, text = None, b"", b""
    while True:
        data = res.read1(65536)
        if not data:
            break
        now = time.perf_counter()
        got, buffer = events(buffer + data)
        for headers, body_bytes in got:
            if headers.get(":event-type") != "PayloadChunk":
                continue
            text += body_bytes
            if first_text_ms is None and b'"text"' in body_bytes:
                first_text_ms = (now - t0) * 1000
    conn.close()
    lines = [json.loads(line) for line in text.decode().splitlines() if line.strip()]
    tail = lines[-1]
    return {"request_id": request_id, "first_byte_ms": first_text_ms,
            "engine_first_token_ms": tail["timings"]["first_token_ms"],
            "overhead_ms": first_text_ms - tail["timings"]["first_token_ms"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--functions", nargs="+", required=True)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--warm", type=int, default=1)
    ap.add_argument("--streams", type=int, default=5)
    a = ap.parse_args()
    for name in a.functions:
        for i in range(1 + a.warm):
            body = {"prompt": PROMPT, "max_new_tokens": a.tokens, "ignore_eos": True, "seed": i}
            rid, answer = invoke(a.port, name, body)
            print(json.dumps({"function": name, "kind": "answer", "request_id": rid,
                              "completion_tokens": answer["usage"]["completion_tokens"], **answer["timings"]}),
                  flush=True)
        for i in range(a.streams):
            body = {"prompt": PROMPT, "max_new_tokens": 8, "ignore_eos": True, "seed": i, "stream": True,
                    "stream_format": "ndjson"}
            print(json.dumps({"function": name, "kind": "stream", **stream(a.port, name, body)}), flush=True)


if __name__ == "__main__":
    main()
