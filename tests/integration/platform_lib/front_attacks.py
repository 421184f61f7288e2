"""Attacks on `mlfaas serve`'s public port, for tests/integration/platform_front_*.sh.

Each subcommand plays one attacker from issue 19 and exits non-zero (with the reason) when the server gives in.
Only the standard library: SigV4 is signed here by hand, the way botocore signs (a known-good request first, so
that a refusal of the attack cannot come from a signing mistake).
"""
import datetime
import hashlib
import hmac
import json
import os
import resource
import socket
import sys
import threading
import time
import urllib.parse

HOST = "127.0.0.1"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def raw(port, data, timeout=10.0, read_all=True):
    """Sends bytes, returns (status, headers text, body) of the first answer."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.sendall(data)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if not read_all and b"\r\n\r\n" in buf:
                break
    except socket.timeout:
        pass
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    status = int(line.split()[1]) if line.startswith("HTTP/") else 0
    return status, head.decode("latin-1"), body


# ---------------------------------------------------------------- SigV4

def sign(port, key, secret, path, body, query="", content_sha=None, unsigned=False, region="us-east-1"):
    """Headers of a SigV4-signed POST, as botocore makes them."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    host = f"{HOST}:{port}"
    payload_hash = "UNSIGNED-PAYLOAD" if unsigned else (content_sha or hashlib.sha256(body).hexdigest())
    headers = {"host": host, "x-amz-date": amz_date}
    if content_sha or unsigned:
        headers["x-amz-content-sha256"] = payload_hash
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    params = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                               for k, v in params)
    canonical_uri = urllib.parse.quote(path, safe="/-_.~")
    canonical = "\n".join(["POST", canonical_uri, canonical_query, canonical_headers, signed, payload_hash])
    scope = f"{day}/{region}/lambda/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, "lambda", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    return headers


