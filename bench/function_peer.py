#!/usr/bin/env python3
"""Client side of bench/function_peer.sh (stdlib only): drives two functions of one `mlfaas serve` through the
Invoke API with `X-Amz-Log-Type: Tail`, so that every request's own REPORT line (Duration, Billed Duration, Max
Memory Used, Init Duration) comes back with its answer, and times each request at the client.

  function_peer.py cold URL OUT.json FN... [--rounds N] [--idle-s S]
      N rounds; in each, every function (order alternating by round) gets one request once the platform has
      reclaimed its idle instance (serve runs with --idle-timeout S; a request whose REPORT has no Init Duration
      is a warm one: it is discarded and the wait repeated).
  function_peer.py warm URL OUT.json FN... [--rounds N] [--per-round M]
      N rounds of M sequential requests per function (alternating), keep-alive, the ten sentences in turn,
      after one unmeasured warm-up request per round; also records each function's answer to each sentence.
  function_peer.py prewarm URL FN USERS
      USERS concurrent request loops for 3 s, so that USERS instances are initialized and idle.
  function_peer.py report SENTENCES COLD.json WARM.json LOADTEST.tsv RSS.tsv CMD LOAD > TABLE.md
      checks the answers (|dp| <= 1e-3), prints the markdown table and the ratio line (last line).
"""
import base64
import http.client
import json
import re
import statistics
import sys
import time
from urllib.parse import urlparse

REPORT_FIELDS = {"Duration": "duration_ms", "Billed Duration": "billed_ms", "Max Memory Used": "max_memory_mb",
                 "Init Duration": "init_ms"}
PRICE_GB_S = 0.0000166667  # x86_64, AWS's price table (docs/PLATFORM.md, "Cost")
PRICE_REQUEST = 0.20 / 1e6
MEMORY_MB = 512
VCPU = MEMORY_MB / 1769
TOLERANCE = 1e-3


