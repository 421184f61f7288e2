#!/usr/bin/env bash
# A configuration whose instances cannot finish INIT ends at once with the platform's reason (the INIT_REPORT's
# Error Type), instead of waiting wait_s and reporting "only 0 of N messages processed": here the logreg handler
# is given a kmeans model, which its INIT refuses (Runtime.InitError); wait_s is 120 s, the run must end in 30.
set -euo pipefail
: "${MLFAAS_BIN:?run through ctest (MLFAAS_BIN unset)}"
: "${MLFAAS_SOURCE:?run through ctest (MLFAAS_SOURCE unset)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlfaas-experiment-init.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$MLFAAS_SOURCE"

mkdir -p "$WORK/models"
cp -r tests/data/classic/models/kmeans "$WORK/models/logreg"
cat >"$WORK/spec.yaml" <<YAML
name: initfail
dataset: {path: tests/data/classic/subset.csv, column: Text}
models_dir: $WORK/models
functions: [logreg]
memory_mb: [256]
max_concurrency: [1]
batch_sizes: [5]
messages: 2
timeout_s: 30
wait_s: 120
YAML
start=$(date +%s)
set +e
timeout 100 "$MLFAAS_BIN" experiment run "$WORK/spec.yaml" --out "$WORK/run" </dev/null >"$WORK/out" 2>&1
rc=$?
set -e
took=$(($(date +%s) - start))
[ "$rc" = 1 ] || fail "expected exit 1, got $rc: $(cat "$WORK/out")"
grep -q "logreg-m256-c1-b5: INIT failed with Runtime.InitError" "$WORK/out" || fail "no INIT reason: $(cat "$WORK/out")"
[ "$took" -lt 30 ] || fail "took $took s: the run waited instead of ending at the INIT failure"
echo "PASS ($(tail -1 "$WORK/out"), ${took} s)"
