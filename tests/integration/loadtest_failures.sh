#!/usr/bin/env bash
# Failures are counted, grouped by cause (status code, timeout, connection error) and make the exit code
# non-zero; usage errors are one line and exit 2.
source "$(dirname "$0")/loadtest_lib.bash"

start_server FAULTY --fail-every 5 --close-every 7 --hang-every 11 --hang-seconds 3
loadtest faults --host "$FAULTY_URL" --users 8 --spawn-rate 100 --run-time 4s --wait 0.02,0.05 --timeout 1s \
  --csv "$T/faults" --html "$T/faults.html"
cat "$T/faults.log"
[ "$RC" = 1 ] || fail "a run with failures exited $RC, expected 1"
for cause in "HTTP status" "timeout" "connection error"; do
  grep -q "^  $cause" "$T/faults.log" || fail "no '$cause' group in the summary"
done
grep -q "HTTPError: 500 Internal Server Error" "$T/faults_failures.csv" || fail "500s missing from failures.csv"
grep -q "Timeout: no response within 1 s" "$T/faults_failures.csv" || fail "timeouts missing from failures.csv"
grep -q "ConnectionError: connection closed before a response" "$T/faults_failures.csv" || fail "dropped connections missing"
failures=$(csv_value "$T/faults_stats.csv" Aggregated "Failure Count")
occurrences=$(/usr/bin/python3 -c 'import csv,sys; print(sum(int(r["Occurrences"]) for r in csv.DictReader(open(sys.argv[1]))))' "$T/faults_failures.csv")
[ "$failures" = "$occurrences" ] || fail "stats say $failures failures, failures.csv sums to $occurrences"
grep -q "requests failed" "$T/faults.log" || fail "no final failure line"
grep -q "Timeout: no response within 1 s" "$T/faults.html" || fail "failures missing from the HTML report"

# Nobody listening: every request is a connection error.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
loadtest refused --host "http://127.0.0.1:$port" --users 2 --run-time 1s --wait 0.1,0.2
[ "$RC" = 1 ] || fail "connection refused run exited $RC"
grep -q "Connection refused" "$T/refused.log" || fail "refused connections not reported"

# Usage errors: one line, exit 2.
expect_usage_error() {  # PATTERN ARGS...
  local pat="$1"; shift
  loadtest usage "$@"
  [ "$RC" = 2 ] || { cat "$T/usage.log"; fail "'$*' exited $RC, expected 2"; }
  grep -q -- "$pat" "$T/usage.log" || { cat "$T/usage.log"; fail "'$*': message lacks '$pat'"; }
  [ "$(wc -l <"$T/usage.log")" -le 2 ] || { cat "$T/usage.log"; fail "'$*': not a short message"; }
}
expect_usage_error "unknown scenario 'huge'" --host "$FAULTY_URL" --scenario huge
expect_usage_error "only http:// and https://" --host ftp://example.com --scenario heavy
expect_usage_error "invalid duration" --host "$FAULTY_URL" --users 2 --run-time 5x
expect_usage_error "MAX is below MIN" --host "$FAULTY_URL" --users 2 --run-time 1s --wait 3,1
expect_usage_error "cannot be combined" --host "$FAULTY_URL" --rate 10 --users 3 --run-time 1s
expect_usage_error "cannot resolve" --host http://no-such-host.invalid --scenario bursty
expect_usage_error "cannot open sentences file" --host "$FAULTY_URL" --scenario bursty --sentences "$T/missing.txt"
echo "PASS"
