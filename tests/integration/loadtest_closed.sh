#!/usr/bin/env bash
# Closed model against a local stand-in of the emotion function: seed A's medium scenario time-scaled to 6 s
# finishes with 0 failures, counts agree with what the server received, users honour their waits, and the
# Locust CSV files and the HTML report are written.
source "$(dirname "$0")/loadtest_lib.bash"

start_server EMO --delay 0.02
loadtest closed --host "$EMO_URL" --scenario medium --time-scale 0.05 --csv "$T/run" --html "$T/report.html"
cat "$T/closed.log"
[ "$RC" = 0 ] || fail "medium scenario exited $RC"
grep -q "medium, closed model: 50 users spawned at 40/s" "$T/closed.log" || fail "scenario line missing"

requests=$(csv_value "$T/run_stats.csv" Aggregated "Request Count")
failures=$(csv_value "$T/run_stats.csv" Aggregated "Failure Count")
posts=$(server_posts "$EMO_URL")
echo "client counted $requests requests, $failures failures; server received $posts"
[ "$failures" = 0 ] || fail "failures: $failures"
# Requests still in flight when the run ends are abandoned (as Locust does): at most one per user.
[ "$requests" -le "$posts" ] && [ "$posts" -le $((requests + 50)) ] || fail "client $requests vs server $posts"
# User u runs from u/40 s to 6 s and waits >= 0.15 s between requests: an upper bound on what it may send.
max_allowed=$(/usr/bin/python3 -c 'print(int(sum((6 - u / 40) / 0.15 + 1 for u in range(50))))')
[ "$requests" -le "$max_allowed" ] || fail "$requests requests exceed what the waits allow ($max_allowed)"
# Loose lower bound (a loaded machine): a third of the ideal ~ sum((6 - u/40) / 0.22).
[ "$requests" -ge 400 ] || fail "only $requests requests"
median=$(csv_value "$T/run_stats.csv" Aggregated "Median Response Time")
[ "$median" -ge 20 ] || fail "median $median ms is below the server's 20 ms delay"

head -1 "$T/run_stats_history.csv" | grep -q '^Timestamp,User Count,Type,Name,Requests/s' || fail "history header"
rows=$(($(wc -l <"$T/run_stats_history.csv") - 1))
[ "$rows" -ge 5 ] && [ "$rows" -le 8 ] || fail "history has $rows rows for a 6 s run"
[ "$(head -1 "$T/run_failures.csv" | tr -d '\r')" = "Method,Name,Error,Occurrences" ] || fail "failures header"
[ "$(wc -l <"$T/run_failures.csv")" = 1 ] || fail "failures file not empty"
# The last history row shows all 50 users.
last_users=$(tail -1 "$T/run_stats_history.csv" | cut -d, -f2)
[ "$last_users" = 50 ] || fail "last history row has $last_users users"
grep -q '<svg' "$T/report.html" || fail "no chart in the report"

# The {"text": ...} body of seed A's Locust file, a custom closed model and a chunked server.
start_server CHUNKED --chunked
loadtest text --host "$CHUNKED_URL" --users 5 --spawn-rate 50 --run-time 2s --wait 0.01,0.02 --field text --threads 2 --csv "$T/text"
cat "$T/text.log"
[ "$RC" = 0 ] || fail "chunked/text run exited $RC"
[ "$(csv_value "$T/text_stats.csv" Aggregated "Request Count")" -ge 50 ] || fail "too few requests against the chunked server"
echo "PASS"
