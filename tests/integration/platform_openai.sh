#!/usr/bin/env bash
# The OpenAI-compatible routes of `mlfaas serve` (docs/LLM.md, "OpenAI-compatible routes") on the repository's
# template.yaml (StoryFunction: llm on models/stories260K): greedy /v1/completions equals `mlfaas generate` and the
# HF fixture; `curl -N` streaming gives Server-Sent Events whose deltas concatenate to the non-streamed text and
# end with [DONE]; the official `openai` npm package (chat and completions, streaming and not) works against it;
# bad requests answer OpenAI's error shape (400, 404 for an unknown model); a client that disconnects mid-stream
# stops generation.
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"
: "${MLFAAS_BUILD:?run through ctest}"
command -v curl >/dev/null || fail "curl is required"
model="$MLFAAS_SOURCE/models/stories260K"

start_serve "$MLFAAS_SOURCE/template.yaml"
grep -Eq 'StoryFunction +handler llm +256 MB' "$WORK/serve.out" || fail "template.yaml: no StoryFunction"

post() {  # post PATH JSON: prints the body, then the status on a line of its own
  timeout 60 curl -sS -w '\n%{http_code}' -H 'Content-Type: application/json' "$BASE$1" -d "$2"
}

# --- greedy completions equal the engine and the fixture
want=$(timeout 60 "$MLFAAS_BIN" generate --model "$model" --threads 1 --prompt "Once upon a time" \
  --max-new-tokens 32 2>/dev/null) || fail "mlfaas generate failed"
fixture=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["prompt"] == "Once upon a time": print(r["greedy_text"])' "$MLFAAS_TEST_DATA/llama/stories260K_expected.jsonl")
[ "$want" = "$fixture" ] || fail "mlfaas generate differs from the fixture: '$want'"
post /v1/completions '{"prompt": "Once upon a time", "temperature": 0, "max_tokens": 32}' >"$WORK/plain.out"
timeout 60 curl -sS -N -H 'Content-Type: application/json' "$BASE/v1/completions" \
  -d '{"model": "StoryFunction", "prompt": "Once upon a time", "temperature": 0, "max_tokens": 32, "stream": true}' \
  -D "$WORK/sse.headers" >"$WORK/sse.out" || fail "curl -N /v1/completions"
python3 - "$WORK/plain.out" "$WORK/sse.out" "$WORK/sse.headers" "$want" <<'PY' || fail "completions (above)"
import json, sys
body, status = open(sys.argv[1]).read().rsplit("\n", 1)
assert status == "200", (status, body)
a = json.loads(body)
assert a["object"] == "text_completion" and a["id"].startswith("cmpl-") and a["model"] == "StoryFunction", a
assert isinstance(a["created"], int), a
c = a["choices"][0]
assert c["index"] == 0 and c["text"] == sys.argv[4], (c["text"], sys.argv[4])
assert c["finish_reason"] == "length", c
u = a["usage"]
assert u["completion_tokens"] == 32 and u["prompt_tokens"] > 0 and u["total_tokens"] == u["prompt_tokens"] + 32, u

assert "text/event-stream" in open(sys.argv[3]).read().lower()
raw = open(sys.argv[2]).read()
assert raw.endswith("data: [DONE]\n\n"), raw[-200:]
events = [e for e in raw.split("\n\n") if e]
assert all(e.startswith("data: ") for e in events), events[:3]
chunks = [json.loads(e[6:]) for e in events[:-1]]
assert len(chunks) >= 10, len(chunks)
assert all(k["object"] == "text_completion" and k["id"] == chunks[0]["id"] for k in chunks), chunks[0]
assert all(k["choices"][0]["finish_reason"] is None for k in chunks[:-1]), chunks[:-1]
assert chunks[-1]["choices"][0]["finish_reason"] == "length", chunks[-1]
text = "".join(k["choices"][0]["text"] for k in chunks)
assert text == c["text"], ("streamed deltas differ", text, c["text"])
print(f"completions: greedy text equals mlfaas generate; {len(chunks)} SSE chunks concatenate to it")
PY

