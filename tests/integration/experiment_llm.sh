#!/usr/bin/env bash
# The LLM experiment's path through `mlfaas experiment run` on committed models (experiments/llm.yaml needs
# ../shared and a 620 MB model; this is its shape in seconds): functions given as {name, handler, model,
# memory_mb, environment, dataset}, ARC-shaped question objects as batch items, the `llm` handler's token fields
# from real logs in the CSV, and the report's text-generation section; a missing model names the command that
# writes it.
set -euo pipefail
: "${MLFAAS_BIN:?run through ctest (MLFAAS_BIN unset)}"
: "${MLFAAS_SOURCE:?run through ctest (MLFAAS_SOURCE unset)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlfaas-experiment-llm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$MLFAAS_SOURCE"

cat >"$WORK/llm.yaml" <<'YAML'
name: llmtest
dataset:
  path: tests/data/experiment/arc_shaped.jsonl
  field: question
functions:
  - name: stories
    handler: llm
    model: models/stories260K
    memory_mb: [256]
    environment:
      LLM_MAX_NEW_TOKENS: "16"
  - name: masks
    handler: fill-mask
    model: tests/data/models/bert-tiny-mlm
    memory_mb: [256]
    dataset:
      path: tests/data/experiment/fill_mask_texts.jsonl
      field: text
max_concurrency: [1]
batch_sizes: [1, 3]
messages: 2
timeout_s: 60
wait_s: 120
YAML

sed 's#model: models/stories260K#model: no/such.gguf\n    build: bench/llm_models.sh#' "$WORK/llm.yaml" >"$WORK/nomodel.yaml"
set +e
timeout 60 "$MLFAAS_BIN" experiment run "$WORK/nomodel.yaml" --out "$WORK/x" >"$WORK/err.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "a missing model: exit $rc: $(cat "$WORK/err.out")"
grep -qF 'no/such.gguf: model missing; write it with `bench/llm_models.sh`' "$WORK/err.out" ||
  fail "a missing model: $(cat "$WORK/err.out")"

timeout 240 "$MLFAAS_BIN" experiment run "$WORK/llm.yaml" --out "$WORK/run" >"$WORK/run.out" 2>&1 ||
  fail "experiment run: $(tail -20 "$WORK/run.out"; tail -20 "$WORK"/run/configs/*/serve.out 2>/dev/null)"
cat "$WORK/run.out"
grep -q 'Handler: llm' "$WORK/run/configs/stories-m256-c1-b3/template.yaml" || fail "template without Handler: llm"
grep -q 'LLM_MAX_NEW_TOKENS: "16"' "$WORK/run/configs/stories-m256-c1-b3/template.yaml" || fail "template without the environment"

python3 - "$WORK/run/invocations.csv" "$WORK/run/report.html" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 8, len(rows)  # 2 functions x 2 batch sizes x 2 messages
assert all(r["status"] == "ok" for r in rows), rows
for r in rows:
    batch, tokens = int(r["batch_size"]), int(r["generated_tokens"])
    if r["function"] == "stories":
        # the study's system prompt and chat format around each question: tens of prompt tokens per question
        assert int(r["prompt_tokens"]) > 40 * batch, r
        assert 0 < tokens <= 16 * batch, r
        assert float(r["tokens_per_second"]) > 0 and float(r["first_token_ms"]) > 0, r
    else:
        assert r["function"] == "masks" and tokens == 0 and float(r["first_token_ms"]) == 0, r
html = open(sys.argv[2]).read()
assert "<h2>Text generation</h2>" in html, "no text-generation section"
section = html[html.index("<h2>Text generation</h2>"):]
assert ">stories<" in section and ">masks<" in section and "cost per 1,000 tokens" in section
print("llm experiment: 8 invocations, token columns and the text-generation section present")
PY
