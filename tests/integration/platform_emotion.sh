#!/usr/bin/env bash
# The product path: template.yaml's EmotionFunction (512 MB, the repository's model) answers seed A's route and
# the Invoke API in seed A's shape. Needs the engine (the emotion handler is compiled only with it).
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"

if [ ! -f "$MLFAAS_SOURCE/src/engine/model.h" ]; then
  echo "SKIP: this build has no engine (src/engine/model.h), so no emotion handler"
  exit 0
fi
"$MLFAAS_BUILD/bootstrap" --list-handlers | grep -q '^emotion ' || fail "the engine is present but bootstrap has no emotion handler"
[ -d "$MLFAAS_SOURCE/models/emotion" ] || fail "models/emotion (the default model) is missing"

start_serve "$MLFAAS_SOURCE/template.yaml"
check_answer() {  # check_answer JSON
  python3 -c '
import json, sys
a = json.loads(sys.argv[1])
assert set(a) == {"predicted_label", "confidence_score", "details"}, a
assert set(a["details"]) == {"others", "happy", "sad", "angry"}, a["details"]
assert abs(sum(a["details"].values()) - 1) < 1e-4, a["details"]
assert a["predicted_label"] == max(a["details"], key=a["details"].get)
assert abs(a["confidence_score"] - a["details"][a["predicted_label"]]) < 1e-6
' "$1" || fail "not seed A's answer: $1"
}
timeout 120 curl -sS -D "$WORK/h" -o "$WORK/b" -X POST "$BASE/sentimentAnalysisONNX" \
  -H 'Content-Type: application/json' -d '{"sentence": "I am so happy today, this is wonderful!"}' || fail "no answer"
head -1 "$WORK/h" | grep -q ' 200' || fail "status $(head -1 "$WORK/h"): $(cat "$WORK/b")"
grep -qi '^Access-Control-Allow-Origin: \*' "$WORK/h" || fail "no CORS header"
check_answer "$(cat "$WORK/b")"
out=$(curl_json POST /sentimentAnalysisONNX -d '{"text": "Why did you leave me, I feel so alone"}')
assert_eq "$(echo "$out" | tail -1)" 200 "{text} status"
check_answer "$(echo "$out" | head -1)"
out=$(curl_json POST /sentimentAnalysisONNX -d '{"sentence": ""}')
assert_eq "$(echo "$out" | tail -1)" 400 "empty sentence"
if have_aws; then
  aws_invoke EmotionFunction '{"sentence": "I am absolutely furious with you"}' "$WORK/out.json" --log-type Tail \
    >"$WORK/cli.json" || fail "aws lambda invoke failed"
  check_answer "$(cat "$WORK/out.json")"
  json_get 'j["LogResult"]' <"$WORK/cli.json" | base64 -d | grep -q '^REPORT RequestId: .*Memory Size: 512 MB' \
    || fail "no REPORT in the log tail"
fi
# Cold start of the emotion function (model loading included), for docs/PLATFORM.md.
grep $'\tREPORT' "$WORK/logs/EmotionFunction.log" | head -1 \
  | sed -E 's/.*\tDuration: ([0-9.]+) ms.*Max Memory Used: ([0-9]+) MB.*Init Duration: ([0-9.]+) ms.*/emotion cold start: Init Duration \3 ms, first invocation \1 ms, Max Memory Used \2 MB/'
server_healthy "emotion"
echo "PASS platform_emotion"
