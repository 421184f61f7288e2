#!/usr/bin/env bash
# The whole experiment pipeline on experiments/smoke.yaml (committed test models, 500-row subset): errors for a
# bad spec / missing dataset / missing model, `mlfaas experiment run` (SAM template per configuration, child
# `mlfaas serve`, SNS Publish, REPORT + ML_ON_FAAS parsing), one CSV row per invocation, a resumed run that skips
# finished configurations, `mlfaas experiment report`, `parse-logs` on CloudWatch JSON and seed B's text files, and a headless-Chromium
# screenshot of the report (build/experiment_report.png; skipped with a message when chromium is missing).
set -euo pipefail
: "${MLFAAS_BIN:?run through ctest (MLFAAS_BIN unset)}"
: "${MLFAAS_SOURCE:?run through ctest (MLFAAS_SOURCE unset)}"
: "${MLFAAS_BUILD:?run through ctest (MLFAAS_BUILD unset)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlfaas-experiment.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$MLFAAS_SOURCE"

# Clear one-line errors, exit code 2 for a bad spec or dataset.
expect_error() {  # expect_error CODE NEEDLE ARGS...
  local code=$1 needle=$2
  shift 2
  set +e
  timeout 60 "$MLFAAS_BIN" experiment run "$@" >"$WORK/err.out" 2>&1
  local rc=$?
  set -e
  [ "$rc" = "$code" ] || fail "expected exit $code, got $rc for $*: $(cat "$WORK/err.out")"
  grep -qF -- "$needle" "$WORK/err.out" || fail "expected '$needle' in: $(cat "$WORK/err.out")"
}
sed 's/^messages: 3/messages: lots/' experiments/smoke.yaml >"$WORK/bad.yaml"
expect_error 2 "bad.yaml: messages: must be an integer" "$WORK/bad.yaml" --out "$WORK/x"
sed 's#path: tests/data/classic/subset.csv#path: no/such.csv#' experiments/smoke.yaml >"$WORK/nodata.yaml"
expect_error 2 "no/such.csv: dataset not found" "$WORK/nodata.yaml" --out "$WORK/x"
sed 's#^models_dir: .*#models_dir: no/models#' experiments/smoke.yaml >"$WORK/nomodel.yaml"
expect_error 1 "tools/train_classic.py" "$WORK/nomodel.yaml" --out "$WORK/x"

start=$(date +%s)
timeout 120 "$MLFAAS_BIN" experiment run experiments/smoke.yaml --out "$WORK/run" >"$WORK/run.out" 2>&1 \
  || fail "experiment run failed: $(tail -20 "$WORK/run.out"; tail -20 "$WORK"/run/serve/serve.out 2>/dev/null)"
echo "smoke run: $(( $(date +%s) - start )) s"
cat "$WORK/run.out"
csv="$WORK/run/invocations.csv"
[ -s "$csv" ] || fail "no invocations.csv"
python3 - "$csv" <<'PY' || fail "CSV content"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
# 3 functions x 2 memory sizes, 3 messages each: one row per invocation.
assert len(rows) == 18, len(rows)
configs = {(r["function"], r["memory_mb"]) for r in rows}
assert configs == {(f, m) for f in ("kmeans", "logreg", "random-forest") for m in ("256", "1769")}, configs
for r in rows:
    assert r["experiment"].startswith("smoke-"), r
    assert r["max_concurrency"] == "2" and r["batch_size"] == "20", r
    assert r["status"] == "ok", r
    assert float(r["billed_ms"]) >= float(r["duration_ms"]) > 0, r
    assert float(r["processing_ms"]) > 0 and float(r["processing_ms"]) <= float(r["duration_ms"]), r
    assert int(r["max_memory_mb"]) > 0 and int(r["cpu_count"]) >= 1, r
    assert float(r["cost_usd"]) > 0.2e-6, r
    if r["cold_start"] == "cold":
        assert float(r["init_ms"]) > 0, r
        # The bootstrap's own INIT (model load), a part of Init Duration.
        assert 0 < float(r["model_init_ms"]) <= float(r["init_ms"]), r
    else:
        assert r["cold_start"] == "warm" and float(r["init_ms"]) == 0, r
