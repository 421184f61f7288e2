#!/usr/bin/env bash
# Open model: below capacity, latency is the service time; above it, latency measured from each request's
# intended send time grows with the queue (no coordinated omission), far beyond what the connections alone
# would show.
source "$(dirname "$0")/loadtest_lib.bash"

# One request at a time, 20 ms each: a capacity of 50 requests/s.
start_server SERIAL --serial --delay 0.02

loadtest below --host "$SERIAL_URL" --rate 20 --run-time 3s --connections 4 --csv "$T/below"
cat "$T/below.log"
[ "$RC" = 0 ] || fail "below-capacity run exited $RC"
below_median=$(csv_value "$T/below_stats.csv" Aggregated "Median Response Time")
below_count=$(csv_value "$T/below_stats.csv" Aggregated "Request Count")
# Every intended request is sent and answered: 3 s at 20/s.
[ "$below_count" = 60 ] || fail "below capacity: $below_count requests, expected 60"
[ "$below_median" -lt 300 ] || fail "below capacity the median is $below_median ms"

# 100/s for 3 s: 300 requests the server needs 6 s for; the last ones wait ~3 s behind the queue.
loadtest above --host "$SERIAL_URL" --rate 100 --run-time 3s --connections 10 --timeout 30s --csv "$T/above" --html "$T/above.html"
cat "$T/above.log"
[ "$RC" = 0 ] || fail "above-capacity run exited $RC"
count=$(csv_value "$T/above_stats.csv" Aggregated "Request Count")
p99=$(csv_value "$T/above_stats.csv" Aggregated "99%")
median=$(csv_value "$T/above_stats.csv" Aggregated "Median Response Time")
echo "above capacity: $count requests, median $median ms, p99 $p99 ms"
[ "$count" = 300 ] || fail "every intended request must be measured: $count, expected 300"
grep -q 'intended/s' "$T/above.html" || fail "the report does not show the intended rate"
# With 10 connections a closed-loop measurement could never exceed ~10 x 20 ms per request; from the intended
# send time the tail reaches seconds.
[ "$p99" -ge 1500 ] || fail "p99 $p99 ms does not show the queue"
[ "$median" -ge 500 ] || fail "median $median ms does not show the queue"
[ "$median" -gt $((below_median * 5)) ] || fail "median above capacity ($median) not far above below ($below_median)"
echo "PASS"
