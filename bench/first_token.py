#!/usr/bin/env python3
"""Exec -> first token: starts a command, times the first line it writes to stdout (the first generated token), and
reports the median over runs after warm-ups, plus the peak RSS of the process (from wait4).
    first_token.py [--runs N] [--warmup N] [--stdin TEXT] -- CMD ARGS...   -> one JSON line
Used by bench/llama.sh for both engines, so both are measured by the same clock from the same exec."""
import argparse, json, os, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--stdin", default=None)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
if not cmd:
    sys.exit("first_token.py: no command")

times, rss = [], []
for i in range(a.warmup + a.runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if a.stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if a.stdin is not None:
        p.stdin.write(a.stdin.encode()); p.stdin.close()
    line = p.stdout.readline()
    t1 = time.perf_counter()
    p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if not line or os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"first_token.py: {cmd[0]} failed (exit {os.waitstatus_to_exitcode(status)}, output {line!r})")
    if i >= a.warmup:
        times.append((t1 - t0) * 1000)
        rss.append(usage.ru_maxrss / 1024)
print(json.dumps({"first_token_ms_median": round(statistics.median(times), 1), "runs_ms": [round(t, 1) for t in times],
                  "peak_rss_mib": round(max(rss), 1)}))
