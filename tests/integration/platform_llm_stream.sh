#!/usr/bin/env bash
# InvokeWithResponseStream on `mlfaas serve` with boto3's own client and event-stream parser: an `llm` function on
# models/stories260K streams its greedy story as PayloadChunk events that start long before the end and
# concatenate to the non-streamed text, then InvokeComplete without an error (LogResult with Tail); a request
# answered buffered (no "stream") arrives as one chunk; an unknown function is ResourceNotFoundException; an HTTP
# API route of the same function, asked to stream, answers the text as a plain HTTP response.
source "$(dirname "$0")/platform_lib/common.bash"
python3 -c 'import boto3' 2>/dev/null || fail "boto3 is required (tools/setup.sh core installs it)"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"
source_dir=${MLFAAS_SOURCE:-$MLFAAS_TEST_DATA/../..}
model=$(cd "$source_dir/models/stories260K" && pwd)

cat >"$WORK/template.yaml" <<EOF
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  story:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: .
      Handler: llm
      MemorySize: 1024
      Timeout: 60
      Environment: {Variables: {MODEL_PATH: "$model", LLM_THREADS: "1"}}
      Events:
        Story:
          Type: HttpApi
          Properties: {Path: /story, Method: POST}
  streamer:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2023, CodeUri: ., Handler: stream, Timeout: 30}
  livestory:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: .
      Handler: llm
      MemorySize: 1024
      Timeout: 60
      FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}
      Environment: {Variables: {MODEL_PATH: "$model", LLM_THREADS: "1"}}
      Events:
        Story:
          Type: HttpApi
          Properties: {Path: /live, Method: POST}
EOF
start_serve "$WORK/template.yaml"

timeout 120 python3 - "$BASE" <<'PY' || fail "InvokeWithResponseStream (above)"
import base64, json, sys, time
import boto3, botocore
lam = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="x",
                   aws_secret_access_key="x")
