#!/usr/bin/env bash
# The `llm` and `fill-mask` handlers in bootstrap, driven by a Runtime API stand-in (tests/tools/
# runtime_api_standin.py) with the shipped models/stories260K and the bert-tiny-mlm fixture:
#  - greedy {"prompt"} equals `mlfaas generate` (and HF's fixture); {"messages"} equals `mlfaas generate --messages`
#    with Llama 2's template (transformers 4.36's default for a model without one);
#  - the study's SNS message of 3 ARC questions answers a list of 3 (sampled with the study's defaults), and the
#    ML_ON_FAAS / EMF lines carry the experiment, batch size and tokens;
#  - a streamed answer (Lambda-Runtime-Function-Response-Mode: streaming, chunked) starts long before it ends and
#    concatenates to the non-streamed text; through an HTTP API event it starts with Lambda's HTTP prelude; LLM_STREAM=1
#    streams without asking;
#  - bad requests (empty prompt, wrong types, unknown fields, a prompt over the context, an empty batch) are 400s and
#    the runtime goes on;
#  - fill-mask answers HF's fill-mask pipeline shape, its tokens and scores those of HF's fixture.
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
build=${MLFAAS_BUILD:-$(dirname "$MLFAAS_BIN")}
source_dir=${MLFAAS_SOURCE:-$MLFAAS_TEST_DATA/../..}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
model="$source_dir/models/stories260K"
standin="$source_dir/tests/tools/runtime_api_standin.py"
[ -x "$build/bootstrap" ] || fail "no bootstrap in $build"

# run_bootstrap NAME HANDLER MODEL [VAR=VALUE...]: serves $work/NAME.events, answers in $work/NAME.out, stdout in
# $work/NAME.log.
run_bootstrap() {
  local name=$1 handler=$2 model_path=$3
  shift 3
  rm -f "$work/$name.port"
  timeout 120 python3 "$standin" --events "$work/$name.events" --out "$work/$name.out" --port-file "$work/$name.port" &
  local standin_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  [ -s "$work/$name.port" ] || fail "$name: the Runtime API stand-in did not start"
  env AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat "$work/$name.port")" _HANDLER="$handler" MODEL_PATH="$model_path" \
    AWS_LAMBDA_FUNCTION_NAME="$name" AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 LLM_THREADS=1 "$@" \
    timeout 120 "$build/bootstrap" >"$work/$name.log" 2>&1 || true  # it exits once the stand-in has no more events
  wait "$standin_pid" || fail "$name: the stand-in failed: $(tail -3 "$work/$name.log")"
}

generate() { timeout 60 "$MLFAAS_BIN" generate --model "$model" --threads 1 "$@" 2>/dev/null; }

# 1. Greedy prompt, chat messages, the study's batch (direct and through SNS), streaming, bad requests.
question1='Which gas do plants take in to make food?\nA. oxygen\nB. carbon dioxide\nC. nitrogen\nD. helium'
python3 - "$work/llm.events" <<'PY'
import json, sys
arc = [
    "Which gas do plants take in to make food?\nA. oxygen\nB. carbon dioxide\nC. nitrogen\nD. helium",
    {"question": {"stem": "What is the boiling point of water at sea level?",
                  "choices": [{"label": "A", "text": "50 C"}, {"label": "B", "text": "100 C"},
                              {"label": "C", "text": "150 C"}]}},
    "Which planet is closest to the Sun?\nA. Venus\nB. Mars\nC. Mercury\nD. Earth",
]
greedy = {"temperature": 0, "max_new_tokens": 32, "ignore_eos": True}
long_greedy = {"temperature": 0, "max_new_tokens": 400, "ignore_eos": True}
study = {"ExperimentId": "exp-llm", "MessageId": "m-7", "Batch": arc, "max_new_tokens": 24, "seed": 42}
events = [
    {"prompt": "Once upon a time", **greedy},                                                        # 0
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell a story."}],
     **greedy},                                                                                      # 1
    study,                                                                                           # 2
    {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps({**study, "Batch": arc[:1],
                                                                           "temperature": 0})}}]},  # 3
    {"prompt": "Once upon a time", **long_greedy},                                                   # 4
    {"prompt": "Once upon a time", "stream": True, **long_greedy},                                   # 5
    {"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "isBase64Encoded": False,
     "body": json.dumps({"prompt": "Once upon a time", "stream": True, **greedy})},                  # 6
    {"prompt": ""},                                                                                  # 7
    {"prompt": 5},                                                                                   # 8
    {"prompt": "hi", "colour": "red"},                                                               # 9
    {"prompt": " ".join(["dragon"] * 600)},                                                          # 10
    {"messages": "hello"},                                                                           # 11
    {"prompt": "hi", "temperature": "hot"},                                                          # 12
    {"Batch": []},                                                                                   # 13
    {"prompt": "hi", "max_new_tokens": -1},                                                          # 14
    ["not", "an", "object"],                                                                         # 15
    {"prompt": "Once upon a time", **greedy},                                                        # 16: still serving
]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for e in events:
        f.write(json.dumps(e) + "\n")