for key in configs:
    group = [r for r in rows if (r["function"], r["memory_mb"]) == key]
    assert sorted(r["message_id"] for r in group) == ["1", "2", "3"], group
    assert any(r["cold_start"] == "cold" for r in group), key
    # Reserved concurrency 2: never more than two instances.
    assert 1 <= len({r["instance_id"] for r in group}) <= 2, key
print("CSV ok:", len(rows), "rows")
PY

# Resumable: a second run skips every configuration.
timeout 60 "$MLFAAS_BIN" experiment run experiments/smoke.yaml --out "$WORK/run" >"$WORK/run2.out" 2>&1 \
  || fail "resumed run failed: $(cat "$WORK/run2.out")"
grep -q "6 configurations (6 done before), 0 new invocations" "$WORK/run2.out" || fail "not resumed: $(cat "$WORK/run2.out")"

# Report: re-rendered from the results, self-contained.
timeout 60 "$MLFAAS_BIN" experiment report "$WORK/run" >"$WORK/report.out" || fail "report failed"
html="$WORK/run/report.html"
for needle in "Recommended memory size" "Hot (warm) runtime vs memory" "Cost per request vs memory" \
  "Cold vs warm per request" "vCPUs per memory size" "<svg" "random-forest"; do
  grep -qF "$needle" "$html" || fail "report lacks '$needle'"
done
if grep -qiE '<script|src="http|href="http' "$html"; then fail "report is not self-contained"; fi

# CloudWatch JSON through the CLI.
timeout 30 "$MLFAAS_BIN" experiment parse-logs --cloudwatch "$MLFAAS_TEST_DATA/experiment/cloudwatch_filter_log_events.json" \
  --out "$WORK/cw.csv" || fail "parse-logs failed"
[ "$(wc -l <"$WORK/cw.csv")" = 4 ] || fail "parse-logs rows: $(cat "$WORK/cw.csv")"
grep -q ',1769,,1000,2024-03-11T10:00:02.411Z,cold,2398.770,2395.000,187.000,189.420,190,212,' "$WORK/cw.csv" \
  || fail "parse-logs row: $(cat "$WORK/cw.csv")"
# Seed B's own text files (5_get_logs.sh), format detected, next to the JSON.
timeout 30 "$MLFAAS_BIN" experiment parse-logs "$MLFAAS_TEST_DATA/experiment/seed_b_get_logs_text.log" \
  "$MLFAAS_TEST_DATA/experiment/cloudwatch_filter_log_events.json" --out "$WORK/both.csv" || fail "parse-logs (detected)"
[ "$(wc -l <"$WORK/both.csv")" = 7 ] || fail "parse-logs rows: $(cat "$WORK/both.csv")"
grep -q ',logistic-regression,1024,,100,2024-05-15T19:04:11.338Z,cold,735.100,1236.000,33.000,1275.430,2011,187,' \
  "$WORK/both.csv" || fail "seed B row: $(cat "$WORK/both.csv")"
printf 'ML_ON_FAAS - {"lambdaRequestId": "r", "batchSize": "ten", "logMessage": "x"}\n' >"$WORK/bad.log"
set +e
out=$("$MLFAAS_BIN" experiment parse-logs "$WORK/bad.log" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && echo "$out" | grep -q 'bad.log: line 1: ML_ON_FAAS batchSize "ten" is not a whole number' \
  || fail "unreadable value not an error (rc $rc): $out"

# Screenshot in headless Chromium (a rendering check a person or the next step looks at).
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP screenshot: chromium is not installed (apt-get install chromium)"
else
  rm -f "$MLFAAS_BUILD/experiment_report.png"
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$WORK/chromium" --screenshot="$MLFAAS_BUILD/experiment_report.png" --window-size=1280,2400 \
    "file://$html" >"$WORK/chromium.out" 2>&1 || fail "chromium failed: $(tail -5 "$WORK/chromium.out")"
  size=$(stat -c %s "$MLFAAS_BUILD/experiment_report.png" 2>/dev/null || echo 0)
  [ "$size" -gt 20000 ] || fail "screenshot missing or blank ($size bytes)"
  echo "screenshot: $MLFAAS_BUILD/experiment_report.png ($size bytes)"
fi
echo PASS