request = {"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 400, "ignore_eos": True}

plain = json.loads(lam.invoke(FunctionName="story", Payload=json.dumps(request))["Payload"].read())
assert plain["usage"]["completion_tokens"] == 400, plain

t0 = time.monotonic()
res = lam.invoke_with_response_stream(FunctionName="story", Payload=json.dumps({**request, "stream": True}),
                                      LogType="Tail")
assert res["ResponseMetadata"]["HTTPStatusCode"] == 200 and res["ExecutedVersion"] == "$LATEST", res
chunks, complete = [], None
for event in res["EventStream"]:
    if "PayloadChunk" in event:
        chunks.append(((time.monotonic() - t0) * 1000, event["PayloadChunk"]["Payload"]))
    elif "InvokeComplete" in event:
        complete = event["InvokeComplete"]
end_ms = (time.monotonic() - t0) * 1000
assert complete is not None and not complete.get("ErrorCode"), complete
assert "REPORT RequestId" in base64.b64decode(complete["LogResult"]).decode(), complete
text = b"".join(c for _, c in chunks).decode()
assert text == plain["generated_text"], "streamed chunks do not concatenate to the non-streamed text"
assert len(chunks) >= 100, len(chunks)
assert chunks[0][0] < 0.5 * chunks[-1][0], (chunks[0][0], chunks[-1][0])
print(f"stream: {len(chunks)} chunks, first at {chunks[0][0]:.1f} ms, last at {chunks[-1][0]:.1f} ms, "
      f"complete at {end_ms:.1f} ms")

res = lam.invoke_with_response_stream(FunctionName="story", Payload=json.dumps({**request, "max_new_tokens": 8}))
events = list(res["EventStream"])
assert [next(iter(e)) for e in events] == ["PayloadChunk", "InvokeComplete"], events
assert json.loads(events[0]["PayloadChunk"]["Payload"])["usage"]["completion_tokens"] == 8, events

try:
    lam.invoke_with_response_stream(FunctionName="nosuch", Payload=b"{}")
    raise AssertionError("an unknown function was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
res = lam.invoke_with_response_stream(FunctionName="streamer", Payload=json.dumps({"chunks": 3, "fail": True}))
events = list(res["EventStream"])
assert b"".join(e["PayloadChunk"]["Payload"] for e in events[:-1]) == b"chunk 0\nchunk 1\nchunk 2\n", events
done = events[-1]["InvokeComplete"]
assert done["ErrorCode"] == "std::runtime_error" and "failed after streaming" in done["ErrorDetails"], done
print("boto3 ok")
PY

# A caller that goes away mid-stream: the invocation ends at once (Client.Disconnected), the function stops
# generating (its EMF line counts fewer tokens than asked) and answers the next call.
timeout 60 python3 - "$PORT" <<'PY' || fail "disconnect mid-stream"
import json, socket, sys
body = json.dumps({"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 480, "ignore_eos": True,
                   "stream": True}).encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /2021-11-15/functions/story/response-streaming-invocations HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
got = b""
while b"PayloadChunk" not in got:
    got += s.recv(4096)
s.close()
PY
for _ in $(seq 1 100); do grep -q 'Client.Disconnected' "$WORK/logs/story.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'REPORT RequestId.*Error Type: Client.Disconnected' "$WORK/logs/story.log" ||
  fail "no Client.Disconnected REPORT: $(tail -5 "$WORK/logs/story.log")"
aws_invoke story '{"prompt": "Once", "max_new_tokens": 4}' "$WORK/after.out" >/dev/null || fail "invoke after disconnect"
json_get 'j["usage"]["completion_tokens"]' <"$WORK/after.out" | grep -qx 4 || fail "after disconnect: $(cat "$WORK/after.out")"
python3 - "$WORK/logs/story.log" <<'PY' || fail "generation did not stop at the disconnect"
import json, sys
counts = [json.loads(l[l.index("{"):])["GeneratedTokens"] for l in open(sys.argv[1]) if '"_aws"' in l and
          "GeneratedTokens" in l]
# invoke 400, stream 400, buffered 8, the disconnected one, then the 4-token call
assert len(counts) >= 5 and counts[-1] == 4, counts
assert counts[-2] < 480, counts
print("disconnect: generation stopped after", counts[-2], "of 480 tokens")
PY

body=$(curl_json POST /story -H 'Content-Type: application/json' \
  -d '{"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 32, "ignore_eos": true, "stream": true}')
status=$(tail -1 <<<"$body")
assert_eq "$status" 200 "streamed answer through the HTTP route"
want=$(timeout 60 "$MLFAAS_BIN" generate --model "$model" --prompt "Once upon a time" --max-new-tokens 32 \
  --ignore-eos 2>/dev/null)
assert_eq "$(head -n -1 <<<"$body")" "$want" "streamed answer through the HTTP route"
server_healthy "the streaming function"
# A RESPONSE_STREAM function's route streams: chunked, the prelude's status and headers, the first words long
# before the last; a bad request still answers 400 with its JSON.
timeout 60 python3 - "$PORT" "$(timeout 60 "$MLFAAS_BIN" generate --model "$model" --prompt "Once upon a time" \
    --max-new-tokens 400 --ignore-eos 2>/dev/null)" <<'PY' || fail "streamed HTTP route"
import http.client, json, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
body = {"prompt": "Once upon a time", "temperature": 0, "max_new_tokens": 400, "ignore_eos": True, "stream": True}
t0 = time.monotonic()
conn.request("POST", "/live", json.dumps(body), {"Content-Type": "application/json"})
res = conn.getresponse()
assert res.status == 200, res.status
assert res.getheader("Transfer-Encoding") == "chunked", res.getheaders()
assert res.getheader("Content-Type") == "text/plain; charset=utf-8", res.getheaders()
assert res.getheader("Access-Control-Allow-Origin") == "*", res.getheaders()
pieces = []
while True:
    data = res.read1(65536)
    if not data:
        break
    pieces.append(((time.monotonic() - t0) * 1000, data))
text = b"".join(d for _, d in pieces).decode()
assert text == sys.argv[2], (text[:80], sys.argv[2][:80])
assert len(pieces) >= 20 and pieces[0][0] < 0.5 * pieces[-1][0], (len(pieces), pieces[0][0], pieces[-1][0])
print(f"route stream: {len(pieces)} reads, first at {pieces[0][0]:.1f} ms, last at {pieces[-1][0]:.1f} ms")
conn.request("POST", "/live", json.dumps({"prompt": ""}), {"Content-Type": "application/json"})
res = conn.getresponse()
assert res.status == 400 and "must not be empty" in json.loads(res.read())["details"], res.status
PY
echo "PASS"
