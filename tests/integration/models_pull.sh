#!/usr/bin/env bash
# `mlfaas models pull` against a local server with the Hub's URL layout (tests/tools/fake_hub.py): a complete
# download, a resumed one, and each error case. Bounded: every client call has a timeout.
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}" "${MLFAAS_SOURCE:?}"
T="$(mktemp -d)"
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

src="$MLFAAS_TEST_DATA/models/bert-tiny-cls"
for repo in acme/tiny flaky/tiny corrupt/tiny gated/tiny; do
  mkdir -p "$T/hub/$repo"
  cp "$src"/{config.json,vocab.txt,tokenizer_config.json,model.safetensors,pytorch_model.bin} "$T/hub/$repo/"
done
mkdir -p "$T/hub/acme/binonly"
cp "$src"/{config.json,vocab.txt,pytorch_model.bin} "$T/hub/acme/binonly/"
mkdir -p "$T/hub/acme/notamodel" && echo hi > "$T/hub/acme/notamodel/README.md"
# A Llama-shaped repository as TinyLlama/TinyLlama-1.1B-Chat-v1.0 has it (sharded here, as larger Llamas are), and a
# GGUF-only one as TheBloke's are.
llama="$MLFAAS_TEST_DATA/llama/tiny-llama"
mkdir -p "$T/hub/acme/tiny-llama" "$T/hub/acme/tiny-llama-GGUF"
cp "$llama"/{config.json,generation_config.json,tokenizer.model,tokenizer_config.json,special_tokens_map.json} \
  "$T/hub/acme/tiny-llama/"
/usr/bin/python3 "$MLFAAS_SOURCE/tests/tools/shard_safetensors.py" "$llama/model.safetensors" "$T/hub/acme/tiny-llama" 2
echo "# card" > "$T/hub/acme/tiny-llama/README.md"
cp "$llama/model-f32.gguf" "$T/hub/acme/tiny-llama-GGUF/tiny-llama.f32.gguf"
cp "$llama/model-f32.gguf" "$T/hub/acme/tiny-llama-GGUF/tiny-llama.copy.gguf"

/usr/bin/python3 "$MLFAAS_SOURCE/tests/tools/fake_hub.py" --root "$T/hub" --port-file "$T/port" --log "$T/hub.log" &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || fail "fake hub did not start"
export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
unset HF_TOKEN || true

pull() { timeout 60 "$MLFAAS_BIN" models pull "$@"; }
expect_fail() {  # expect_fail EXIT_CODE PATTERN ARGS...
  local want="$1" pat="$2"; shift 2
  set +e; pull "$@" >"$T/out" 2>"$T/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$T/err"; fail "pull $* exited $rc, expected $want"; }
  grep -q -- "$pat" "$T/err" || { cat "$T/err"; fail "pull $*: message lacks '$pat'"; }
  [ "$(wc -l <"$T/err")" -le 2 ] || { cat "$T/err"; fail "pull $*: error is not a short message"; }
}

# 1. complete download: safetensors preferred over .bin, files identical, sha256 verified, nothing temporary left
pull acme/tiny --dir "$T/m1" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "complete download"; }
for f in config.json vocab.txt tokenizer_config.json model.safetensors; do
  cmp -s "$src/$f" "$T/m1/$f" || fail "$f differs after download"
done
[ ! -e "$T/m1/pytorch_model.bin" ] || fail "pytorch_model.bin downloaded although model.safetensors exists"
grep -q "model.safetensors.*sha256 ok" "$T/err" || { cat "$T/err"; fail "sha256 not verified"; }
[ -z "$(find "$T/m1" -name '*.part')" ] || fail "temporary files left behind"
grep -q "/cdn/" "$T/hub.log" || fail "the Hub's redirect to the CDN was not followed"

# 2. second pull: nothing downloaded again
pull acme/tiny --dir "$T/m1" >"$T/out" 2>"$T/err"
grep -q "already present" "$T/err" || fail "second pull re-downloaded"