def sentences_of(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


class Client:
    def __init__(self, url):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def invoke(self, fn, payload, fresh=False):
        """-> (answer JSON, REPORT fields, client ms). fresh: a new connection, as a first caller opens one."""
        if fresh or self.conn is None:
            if self.conn: self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        body = json.dumps(payload).encode()
        t0 = time.perf_counter()
        self.conn.request("POST", "/2015-03-31/functions/%s/invocations" % fn, body,
                          {"Content-Type": "application/json", "X-Amz-Log-Type": "Tail"})
        res = self.conn.getresponse()
        data = res.read()
        ms = 1000 * (time.perf_counter() - t0)
        if res.status != 200 or res.getheader("X-Amz-Function-Error"):
            sys.exit("function_peer: %s answered %d %s: %s" % (fn, res.status, res.getheader("X-Amz-Function-Error"),
                                                                data[:300]))
        tail = base64.b64decode(res.getheader("X-Amz-Log-Result") or "").decode("utf-8", "replace")
        report = [l for l in tail.splitlines() if l.startswith("REPORT ")]
        if not report: sys.exit("function_peer: no REPORT line in %s's log tail" % fn)
        fields = {}
        for name, key in REPORT_FIELDS.items():
            m = re.search(r"\b%s: ([0-9.]+)" % name, report[-1])
            if m: fields[key] = float(m.group(1))
        return json.loads(data), fields, ms


def cold(url, out, fns, rounds=10, idle_s=1.0):
    client, rows = Client(url), []
    payload = {"sentence": "I am incredibly happy and excited about the new project!"}
    for r in range(rounds):
        order = fns if r % 2 == 0 else fns[::-1]
        for fn in order:
            for attempt in range(5):
                time.sleep(idle_s + 0.6)  # the platform reclaims instances idle for idle_s
                answer, rep, ms = client.invoke(fn, payload, fresh=True)
                if "init_ms" in rep: break
                print("cold %s: instance not reclaimed yet, waiting again" % fn, file=sys.stderr)
            else:
                sys.exit("function_peer: %s never started cold (is serve's --idle-timeout %s?)" % (fn, idle_s))
            rows.append(dict(fn=fn, client_ms=ms, **rep))
            print("cold round %d %s: init %.1f ms, first request %.1f ms at the client" % (r + 1, fn, rep["init_ms"], ms),
                  file=sys.stderr)
    json.dump(rows, open(out, "w"))


def cpu_ms(fn):
    """CPU time (user + system, all threads) of the live processes of FN's instances, from /proc (root)."""
    import os
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"AWS_LAMBDA_FUNCTION_NAME=%s\0" % fn.encode() not in open("/proc/%s/environ" % pid, "rb").read() + b"\0":
                continue
            fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * 1000 / tick
    return total


def warm(url, out, fns, sentences_path, rounds=10, per_round=20):
    sentences = sentences_of(sentences_path)
    clients = {fn: Client(url) for fn in fns}
    rows, answers, i = [], {fn: {} for fn in fns}, 0
    cpu = {fn: [0.0, 0] for fn in fns}  # CPU ms of the instance processes, requests
    for r in range(rounds):
        order = fns if r % 2 == 0 else fns[::-1]
        for fn in order:
            clients[fn].invoke(fn, {"sentence": sentences[0]})  # warm-up (and a cold start if one was due)
            before = cpu_ms(fn)
            for k in range(per_round):
                s = sentences[(i + k) % len(sentences)]
                answer, rep, ms = clients[fn].invoke(fn, {"sentence": s})
                if "init_ms" in rep: continue
                rows.append(dict(fn=fn, client_ms=ms, **rep))
                answers[fn][s] = answer
            cpu[fn][0] += cpu_ms(fn) - before
            cpu[fn][1] += per_round
        i += per_round
        print("warm round %d/%d" % (r + 1, rounds), file=sys.stderr)
    json.dump({"rows": rows, "answers": answers, "cpu": cpu}, open(out, "w"))


def prewarm(url, fn, users, seconds=3.0):
    """USERS threads send requests for SECONDS, each finishing its last one: the platform then holds USERS idle,
    initialized instances (a load test cut short would leave a request running, or an INIT half done)."""
    import threading
    end = time.monotonic() + seconds

    def loop():
        c = Client(url)
        while time.monotonic() < end:
            c.invoke(fn, {"sentence": "warm up"})
    threads = [threading.Thread(target=loop) for _ in range(users)]
    for t in threads: t.start()
    for t in threads: t.join()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def report(sentences_path, cold_path, warm_path, loadtest_path, rss_path, command, load):
    sentences = sentences_of(sentences_path)
    cold_rows, w = json.load(open(cold_path)), json.load(open(warm_path))
    warm_rows, answers = w["rows"], w["answers"]
    fns = list(answers)
    ours, peer = fns
    # Same work: same labels, probabilities within TOLERANCE, on every sentence.
    worst, bad = 0.0, []
    for s in sentences:
        a, b = answers[ours].get(s), answers[peer].get(s)
        if a is None or b is None: sys.exit("function_peer: no answer of both functions for %r" % s)
        d = max(abs(a["details"][k] - b["details"][k]) for k in a["details"])
        worst = max(worst, d)
        if d > TOLERANCE or set(a["details"]) != set(b["details"]) or a["predicted_label"] != b["predicted_label"]:
            bad.append("  %r: %s %s vs %s %s (max |dp| %.2e)" % (s, ours, a["details"], peer, b["details"], d))
    if bad:
        print("function_peer: FAIL: the two functions disagree beyond %g in probability:" % TOLERANCE, file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        sys.exit(1)

    lt = {}
    for line in open(loadtest_path):
        fn, users, rps, p50, colds = line.split()
        lt[(fn, int(users))] = (float(rps), float(p50), int(colds))

    rss = {}  # fn -> [(VmHWM, RssAnon, RssFile) kB] of its live instances after the load tests
    for line in open(rss_path):
        fn, hwm, anon, file_ = line.split()
        rss.setdefault(fn, []).append((int(hwm), int(anon), int(file_)))

    def of(rows, fn, key):
        return [r[key] for r in rows if r["fn"] == fn and key in r]

    stats = {}
    for fn in fns:
        billed = statistics.mean(of(warm_rows, fn, "billed_ms"))
        stats[fn] = {
            "init": statistics.median(of(cold_rows, fn, "init_ms")),
            "init_range": (min(of(cold_rows, fn, "init_ms")), max(of(cold_rows, fn, "init_ms"))),
            "first": statistics.median(of(cold_rows, fn, "client_ms")),
            "first_duration": statistics.median(of(cold_rows, fn, "duration_ms")),
            "p50": statistics.median(of(warm_rows, fn, "duration_ms")),
            "p99": pct(of(warm_rows, fn, "duration_ms"), 99),
            "cp50": statistics.median(of(warm_rows, fn, "client_ms")),
            "cp99": pct(of(warm_rows, fn, "client_ms"), 99),
            "cpu": w["cpu"][fn][0] / max(1, w["cpu"][fn][1]),
            "mem": max(of(cold_rows, fn, "max_memory_mb") + of(warm_rows, fn, "max_memory_mb")),
            "mem_cold": statistics.median(of(cold_rows, fn, "max_memory_mb")),
            "billed": billed,
            "cost": 1e6 * (billed / 1000 * MEMORY_MB / 1024 * PRICE_GB_S + PRICE_REQUEST),
            "cold_billed": statistics.median(of(cold_rows, fn, "billed_ms")),
            "n_cold": len(of(cold_rows, fn, "init_ms")), "n_warm": len(of(warm_rows, fn, "duration_ms")),
        }
    names = {ours: "mlfaas (C++ `bootstrap`, int8 `.mlf`)", peer: "Node.js 20 + onnxruntime-node 1.30 + tokenizers 0.23 (int8 ONNX)"}
    print("Command: `%s`; %s. Max Memory Used accounting: %s.\n" % (command, load, MEMORY_ACCOUNTING))
    print("| 512 MB function | %s | %s | mlfaas / peer |" % (names[ours], names[peer]))
    print("|---|---|---|---|")
    S = lambda k, f="%.1f": (f % stats[ours][k], f % stats[peer][k], stats[ours][k] / stats[peer][k])
    def row(label, k, f="%.1f"):
        a, b, r = S(k, f)
        print("| %s | %s | %s | %.3f |" % (label, a, b, r))
    ci = lambda fn: "%.1f (%.1f–%.1f)" % (stats[fn]["init"], *stats[fn]["init_range"])
    print("| Init Duration ms, median (min–max) of %d cold starts | %s | %s | **%.3f** |" % (
        stats[ours]["n_cold"], ci(ours), ci(peer), stats[ours]["init"] / stats[peer]["init"]))
    row("Cold request at the client ms (Invoke API, new connection), median", "first")
    row("Duration of the cold request ms (REPORT), median", "first_duration", "%.2f")
    row("Billed Duration of the cold request ms (init + duration), median", "cold_billed", "%.0f")
    a, b, r = S("p50", "%.2f")
    print("| Warm Duration p50 ms (REPORT, %d requests each) | %s | %s | **%.3f** |" % (stats[ours]["n_warm"], a, b, r))
    row("Warm Duration p99 ms (REPORT)", "p99", "%.2f")
    row("CPU time per warm request ms (the instance process's user + system time over the warm rounds / requests)", "cpu", "%.2f")
    row("Warm latency p50 ms at the client (Invoke API, keep-alive)", "cp50", "%.2f")
    row("Warm latency p99 ms at the client", "cp99", "%.2f")
    a, b, r = S("mem", "%d")
    print("| Max Memory Used MB (largest REPORT) | %s | %s | **%.3f** |" % (a, b, r))
    row("Max Memory Used MB, median over the cold starts", "mem_cold", "%d")
    if ours in rss and peer in rss:
        top = {fn: max(rss[fn]) for fn in fns}
        print("| Peak RSS of the instance process MiB (VmHWM, largest of %d / %d live instances; in brackets its anonymous + file-backed RSS at the end) | %.1f (%.1f + %.1f) | %.1f (%.1f + %.1f) | %.3f |" % (
            len(rss[ours]), len(rss[peer]), *(x / 1024 for x in top[ours]), *(x / 1024 for x in top[peer]),
            top[ours][0] / top[peer][0]))
    cold_in_lt = []
    for users in (1, 2):
        (ra, pa, ca), (rb, pb, cb) = lt[(ours, users)], lt[(peer, users)]
        if ca or cb: cold_in_lt.append("%d user(s): %d (mlfaas), %d (peer)" % (users, ca, cb))
        v = users * VCPU
        print("| `mlfaas loadtest`, %d user(s) / instance(s): requests/s (per vCPU, %.2f vCPU) | %.1f (%.0f) | %.1f (%.0f) | %.2f |"
              % (users, v, ra, ra / v, rb, rb / v, ra / rb))
        print("| … median response time ms at the client (HTTP API route) | %.1f | %.1f | %.2f |" % (pa, pb, pa / pb))
    row("Mean Billed Duration of a warm request ms", "billed", "%.2f")
    a, b, r = S("cost", "$%.3f")
    print("| Cost per million warm requests at 512 MB (billed ms × $%.10f/GB-s × 0.5 GB + $0.20) | %s | %s | %.2f |"
          % (PRICE_GB_S, a, b, r))
    print("\nCold starts inside the measured load tests: %s." % ("; ".join(cold_in_lt) if cold_in_lt else "none"))
    print("\nAnswers: the same label on all %d sentences, max |Δp| %.1e (bar %g)." % (len(sentences), worst, TOLERANCE))
    print("init_ratio=%.3f warm_p50_ratio=%.3f max_memory_ratio=%.3f" % (
        stats[ours]["init"] / stats[peer]["init"], stats[ours]["p50"] / stats[peer]["p50"],
        stats[ours]["mem"] / stats[peer]["mem"]))


MEMORY_ACCOUNTING = "not stated"

if __name__ == "__main__":
    a = sys.argv[1:]
    if not a or a[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if a else 2)

    def opt(name, default):
        if name in a:
            i = a.index(name)
            v = a[i + 1]
            del a[i:i + 2]
            return type(default)(v)
        return default

    if a[0] == "cold":
        rounds, idle = opt("--rounds", 10), opt("--idle-s", 1.0)
        cold(a[1], a[2], a[3:], rounds, idle)
    elif a[0] == "warm":
        rounds, per = opt("--rounds", 10), opt("--per-round", 20)
        sentences = opt("--sentences", "")
        warm(a[1], a[2], a[3:], sentences, rounds, per)
    elif a[0] == "prewarm":
        prewarm(a[1], a[2], int(a[3]))
    elif a[0] == "report":
        MEMORY_ACCOUNTING = opt("--memory-accounting", MEMORY_ACCOUNTING)
        report(*a[1:8])
    else:
        sys.exit("function_peer.py: unknown command %s (cold, warm or report)" % a[0])