# --- bad requests: OpenAI's error shape
check_error() {  # check_error NAME PATH JSON STATUS [PARAM]
  post "$2" "$3" >"$WORK/err.out"
  python3 - "$WORK/err.out" "$4" "${5:-}" <<'PY' || fail "$1: $(cat "$WORK/err.out")"
import json, sys
body, status = open(sys.argv[1]).read().rsplit("\n", 1)
assert status == sys.argv[2], status
e = json.loads(body)["error"]
assert set(e) == {"message", "type", "param", "code"} and e["message"], e
assert e["type"] == "invalid_request_error", e
if sys.argv[3]: assert e["param"] == sys.argv[3], e
PY
}
long_prompt=$(python3 -c 'print("Once upon a time " * 200)')
check_error "empty prompt" /v1/completions '{"prompt": ""}' 400 prompt
check_error "no prompt" /v1/completions '{"max_tokens": 5}' 400 prompt
check_error "prompt not a string" /v1/completions '{"prompt": 5}' 400 prompt
check_error "max_tokens a string" /v1/completions '{"prompt": "Hi", "max_tokens": "5"}' 400 max_tokens
check_error "temperature a string" /v1/completions '{"prompt": "Hi", "temperature": "hot"}' 400
check_error "stop a number" /v1/completions '{"prompt": "Hi", "stop": 3}' 400
check_error "unknown field" /v1/completions '{"prompt": "Hi", "frobnicate": 1}' 400 frobnicate
check_error "not JSON" /v1/completions '{"prompt": ' 400
check_error "prompt over the context" /v1/completions "{\"prompt\": \"$long_prompt\"}" 400
check_error "max_tokens over the context" /v1/completions '{"prompt": "Hi", "max_tokens": 100000}' 400
check_error "streamed prompt over the context" /v1/completions "{\"prompt\": \"$long_prompt\", \"stream\": true}" 400
check_error "messages not a list" /v1/chat/completions '{"messages": "Hi"}' 400 messages
check_error "message without content" /v1/chat/completions '{"messages": [{"role": "user"}]}' 400
check_error "unknown model" /v1/completions '{"model": "gpt-4", "prompt": "Hi"}' 404 model
check_error "body a list" /v1/completions '[{"prompt": "Hi"}]' 400
check_error "max_tokens zero" /v1/completions '{"prompt": "Hi", "max_tokens": 0}' 400
check_error "top_p over 1" /v1/completions '{"prompt": "Hi", "top_p": 1.5}' 400
check_error "empty conversation" /v1/chat/completions '{"messages": []}' 400 messages
check_error "content a number" /v1/chat/completions '{"messages": [{"role": "user", "content": 5}]}' 400
check_error "unknown chat field" /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "colour": 1}' \
  400 colour
check_error "streamed chat over the context" /v1/chat/completions \
  "{\"messages\": [{\"role\": \"user\", \"content\": \"$long_prompt\"}], \"stream\": true}" 400
echo "errors: 21 bad requests answered in OpenAI's error shape"

# --- a client that goes away mid-stream stops generation, and the function answers the next request
post /v1/completions '{"prompt": "Once upon a time", "temperature": 0, "max_tokens": 480}' >"$WORK/full.out"
full=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().rsplit("\n", 1)[0])["usage"]["completion_tokens"])' \
  "$WORK/full.out") || fail "480-token completion: $(cat "$WORK/full.out")"
timeout 60 python3 - "$PORT" <<'PY' || fail "disconnect mid-stream"
import json, socket, sys
body = json.dumps({"prompt": "Once upon a time", "temperature": 0, "max_tokens": 480, "stream": True}).encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = b""
while b"data: " not in got:
    got += s.recv(4096)