PY
run_bootstrap llm llm "$model"

want_prompt=$(generate --prompt "Once upon a time" --max-new-tokens 32 --ignore-eos)
want_fixture=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["prompt"] == "Once upon a time": print(r["greedy_text"])' "$MLFAAS_TEST_DATA/llama/stories260K_expected.jsonl")
[ "$want_prompt" = "$want_fixture" ] || fail "mlfaas generate differs from the fixture: '$want_prompt'"
template="$MLFAAS_TEST_DATA/llama/chat_templates/llama-2-7b-chat.jinja"
want_chat=$(generate --messages '[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell a story."}]' \
  --chat-template "$template" --max-new-tokens 32 --ignore-eos)
want_q1=$(generate --messages "$(python3 -c 'import json,sys; print(json.dumps([
  {"role": "system", "content": "You are a chatbot trying to answer a multiple choice question."},
  {"role": "user", "content": sys.argv[1].replace("\\n", "\n")}]))' "$question1")" \
  --chat-template "$template" --max-new-tokens 24)
want_long=$(generate --prompt "Once upon a time" --max-new-tokens 400 --ignore-eos)

python3 - "$work/llm.out" "$want_prompt" "$want_chat" "$want_q1" "$want_long" <<'PY' || fail "llm answers (above)"
import json, sys
rows = {r["event"]: r for r in map(json.loads, open(sys.argv[1], encoding="utf-8")) if "event" in r}
want_prompt, want_chat, want_q1, want_long = sys.argv[2:6]
assert len(rows) == 17, sorted(rows)
def answer(i):
    r = rows[i]
    assert r["kind"] == "response", (i, r)
    assert "chunks" not in r, (i, "streamed without being asked")
    return json.loads(r["body"])

a = answer(0)
assert a["generated_text"] == want_prompt, (a["generated_text"], want_prompt)
assert a["finish_reason"] == "length" and a["usage"] == {"prompt_tokens": 5, "completion_tokens": 32,
                                                         "total_tokens": 37}, a
assert a["timings"]["tokens_per_second"] > 0 and "seed" not in a, a
assert answer(1)["generated_text"] == want_chat, (answer(1)["generated_text"], want_chat)

batch = answer(2)
assert isinstance(batch, list) and len(batch) == 3, batch
for b in batch:
    assert set(b) == {"generated_text", "finish_reason", "usage", "timings", "seed"}, b
    assert b["seed"] == 42 and 1 <= b["usage"]["completion_tokens"] <= 24, b
    assert b["usage"]["prompt_tokens"] > 20, b  # system prompt + question through the chat template
sns = answer(3)
assert len(sns["results"]) == 1 and len(sns["results"][0]) == 1, sns
assert sns["results"][0][0]["generated_text"] == want_q1, (sns["results"][0][0]["generated_text"], want_q1)

plain = answer(4)["generated_text"]
assert plain == want_long, "400-token greedy differs from mlfaas generate"
s = rows[5]
assert s["headers"].get("Lambda-Runtime-Function-Response-Mode") == "streaming", s["headers"]
assert s["headers"].get("Transfer-Encoding") == "chunked" and s["trailers"] == {}, s
text = "".join(c[1] for c in s["chunks"])
assert text == plain, "streamed chunks do not concatenate to the non-streamed text"
times = [c[0] for c in s["chunks"] if c[1]]
assert len(times) >= 100, len(times)
# The first words arrive while the rest is still being generated, not at the end.
assert times[0] < 0.25 * times[-1], (times[0], times[-1])
print(f"stream: {len(times)} chunks, first at {times[0]:.2f} ms after the event was handed out (the engine's "
      f"first token of the same request, unstreamed: {answer(4)['timings']['first_token_ms']:.2f} ms), last at "
      f"{times[-1]:.1f} ms")

