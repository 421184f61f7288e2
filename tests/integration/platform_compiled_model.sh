#!/usr/bin/env bash
# `mlfaas package --compile int8` puts the emotion function's model in as one compiled model.mlf; a function whose
# code directory is that package is served by the bootstrap's emotion handler with the directory model's answers
# (at int8), and its Init Duration is reported. The same for the llm function (stories260K, compiled at q8_0 with
# its linears interleaved): the served answer is `mlfaas generate`'s from that file.
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"
"$MLFAAS_BUILD/bootstrap" --list-handlers | grep -q '^emotion ' || fail "bootstrap has no emotion handler"

(cd "$MLFAAS_SOURCE" && timeout 60 "$MLFAAS_BIN" package --template template.yaml --function EmotionFunction \
  --dir "$WORK/task" --compile int8) >"$WORK/package.out" || fail "package failed: $(cat "$WORK/package.out")"
[ -f "$WORK/task/model.mlf" ] && [ ! -d "$WORK/task/model" ] || fail "no model.mlf in the package: $(ls "$WORK/task")"
(cd "$MLFAAS_SOURCE" && timeout 60 "$MLFAAS_BIN" package --template template.yaml --function StoryFunction \
  --dir "$WORK/story" --compile int8) >"$WORK/package-story.out" || fail "package failed: $(cat "$WORK/package-story.out")"
[ -f "$WORK/story/model.mlf" ] || fail "no model.mlf in the llm package: $(ls "$WORK/story")"
cat >"$WORK/template.yaml" <<YAML
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  CompiledEmotion:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: ./task
      Handler: emotion
      MemorySize: 512
      Events:
        Api:
          Type: HttpApi
          Properties:
            Path: /emotion
            Method: POST
  CompiledStory:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: ./story
      Handler: llm
      MemorySize: 256
      Environment:
        Variables:
          LLM_THREADS: "1"
YAML
start_serve "$WORK/template.yaml"
out=$(curl_json POST /emotion -d '{"sentence": "I am so happy today, this is wonderful!"}')
assert_eq "$(echo "$out" | tail -1)" 200 "status"
answer=$(echo "$out" | head -1)
expected=$(timeout 60 "$MLFAAS_BIN" predict --model "$MLFAAS_SOURCE/models/emotion" --precision int8 \
  "I am so happy today, this is wonderful!")
python3 -c '
import json, sys
a, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["predicted_label"] == e["label"], (a, e)
for k, v in e["probabilities"].items():
    assert abs(a["details"][k] - v) < 1e-5, (k, a["details"][k], v)
' "$answer" "$expected" || fail "compiled model answered $answer, the directory $expected"
grep $'\tREPORT' "$WORK/logs/CompiledEmotion.log" | head -1 | grep -q "Init Duration" || fail "no Init Duration reported"
grep $'\tREPORT' "$WORK/logs/CompiledEmotion.log" | head -1 \
  | sed -E 's/.*\tDuration: ([0-9.]+) ms.*Max Memory Used: ([0-9]+) MB.*Init Duration: ([0-9.]+) ms.*/compiled emotion cold start: Init Duration \3 ms, first invocation \1 ms, Max Memory Used \2 MB/'
server_healthy "CompiledEmotion"

story=$(curl_json POST /2015-03-31/functions/CompiledStory/invocations \
  -d '{"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 16, "ignore_eos": true}')
assert_eq "$(echo "$story" | tail -1)" 200 "llm status"
want_story=$(timeout 60 "$MLFAAS_BIN" generate --model "$WORK/story/model.mlf" --threads 1 --prompt "Once upon a time" \
  --max-new-tokens 16 --ignore-eos 2>/dev/null)
assert_eq "$(echo "$story" | head -1 | json_get 'j["generated_text"]')" "$want_story" "compiled llm answer"
server_healthy "CompiledStory"
echo "PASS platform_compiled_model"