# 3. a repo with only pytorch_model.bin gets it
pull acme/binonly --dir "$T/m2" >/dev/null 2>&1 || fail "bin-only download"
cmp -s "$src/pytorch_model.bin" "$T/m2/pytorch_model.bin" || fail "pytorch_model.bin differs"

# 4. interrupted download, then resumed with a Range request
expect_fail 1 "interrupted after" flaky/tiny --dir "$T/m3"
[ ! -e "$T/m3/model.safetensors" ] || fail "a half-written model.safetensors was left under its final name"
[ -s "$T/m3/.model.safetensors.part" ] || fail "no partial file kept for resume"
pull flaky/tiny --dir "$T/m3" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "resume"; }
grep -q "model.safetensors.*resumed, sha256 ok" "$T/err" || { cat "$T/err"; fail "not reported as resumed"; }
grep -q "range=bytes=[1-9][0-9]*-" "$T/hub.log" || fail "no Range request was sent"
cmp -s "$src/model.safetensors" "$T/m3/model.safetensors" || fail "resumed file differs"

# 5. errors: unknown repo, unknown revision, gated (with and without token), not a model, network down,
#    checksum mismatch, disk full, bad repo id
expect_fail 1 "repository 'nobody/nothing' not found" nobody/nothing --dir "$T/x1"
expect_fail 1 "revision 'v9' not found" acme/tiny --revision v9 --dir "$T/x2"
expect_fail 1 "denied.*gated.*HF_TOKEN" gated/tiny --dir "$T/x3"
HF_TOKEN=good-token pull gated/tiny --dir "$T/x3" >/dev/null 2>&1 || fail "gated repo with a token"
expect_fail 1 "not a model this engine can run" acme/notamodel --dir "$T/x4"
HF_ENDPOINT="http://127.0.0.1:9" expect_fail 1 "cannot reach 127.0.0.1:9" acme/tiny --dir "$T/x5"
expect_fail 1 "sha256 .* does not match" corrupt/tiny --dir "$T/x6"
[ ! -e "$T/x6/model.safetensors" ] && [ ! -e "$T/x6/.model.safetensors.part" ] || fail "corrupt download left files"
mkdir -p "$T/x7" && ln -s /dev/full "$T/x7/.config.json.part"
expect_fail 1 "No space left on device" acme/tiny --dir "$T/x7"
[ ! -e "$T/x7/config.json" ] || fail "disk full left a final file"
expect_fail 2 "is not a repository id" "../etc" --dir "$T/x8"

# 6. Llama: tokenizer.model, generation_config.json, the index and every shard (and not the card)
pull acme/tiny-llama --dir "$T/l1" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "llama download"; }
for f in config.json generation_config.json tokenizer.model tokenizer_config.json special_tokens_map.json \
         model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  cmp -s "$T/hub/acme/tiny-llama/$f" "$T/l1/$f" || fail "llama: $f missing or different after download"
done
[ ! -e "$T/l1/README.md" ] || fail "llama: the model card was downloaded"
grep -q "model-00002-of-00002.safetensors.*sha256 ok" "$T/err" || { cat "$T/err"; fail "llama shard not verified"; }

# 7. GGUF repositories: without --file the user is told which files there are; with it, exactly that file
expect_fail 1 "holds GGUF files (tiny-llama.copy.gguf, tiny-llama.f32.gguf).*--file" acme/tiny-llama-GGUF --dir "$T/g1"
pull acme/tiny-llama-GGUF --file tiny-llama.f32.gguf --dir "$T/g2" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "gguf --file"; }
cmp -s "$llama/model-f32.gguf" "$T/g2/tiny-llama.f32.gguf" || fail "gguf differs after download"
[ "$(ls "$T/g2" | wc -l)" = 1 ] || fail "--file downloaded more than the file asked for"
expect_fail 1 "has no file 'nope.gguf'" acme/tiny-llama-GGUF --file nope.gguf --dir "$T/g3"
expect_fail 2 "is not a file name" acme/tiny-llama-GGUF --file ../x.gguf --dir "$T/g4"

echo "models pull: all cases passed"