h = rows[6]
assert h["headers"].get("Content-Type") == "application/vnd.awslambda.http-integration-response", h["headers"]
prelude, sep, body = h["body"].partition("\0" * 8)
assert sep and json.loads(prelude)["statusCode"] == 200, h["body"][:200]
assert body == want_prompt, (body, want_prompt)

for i, why in [(7, "must not be empty"), (8, "must be a string"), (9, "unknown field \"colour\""),
               (10, "does not fit the context"), (11, "\"messages\" must be"), (12, "\"temperature\" must be"),
               (13, "\"Batch\" must be"), (14, "\"max_new_tokens\" must be"), (15, "expected a JSON object")]:
    r = answer(i)
    assert r["statusCode"] == 400, (i, r)
    assert why in json.loads(r["body"])["details"], (i, why, r)
assert answer(16)["generated_text"] == want_prompt
print("llm ok")
PY

# The log lines: ML_ON_FAAS with the experiment, batch size and tokens; EMF with the token metrics.
grep -q 'ML_ON_FAAS - .*"Initialization completed"' "$work/llm.log" || fail "no INIT ML_ON_FAAS line"
line=$(grep 'ML_ON_FAAS - .*"experimentId": *"exp-llm".*"Processing completed"' "$work/llm.log" | head -1) ||
  fail "no ML_ON_FAAS line for the SNS batch: $(tail -5 "$work/llm.log")"
grep -q '"batchSize": *1' <<<"$line" || fail "SNS batch size: $line"
grep -q '"generatedTokens": *[1-9]' <<<"$line" || fail "no generatedTokens: $line"
grep -q '"tokensPerSecond": *[0-9]' <<<"$line" || fail "no tokensPerSecond: $line"
grep '"_aws"' "$work/llm.log" | grep '"BatchSize": *3' | grep -q '"GeneratedTokens"' ||
  fail "no EMF line with BatchSize 3 and GeneratedTokens: $(grep '"_aws"' "$work/llm.log" | head -3)"

# 2. LLM_STREAM=1 streams a plain request.
echo '{"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 32, "ignore_eos": true}' >"$work/env.events"
run_bootstrap env llm "$model" LLM_STREAM=1 LLM_TEMPERATURE=0.5
python3 - "$work/env.out" "$want_prompt" <<'PY' || fail "LLM_STREAM=1"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["headers"].get("Lambda-Runtime-Function-Response-Mode") == "streaming", r["headers"]
assert r["body"] == sys.argv[2], (r["body"], sys.argv[2])
PY

# 2b. Without MODEL_PATH, a compiled model at $LAMBDA_TASK_ROOT/model.mlf (where `mlfaas package` puts one; q8_0,
#     its linears interleaved) is the one served: the answer is `mlfaas generate`'s from that file.
mkdir -p "$work/task"
timeout 60 "$MLFAAS_BIN" compile --model "$model" --precision q8_0 --out "$work/task/model.mlf" --quiet >/dev/null ||
  fail "compiling stories260K"
want_compiled=$(timeout 60 "$MLFAAS_BIN" generate --model "$work/task/model.mlf" --threads 1 --prompt "Once upon a time" \
  --max-new-tokens 32 --ignore-eos 2>/dev/null)
echo '{"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 32, "ignore_eos": true}' >"$work/mlf.events"
run_bootstrap mlf llm "" LAMBDA_TASK_ROOT="$work/task"
python3 - "$work/mlf.out" "$want_compiled" <<'PY' || fail "model.mlf in the task root: $(tail -3 "$work/mlf.log")"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["kind"] == "response", r
assert json.loads(r["body"])["generated_text"] == sys.argv[2], (r["body"], sys.argv[2])
PY

