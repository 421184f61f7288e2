#!/usr/bin/env python3
"""Overhead of the instance sandbox (issue 19): warm loopback p50 of the Invoke API (overhead.yaml's Echo, 300
keep-alive calls after 30 warm-ups) and the emotion function's cold start (REPORT Init Duration, one fresh serve
per round), for two `mlfaas` binaries, alternating round by round because the machine is shared.
  bench/instance_sandbox.py BEFORE_MLFAAS AFTER_MLFAAS BOOTSTRAP [ROUNDS]   (run from the repository root)
Prints a Markdown table of medians with min-max over rounds."""
import http.client, os, re, statistics, subprocess, sys, tempfile, time

before, after, bootstrap = (os.path.abspath(a) for a in sys.argv[1:4])
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
repo = os.getcwd()


def serve(binary, template, work, *extra):
    port_file = os.path.join(work, "port")
    p = subprocess.Popen([binary, "serve", "--template", template, "--port", "0", "--port-file", port_file,
                          "--log-dir", os.path.join(work, "logs"), "--state-dir", os.path.join(work, "state"),
                          "--bootstrap", bootstrap, *extra],
                         cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            return p, int(open(port_file).read())
        time.sleep(0.05)
    p.kill()
    raise SystemExit(f"{binary} serve did not start")


def warm_p50(binary):
    with tempfile.TemporaryDirectory() as work:
        p, port = serve(binary, os.path.join(repo, "tests/data/templates/overhead.yaml"), work)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            def invoke():
                t0 = time.perf_counter()
                conn.request("POST", "/2015-03-31/functions/Echo/invocations", body=b'{"x": 1}')
                r = conn.getresponse(); r.read()
                assert r.status == 200
                return (time.perf_counter() - t0) * 1e6
            for _ in range(30): invoke()
            return statistics.median(invoke() for _ in range(300))
        finally:
            p.terminate(); p.wait()


def emotion_cold(binary):
    with tempfile.TemporaryDirectory() as work:
        p, port = serve(binary, os.path.join(repo, "template.yaml"), work)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/2015-03-31/functions/EmotionFunction/invocations", body=b'{"sentence": "I am happy"}')
            r = conn.getresponse(); r.read()
            assert r.status == 200
            time.sleep(0.2)
            log = open(os.path.join(work, "logs", "EmotionFunction.log")).read()
            return float(re.search(r"Init Duration: ([0-9.]+) ms", log).group(1))
        finally:
            p.terminate(); p.wait()


results = {b: {"warm": [], "cold": []} for b in (before, after)}
for i in range(rounds):
    for b in ((before, after) if i % 2 == 0 else (after, before)):
        results[b]["warm"].append(warm_p50(b))
        results[b]["cold"].append(emotion_cold(b))
fmt = lambda xs, d: f"{statistics.median(xs):.{d}f} ({min(xs):.{d}f}-{max(xs):.{d}f})"
print(f"| binary | warm loopback p50 µs | emotion cold start (Init Duration) ms |\n|---|---|---|")
for name, b in (("before", before), ("after", after)):
    print(f"| {name} | {fmt(results[b]['warm'], 0)} | {fmt(results[b]['cold'], 1)} |")
