#!/usr/bin/env bash
# SAM template handling: invalid templates are refused (exit 2) naming the key, unsupported keys are warned
# about and ignored, the repository's template.yaml loads (and passes cfn-lint where cfn-lint is installed),
# and `mlfaas package` builds a zip with an executable bootstrap.
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"

refused() {  # refused NAME EXPECTED_TEXT YAML
  printf '%s\n' "$3" >"$WORK/t.yaml"
  local code=0
  timeout 30 "$MLFAAS_BIN" serve --template "$WORK/t.yaml" --port 0 >"$WORK/t.out" 2>&1 || code=$?
  assert_eq "$code" 2 "$1: exit code"
  grep -qF "$2" "$WORK/t.out" || fail "$1: expected '$2' in: $(cat "$WORK/t.out")"
}
head='Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Runtime: provided.al2023'
refused "memory out of range" "Resources.Fn.Properties.MemorySize: must be within 128..10240, got 99999" \
  "$head
      Handler: echo
      MemorySize: 99999"
refused "timeout not a number" "Resources.Fn.Properties.Timeout: must be an integer" \
  "$head
      Handler: echo
      Timeout: soon"
refused "missing handler" "Resources.Fn.Properties.Handler: missing" "$head"
refused "python runtime" "Resources.Fn.Properties.Runtime: 'python3.12' is not supported" \
  "${head/provided.al2023/python3.12}
      Handler: app.handler"
refused "unknown !Ref" "Resources.Fn.Properties.Events.E.Properties.Topic: !Ref to unknown resource or parameter 'Nope'" \
  "$head
      Handler: echo
      Events:
        E:
          Type: SNS
          Properties:
            Topic: !Ref Nope"
refused "route without a path" "Resources.Fn.Properties.Events.A.Properties.Path: missing" \
  "$head
      Handler: echo
      Events:
        A:
          Type: Api
          Properties:
            Method: post"
refused "bad YAML" "invalid YAML" "Resources: [unclosed"
refused "no resources" "Resources: missing" "Transform: AWS::Serverless-2016-10-31"

# Unsupported keys: warned about, ignored, and the server runs.
printf '%s\n' "$head
      Handler: echo
      Frobnicate: 3
  Queue:
    Type: AWS::SQS::Queue" >"$WORK/warn.yaml"
start_serve warn.yaml  # a relative template path (as `make run` gives): CodeUri . is made absolute for the sandbox
grep -qF "Resources.Fn.Properties.Frobnicate: unsupported property, ignored" "$WORK/serve.out" || fail "no warning for Frobnicate"
grep -qF "Resources.Queue: resource type AWS::SQS::Queue is not supported locally, ignored" "$WORK/serve.out" \
  || fail "no warning for the SQS queue"
out=$(timeout 30 curl -sS -X POST "$BASE/2015-03-31/functions/Fn/invocations" -d '{"x": 1}')
assert_eq "$out" '{"x":1}' "function of a template with warnings"
stop_serve

# The repository's template: the emotion function at 512 MB with its route, the alarm topic.
start_serve "$MLFAAS_SOURCE/template.yaml"
grep -Eq 'EmotionFunction +handler emotion +512 MB .*routes: POST /sentimentAnalysisONNX' "$WORK/serve.out" \
  || fail "template.yaml: EmotionFunction not served as expected: $(cat "$WORK/serve.out")"
if grep -q 'warning' "$WORK/serve.out"; then grep warning "$WORK/serve.out"; fi
stop_serve
if command -v cfn-lint >/dev/null 2>&1; then
  timeout 120 cfn-lint "$MLFAAS_SOURCE/template.yaml" || fail "cfn-lint rejects template.yaml"
else
  echo "NOTE: cfn-lint is not installed (it is not packaged for Debian 12): template.yaml not linted"
fi

# mlfaas package: bootstrap (mode 0755) + model files.
printf '%s\n' "$head
      Handler: echo" >"$WORK/pkg.yaml"
mkdir -p "$WORK/models/echo" && echo '{"note": "model files travel under model/"}' >"$WORK/models/echo/config.json"
timeout 60 "$MLFAAS_BIN" package --template "$WORK/pkg.yaml" --function Fn --out "$WORK/function.zip" >/dev/null \
  || fail "mlfaas package failed"
python3 - "$WORK/function.zip" <<'PY' || fail "function.zip content"
import sys, zipfile, stat
z = zipfile.ZipFile(sys.argv[1])
names = {i.filename: i for i in z.infolist()}
assert "bootstrap" in names and "model/config.json" in names, names.keys()
assert stat.S_IMODE(names["bootstrap"].external_attr >> 16) == 0o755, oct(names["bootstrap"].external_attr >> 16)
PY
# provided.al2023 has glibc 2.34: the bootstrap must not need a newer symbol version.
newest=$(objdump -T "$MLFAAS_BUILD/bootstrap" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
python3 -c "import sys; v = tuple(map(int, '${newest#GLIBC_}'.split('.'))); sys.exit(0 if v <= (2, 34) else 1)" \
  || fail "bootstrap needs $newest, provided.al2023 has glibc 2.34"
echo "PASS platform_template"