# 3. A bad environment fails INIT, naming the variable.
echo '{"prompt": "x"}' >"$work/badenv.events"
run_bootstrap badenv llm "$model" LLM_TOP_K=many
grep -q 'LLM_TOP_K must be a number' "$work/badenv.out" || fail "bad LLM_TOP_K: $(cat "$work/badenv.out")"

# 4. A stream that fails after its first bytes reports the error in the trailers; a slow stream's chunks arrive
#    as they are written (the diagnostic handler `stream`).
printf '%s\n' '{"chunks": 3, "fail": true}' '{"chunks": 4, "interval_ms": 60}' >"$work/diag.events"
run_bootstrap diag stream "$model"
python3 - "$work/diag.out" <<'PY' || fail "streamed error trailers / slow stream"
import base64, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
failed, slow = rows
assert failed["body"] == "chunk 0\nchunk 1\nchunk 2\n", failed["body"]
assert failed["trailers"]["Lambda-Runtime-Function-Error-Type"] == "std::runtime_error", failed["trailers"]
error = json.loads(base64.b64decode(failed["trailers"]["Lambda-Runtime-Function-Error-Body"]))
assert error["errorMessage"] == "failed after streaming" and error["errorType"] == "std::runtime_error", error
times = [c[0] for c in slow["chunks"]]
assert len(times) == 4 and all(b - a >= 50 for a, b in zip(times, times[1:])), times
assert slow["trailers"] == {}, slow
PY

# 5. fill-mask on bert-tiny-mlm against HF's fixture: the top 5 ids in order, softmax scores within 1e-5.
mlm="$MLFAAS_TEST_DATA/models/bert-tiny-mlm"
python3 - "$mlm/expected.jsonl" "$work/mask.events" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
rows = [r for r in rows if r["mask_positions"] and len(r["input_ids"]) < r["max_length"]]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps({"text": r["text"]}) + "\n")
    f.write(json.dumps({"text": "no mask here"}) + "\n")
    f.write(json.dumps({"batch": [rows[0]["text"], rows[1]["text"]]}) + "\n")
PY
run_bootstrap mask fill-mask "$mlm"
python3 - "$mlm/expected.jsonl" "$work/mask.out" <<'PY' || fail "fill-mask answers (above)"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
rows = [r for r in rows if r["mask_positions"] and len(r["input_ids"]) < r["max_length"]]
out = {r["event"]: json.loads(r["body"]) for r in map(json.loads, open(sys.argv[2], encoding="utf-8"))}
vocab = [l.rstrip("\n") for l in open(sys.argv[1].rsplit("/", 1)[0] + "/vocab.txt", encoding="utf-8")]
worst = 0.0
for i, r in enumerate(rows):
    got = out[i]
    per_mask = [got] if len(r["mask_positions"]) == 1 else got
    assert len(per_mask) == len(r["mask_positions"]), (i, got)
    for m, cands in enumerate(per_mask):
        logits = r["mask_logits"][m]
        top = max(logits)
        z = sum(math.exp(x - top) for x in logits)
        assert [c["token"] for c in cands] == r["top5_ids"][m], (i, m, cands, r["top5_ids"][m])
        for c in cands:
            assert set(c) == {"score", "token", "token_str", "sequence"}, c
            worst = max(worst, abs(c["score"] - math.exp(logits[c["token"]] - top) / z))
            tok = vocab[c["token"]]
            assert c["token_str"] == tok, (c["token_str"], tok)
            if len(r["mask_positions"]) == 1:
                assert "[MASK]" not in c["sequence"] and "[CLS]" not in c["sequence"], c
            else:
                assert c["sequence"].startswith("[CLS]") and "[MASK]" in c["sequence"], c
assert worst < 1e-5, worst
first = out[0][0]
assert first["sequence"] == "i am incredibly " + first["token_str"] + " and excited about the new project!" or \
    first["token_str"].startswith("##"), first
bad = out[len(rows)]
assert bad["statusCode"] == 400 and "no mask token" in json.loads(bad["body"])["details"], bad
batch = out[len(rows) + 1]
assert isinstance(batch, list) and len(batch) == 2 and batch[0] == out[0], batch
print(f"fill-mask ok: {len(rows)} texts, top 5 ids equal HF's, scores within {worst:.1e}")
PY
echo "PASS"