def post(port, path, body, headers, query=""):
    target = path + ("?" + query if query else "")
    lines = [f"POST {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def invoke(port, key, secret, name, body, query="", extra=None):
    path = "/2015-03-31/functions/" + urllib.parse.quote(name, safe="") + "/invocations"
    headers = sign(port, key, secret, path, body, query)
    headers.update(extra or {})
    return post(port, path, body, headers, query)


def cmd_sigv4(port, key, secret):
    path = "/2015-03-31/functions/Echo/invocations"
    good = b'{"amount": 10}'
    evil = b'{"amount": 1000000}'
    status, _, body = post(port, path, good, sign(port, key, secret, path, good))
    if status != 200 or json.loads(body) != {"amount": 10}:
        fail(f"a correctly signed invoke was not served: {status} {body!r}")
    # The capture: a request signed over `good`, then sent with another body.
    captured = sign(port, key, secret, path, good)
    status, head, body = post(port, path, evil, captured)
    if status != 403 or b"InvalidSignatureException" not in head.encode() + body:
        fail(f"replayed signature with another body: {status} {head} {body!r}")
    # The same capture, but carrying the hash of the signed body in X-Amz-Content-Sha256.
    captured = sign(port, key, secret, path, good, content_sha=hashlib.sha256(good).hexdigest())
    status, head, body = post(port, path, evil, captured)
    if status != 403:
        fail(f"replay with X-Amz-Content-Sha256 of the signed body was accepted: {status} {body!r}")
    # Payload signing switched off: Lambda's Invoke does not allow it.
    status, _, body = post(port, path, evil, sign(port, key, secret, path, evil, unsigned=True))
    if status != 403:
        fail(f"UNSIGNED-PAYLOAD accepted for Invoke: {status} {body!r}")
    # A correct X-Amz-Content-Sha256 is fine.
    status, _, body = post(port, path, good,
                           sign(port, key, secret, path, good, content_sha=hashlib.sha256(good).hexdigest()))
    if status != 200:
        fail(f"a request with a correct X-Amz-Content-Sha256 was refused: {status} {body!r}")


def cmd_qualifiers(port, key, secret):
    def expect(name, want, query="", error=None):
        status, head, body = invoke(port, key, secret, name, b"{}", query)
        if status != want or (error and error not in head):
            fail(f"invoke {name!r} ?{query}: expected {want} {error or ''}, got {status} {head} {body!r}")
    expect("Echo", 200)
    expect("Echo", 200, "Qualifier=%24LATEST")
    expect("Echo:$LATEST", 200)
    expect("Echo", 404, "Qualifier=7", "ResourceNotFoundException")
    expect("Echo:prod", 404, error="ResourceNotFoundException")
    expect("Echo:prod", 400, "Qualifier=7", "InvalidParameterValueException")
    expect("arn:aws:lambda:us-east-1:123456789012:function:Echo", 200)
    expect("arn:aws:lambda:eu-west-1:123456789012:function:Echo", 404, error="ResourceNotFoundException")
    expect("arn:aws:lambda:us-east-1:999999999999:function:Echo", 404, error="ResourceNotFoundException")
    expect("999999999999:function:Echo", 404, error="ResourceNotFoundException")
    expect("123456789012:function:Echo", 200)
    expect("Echo:a:b", 400, error="ValidationException")


def cmd_bounds(port, key, secret):
    """Numbers out of range and deep nesting: 400, never a function error or a crashed instance."""
    deep = "[" * 100_000 + "]" * 100_000
    status, head, body = invoke(port, key, secret, "Echo", deep.encode())
    if status != 400 or "InvalidRequestContentException" not in head:
        fail(f"Invoke with a payload nested 100k deep: {status} {head} {body!r}")
    status, head, body = invoke(port, key, secret, "Echo", b'{"x": 1e400}')
    if status != 400:
        fail(f"Invoke with 1e400: {status} {body!r}")
    # An SNS notification whose message nests 100k deep, delivered to a function that echoes it back.
    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                          "Sns": {"Type": "Notification", "MessageId": "m", "Message": deep,
                                  "TopicArn": "arn:aws:sns:us-east-1:123456789012:mlfaas-test-topic"}}]}
    status, head, body = invoke(port, key, secret, "Subscriber", json.dumps(event).encode())
    if status != 200 or "X-Amz-Function-Error" in head:
        fail(f"SNS message nested 100k deep: {status} {head} {body[:300]!r}")
    result = json.loads(body)["results"][0]
    if result.get("error") != "Invalid JSON" or "deep" not in result.get("details", ""):
        fail(f"SNS message nested 100k deep: unexpected answer {body[:300]!r}")
    # The same instance still answers (it did not crash).
    status, head, body = invoke(port, key, secret, "Subscriber", b'{"still": "alive"}')
    if status != 200 or json.loads(body) != {"still": "alive"}:
        fail(f"Subscriber after the deep message: {status} {head} {body!r}")
    # API routes: API Gateway passes the body on, the function answers 400 (not a 502 function error).
    for payload in (b'{"sentence": 1e400}', b'{"sentence": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        status, head, body = post(port, "/sentimentAnalysisONNX", payload, {"Host": "x"})
        if status != 400 or b"Invalid JSON" not in body:
            fail(f"route body {payload[:30]!r}: {status} {body[:300]!r}")


def cmd_http(port):
    """Malformed requests get API Gateway's answers, not a closed connection."""
    checks = [
        ("malformed request line", b"GARBAGE\r\n\r\n", 400, b'"Bad Request"'),
        ("bad HTTP version", b"GET / HTTP/9.x\r\nHost: a\r\n\r\n", 400, b'"Bad Request"'),
        ("oversized headers", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431,
         b"Request Header Fields Too Large"),
        ("bad chunk size", b"POST /sentimentAnalysisONNX HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"zz\r\nabc\r\n0\r\n\r\n", 400, b'"Bad Request"'),
        ("chunk size overflow", b"POST /sentimentAnalysisONNX HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                                b"\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400, b'"Bad Request"'),
        ("oversized Invoke body", b"POST /2015-03-31/functions/Echo/invocations HTTP/1.1\r\nHost: a\r\n"
                                  b"Content-Length: 7000000\r\n\r\n", 413, b"RequestTooLargeException"),
    ]
    for what, data, want, marker in checks:
        status, head, body = raw(port, data)
        if status != want or marker not in head.encode() + body:
            fail(f"{what}: expected {want} with {marker!r}, got {status} {head!r} {body[:200]!r}")
    # Expect: 100-continue is answered before the body is sent.
    body = json.dumps({"sentence": "I am happy"}).encode()
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(b"POST /sentimentAnalysisONNX HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    first = s.recv(4096)
    if not first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
        fail(f"Expect: 100-continue not answered with 100 Continue: {first[:100]!r}")
    s.sendall(body)
    rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    if not rest.startswith(b"HTTP/1.1 200"):
        fail(f"after 100 Continue: {rest[:200]!r}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cmd_fds(port, pid, count):
    """With serve limited to 1024 descriptors, `count` idle connections must not make it spin or go deaf."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 200), hard))
    idle = []
    for _ in range(count):
        idle.append(socket.create_connection((HOST, port), timeout=10))
    time.sleep(1.0)  # serve has accepted what it can and hit EMFILE
    hz = os.sysconf("SC_CLK_TCK")
    t0 = cpu_ticks(pid)
    time.sleep(2.0)
    used = (cpu_ticks(pid) - t0) / hz
    if used > 0.3:
        fail(f"serve used {used:.2f} s of CPU in 2 s with its descriptors exhausted (spinning on accept)")
    answer = {}

    def client():
        try:
            answer["status"] = raw(port, b"GET /_mlfaas/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                   timeout=20)[0]
        except OSError as e:
            answer["error"] = str(e)
    t = threading.Thread(target=client)
    t.start()
    time.sleep(0.5)
    for s in idle[:200]:  # some clients go away
        s.close()
    t.join(25)
    for s in idle[200:]:
        s.close()
    if answer.get("status") != 200:
        fail(f"a new client was not answered after descriptors freed up: {answer}")
    print(f"fds: {count} idle connections, serve CPU {used:.2f} s over 2 s, new client answered")


def cmd_async_queue(port, key, secret):
    """Event invokes beyond the per-function byte bound get 429 TooManyRequestsException."""
    pad = "x" * 300_000
    statuses = []
    for i in range(8):
        body = json.dumps({"ms": 3000, "pad": pad}).encode()
        status, head, _ = invoke(port, key, secret, "Limited", body, extra={"X-Amz-Invocation-Type": "Event"})
        statuses.append(status)
        if status == 429 and "TooManyRequestsException" not in head:
            fail(f"full event queue answered 429 without TooManyRequestsException: {head}")
    # Limited runs 2 at once; 1 MB of queue holds 3 events of 300 KB: the rest is refused.
    if statuses.count(202) != 5 or statuses[-1] != 429:
        fail(f"Event invokes with a 1 MB queue: {statuses}")


def cmd_memory(port, key, secret):
    """--instance-memory-mb 300: two 128 MB instances fit, a third concurrent one is throttled."""
    results = []

    def call():
        results.append(invoke(port, key, secret, "Sleep", b'{"ms": 700}')[0])
    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.15)
    for t in threads:
        t.join(30)
    if sorted(results) != [200, 200, 429]:
        fail(f"3 concurrent 128 MB invocations within 300 MB: {results}")
    time.sleep(0.5)  # the Sleep instances have asked for more work and are idle
    # Idle instances are reclaimed for another function instead of refusing it.
    status, _, body = invoke(port, key, secret, "Echo", b'{"after": "reclaim"}')
    if status != 200:
        fail(f"Echo with two idle Sleep instances holding the memory: {status} {body!r}")


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    key, secret = os.environ.get("SIGV4_KEY", ""), os.environ.get("SIGV4_SECRET", "")
    if cmd == "sigv4":
        cmd_sigv4(port, key, secret)
    elif cmd == "qualifiers":
        cmd_qualifiers(port, key, secret)
    elif cmd == "bounds":
        cmd_bounds(port, key, secret)
    elif cmd == "http":
        cmd_http(port)
    elif cmd == "fds":
        cmd_fds(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "async_queue":
        cmd_async_queue(port, key, secret)
    elif cmd == "memory":
        cmd_memory(port, key, secret)
    else:
        fail("unknown command " + cmd)
    print("ok " + cmd)


if __name__ == "__main__":
    main()
