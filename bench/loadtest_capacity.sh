#!/usr/bin/env bash
# Capacity of `mlfaas loadtest` against wrk (Debian's wrk 4.1) on a trivial local HTTP endpoint
# (bench/loadtest_http_server.cc): the same POST, connections and threads, alternating runs in the same
# session; the median of each is reported. mlfaas runs its closed model with no wait (one connection per
# user), which is what wrk does. Writes bench/out/loadtest.md.
#   bench/loadtest_capacity.sh [SECONDS_PER_RUN] [ROUNDS]
# Needs no ../shared data. Takes about 2 x configurations x ROUNDS x SECONDS_PER_RUN seconds.
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RUN="${1:-5}"
ROUNDS="${2:-3}"
SERVER_THREADS="${SERVER_THREADS:-1}"
CONFIGS=("1 64" "2 128")  # "threads connections"

"$REPO/tools/setup.sh" core bench >/dev/null
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
for bin in "$BUILD/mlfaas" "$BUILD/bench/loadtest_http_server"; do
  [ -x "$bin" ] || { echo "bench: $bin is missing; build first (make build)" >&2; exit 1; }
done

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$BUILD/bench/loadtest_http_server" --port-file "$TMP/port" --threads "$SERVER_THREADS" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$TMP/port")"
SENTENCE="This is a sentence."
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"sentence": "$SENTENCE"}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "$SENTENCE" >"$TMP/sentence.txt"

# Each run prints "REQUESTS_PER_S CPU_US_PER_REQUEST": client CPU time (user + system) per completed request
# is steadier than throughput on a machine shared with the server and other work.
run_wrk() {  # threads connections
  /usr/bin/time -f "%U %S" -o "$TMP/cpu" wrk -t"$1" -c"$2" -d"${SECONDS_PER_RUN}s" -s "$TMP/post.lua" \
    "$URL/sentimentAnalysisONNX" >"$TMP/wrk.out"
  local rps requests
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.out")
  requests=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  awk -v rps="$rps" -v n="$requests" '{printf "%s %.2f\n", rps, ($1 + $2) * 1e6 / n}' "$TMP/cpu"
}
run_mlfaas() {  # threads connections
  /usr/bin/time -f "%U %S" -o "$TMP/cpu" "$BUILD/mlfaas" loadtest --host "$URL" --users "$2" --spawn-rate 1000000 \
    --wait 0 --run-time "${SECONDS_PER_RUN}s" --threads "$1" --sentences "$TMP/sentence.txt" --csv "$TMP/run" >/dev/null
  local rps requests
  read -r rps requests < <(/usr/bin/python3 -c 'import csv,sys; r=[r for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"][0]; print(r["Requests/s"], r["Request Count"])' "$TMP/run_stats.csv")
  awk -v rps="$rps" -v n="$requests" '{printf "%s %.2f\n", rps, ($1 + $2) * 1e6 / n}' "$TMP/cpu"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

OUT="$OUTDIR/loadtest.md"
{
  echo "## Load tester capacity: mlfaas loadtest vs wrk"
  echo
  echo "Trivial keep-alive HTTP endpoint (bench/loadtest_http_server, $SERVER_THREADS thread), POST with a JSON body,"
  echo "${SECONDS_PER_RUN} s per run, $ROUNDS alternating runs per tool, median requests/s; $(nproc) CPU cores shared by"
  echo "client and server; $(date -u +%Y-%m-%d). Command: \`bench/loadtest_capacity.sh $SECONDS_PER_RUN $ROUNDS\`."
  echo
  echo "| Threads | Connections | wrk req/s | mlfaas loadtest req/s | mlfaas / wrk | wrk CPU µs/req | mlfaas CPU µs/req | runs req/s (wrk; mlfaas) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$OUT"
for config in "${CONFIGS[@]}"; do
  read -r threads connections <<<"$config"
  wrk_runs=(); ours_runs=(); wrk_cpu=(); ours_cpu=()
  for round in $(seq "$ROUNDS"); do
    read -r rps cpu < <(run_wrk "$threads" "$connections"); wrk_runs+=("$rps"); wrk_cpu+=("$cpu")
    read -r rps cpu < <(run_mlfaas "$threads" "$connections"); ours_runs+=("$rps"); ours_cpu+=("$cpu")
    echo "threads $threads connections $connections round $round: wrk ${wrk_runs[-1]} req/s ${wrk_cpu[-1]} us/req;" \
      "mlfaas ${ours_runs[-1]} req/s ${ours_cpu[-1]} us/req" >&2
  done
  w=$(median "${wrk_runs[@]}"); o=$(median "${ours_runs[@]}")
  ratio=$(awk -v o="$o" -v w="$w" 'BEGIN {printf "%.2f", o / w}')
  printf '| %s | %s | %.0f | %.0f | %s× | %s | %s | %s; %s |\n' "$threads" "$connections" "$w" "$o" "$ratio" \
    "$(median "${wrk_cpu[@]}")" "$(median "${ours_cpu[@]}")" \
    "$(printf '%.0f ' "${wrk_runs[@]}" | sed 's/ $//')" "$(printf '%.0f ' "${ours_runs[@]}" | sed 's/ $//')" >>"$OUT"
done
cat "$OUT"