s.close()
PY
log="$WORK/logs/StoryFunction.log"
for _ in $(seq 1 100); do grep -q 'Client.Disconnected' "$log" 2>/dev/null && break; sleep 0.1; done
grep -q 'REPORT RequestId.*Error Type: Client.Disconnected' "$log" || fail "no Client.Disconnected REPORT: $(tail -5 "$log")"
post /v1/completions '{"prompt": "Once", "max_tokens": 4}' | tail -1 | grep -qx 200 || fail "completion after disconnect"
python3 - "$log" "$full" <<'PY' || fail "generation did not stop at the disconnect"
import json, sys
counts = [json.loads(l[l.index("{"):])["GeneratedTokens"] for l in open(sys.argv[1]) if '"_aws"' in l and
          "GeneratedTokens" in l]
assert len(counts) >= 3 and counts[-1] == 4, counts
assert counts[-2] < int(sys.argv[2]), (counts, sys.argv[2])
print(f"disconnect: generation stopped after {counts[-2]} of {sys.argv[2]} tokens")
PY

# --- the official openai npm package
npm_dir="$MLFAAS_BUILD/openai-npm"
if [ ! -f "$npm_dir/node_modules/openai/package.json" ] && command -v npm >/dev/null; then
  mkdir -p "$npm_dir"
  timeout 180 npm install --prefix "$npm_dir" openai --no-audit --no-fund >"$WORK/npm.out" 2>&1 ||
    { cat "$WORK/npm.out"; rm -rf "$npm_dir/node_modules"; }
fi
if [ ! -f "$npm_dir/node_modules/openai/package.json" ] || ! command -v node >/dev/null; then
  echo "SKIP (openai npm package): npm could not install it (offline?) or node is missing; the curl checks passed"
else
  ln -s "$npm_dir/node_modules" "$WORK/node_modules"
  cat >"$WORK/client.mjs" <<'JS'
import OpenAI from "openai";
import assert from "node:assert/strict";
const [base, want] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "not-checked", maxRetries: 0, timeout: 60000 });

const c = await client.completions.create({ model: "StoryFunction", prompt: "Once upon a time", temperature: 0, max_tokens: 32 });
assert.equal(c.choices[0].text, want);
assert.equal(c.usage.completion_tokens, 32);

let streamed = "", finish = null, n = 0;
for await (const chunk of await client.completions.create({ prompt: "Once upon a time", temperature: 0, max_tokens: 32, stream: true, model: "StoryFunction" })) {
  streamed += chunk.choices[0].text;
  finish = chunk.choices[0].finish_reason ?? finish;
  n++;
}
assert.equal(streamed, want);
assert.equal(finish, "length");

const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Tell a story." }];
const chat = await client.chat.completions.create({ model: "StoryFunction", messages, temperature: 0, max_tokens: 24, seed: 7 });
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.choices[0].message.content.length > 0);
let chatText = "", chatFinish = null, usage = null;
const stream = await client.chat.completions.create({ model: "StoryFunction", messages, temperature: 0, max_tokens: 24,
  stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  if (!chunk.choices.length) continue;
  assert.equal(chunk.object, "chat.completion.chunk");
  chatText += chunk.choices[0].delta.content ?? "";
  chatFinish = chunk.choices[0].finish_reason ?? chatFinish;
}
assert.equal(chatText, chat.choices[0].message.content);
assert.equal(chatFinish, chat.choices[0].finish_reason);
assert.deepEqual(usage, chat.usage);

await assert.rejects(client.completions.create({ model: "nope", prompt: "Hi" }),
  (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
await assert.rejects(client.completions.create({ model: "StoryFunction", prompt: "" }),
  (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "prompt");
console.log(`openai npm: completions and chat, streaming (${n} chunks) and not, and errors`);
JS
  (cd "$WORK" && timeout 120 node client.mjs "$BASE" "$want") || fail "the openai npm client (above)"
fi
server_healthy "the OpenAI routes"
echo "PASS platform_openai"
