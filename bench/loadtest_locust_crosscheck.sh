#!/usr/bin/env bash
# Cross-check against real Locust (Debian python3-locust, headless): the same scenario (the Locust file comes
# from `mlfaas loadtest --emit-locustfile`), the same local stand-in of the emotion function, one after the
# other. Passes when request counts agree within 10%, medians within 25%, and the CSV headers are Locust's. Writes bench/out/loadtest_locust.md.
#   bench/loadtest_locust_crosscheck.sh [SCENARIO] [TIME_SCALE] [SERVER_DELAY_S]
# Defaults: heavy 1 0.1 (two 60 s runs, about 2.5 minutes). Optional and long: not part of `make check`.
source "$(dirname "$0")/lib.sh"
SCENARIO="${1:-heavy}"
SCALE="${2:-1}"
DELAY="${3:-0.1}"

"$REPO/tools/setup.sh" core loadtest >/dev/null
command -v locust >/dev/null || { echo "bench: locust is missing (tools/setup.sh loadtest)" >&2; exit 1; }
[ -x "$BUILD/mlfaas" ] || { echo "bench: $BUILD/mlfaas is missing; build first (make build)" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
/usr/bin/python3 "$REPO/tests/integration/loadtest_server.py" --port-file "$TMP/port" --delay "$DELAY" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$TMP/port")"
posts() { curl -s "$URL/count" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["posts"])'; }

"$BUILD/mlfaas" loadtest --scenario "$SCENARIO" --time-scale "$SCALE" --host "$URL" \
  --emit-locustfile "$TMP/locustfile.py" >"$TMP/emit.out"
cmd=$(sed -n 's/^  locust /locust /p' "$TMP/emit.out" | sed "s|--csv PREFIX|--csv $TMP/locust|")
echo "running: $cmd" >&2
before=$(posts)
(cd "$TMP" && timeout 900 $cmd --only-summary >"$TMP/locust.log" 2>&1) || true
locust_posts=$(( $(posts) - before ))
[ -s "$TMP/locust_stats.csv" ] || { tail -20 "$TMP/locust.log" >&2; echo "bench: locust wrote no CSV" >&2; exit 1; }

before=$(posts)
"$BUILD/mlfaas" loadtest --scenario "$SCENARIO" --time-scale "$SCALE" --host "$URL" --csv "$TMP/mlfaas" >"$TMP/mlfaas.log" 2>&1 || true
mlfaas_posts=$(( $(posts) - before ))

# Our CSV files must carry exactly Locust's headers.
for f in stats stats_history failures exceptions; do
  cmp -s <(head -1 "$TMP/locust_$f.csv") <(head -1 "$TMP/mlfaas_$f.csv") ||
    { echo "bench: the header of _$f.csv differs from Locust's" >&2; exit 1; }
done
echo "CSV headers identical to Locust's (stats, stats_history, failures, exceptions)" >&2

/usr/bin/python3 - "$TMP/locust_stats.csv" "$TMP/mlfaas_stats.csv" "$OUTDIR/loadtest_locust.md" \
  "$SCENARIO" "$SCALE" "$DELAY" "$locust_posts" "$mlfaas_posts" "locust $(dpkg-query -W -f='${Version}' python3-locust 2>/dev/null || echo unknown)" <<'PY'
import csv, sys
locust_csv, mlfaas_csv, out, scenario, scale, delay, locust_posts, mlfaas_posts, locust_version = sys.argv[1:]
def aggregated(path):
    return [r for r in csv.DictReader(open(path, newline="")) if r["Name"] == "Aggregated"][0]
l, m = aggregated(locust_csv), aggregated(mlfaas_csv)
lc, mc = int(l["Request Count"]), int(m["Request Count"])
lm, mm = float(l["Median Response Time"]), float(m["Median Response Time"])
count_ok = abs(mc - lc) <= 0.10 * lc
median_ok = abs(mm - lm) <= 0.25 * lm
rows = [("Requests", lc, mc), ("Failures", l["Failure Count"], m["Failure Count"]),
        ("Requests received by the server", locust_posts, mlfaas_posts),
        ("Median (ms)", f"{lm:.0f}", f"{mm:.0f}"),
        ("Average (ms)", f'{float(l["Average Response Time"]):.1f}', f'{float(m["Average Response Time"]):.1f}'),
        ("95%ile (ms)", l["95%"], m["95%"]), ("99%ile (ms)", l["99%"], m["99%"]),
        ("Max (ms)", f'{float(l["Max Response Time"]):.1f}', f'{float(m["Max Response Time"]):.1f}'),
        ("Requests/s", f'{float(l["Requests/s"]):.2f}', f'{float(m["Requests/s"]):.2f}')]
text = [f"## Cross-check with Locust: scenario {scenario}, time scale {scale}",
        "",
        f"Local stand-in of the emotion function (tests/integration/loadtest_server.py, {delay} s per request);",
        f"{locust_version} runs the file from `mlfaas loadtest --emit-locustfile`.",
        f"Command: `bench/loadtest_locust_crosscheck.sh {scenario} {scale} {delay}`.",
        "",
        "| | Locust | mlfaas loadtest |", "|---|---:|---:|"]
text += [f"| {name} | {a} | {b} |" for name, a, b in rows]
text += ["", f"Request counts within 10%: {'yes' if count_ok else 'NO'} ({(mc - lc) / lc * 100:+.1f}%); "
             f"medians within 25%: {'yes' if median_ok else 'NO'} ({(mm - lm) / lm * 100:+.1f}%)."]
open(out, "w").write("\n".join(text) + "\n")
print("\n".join(text))
sys.exit(0 if count_ok and median_ok else 1)
PY
