#!/usr/bin/env bash
# SNS's control plane with the real AWS CLI and boto3: create-topic (idempotent), subscribe a function, list
# topics and subscriptions, publish and publish-batch reaching the function as SNS events (seen through the Logs
# API), SNS's error codes as boto3's exception classes, topics and subscriptions surviving a restart, delete-topic.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

TEMPLATE="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
start_serve "$TEMPLATE"
SNS() { timeout 120 aws sns --endpoint-url "$BASE" "$@"; }
fn_arn=arn:aws:lambda:us-east-1:123456789012:function:Echo

topic=$(SNS create-topic --name experiment-batches | json_get 'j["TopicArn"]') || fail "create-topic failed"
assert_eq "$topic" arn:aws:sns:us-east-1:123456789012:experiment-batches "TopicArn"
assert_eq "$(SNS create-topic --name experiment-batches | json_get 'j["TopicArn"]')" "$topic" "create-topic again"
SNS subscribe --topic-arn "$topic" --protocol lambda --notification-endpoint "$fn_arn" >"$WORK/sub.json" \
  || fail "subscribe failed"
sub=$(json_get 'j["SubscriptionArn"]' <"$WORK/sub.json")
[[ "$sub" == "$topic:"* ]] || fail "SubscriptionArn '$sub'"
SNS list-topics | grep -q "$topic" || fail "list-topics does not show the new topic"
assert_eq "$(SNS list-subscriptions-by-topic --topic-arn "$topic" | json_get 'j["Subscriptions"][0]["Endpoint"]')" \
  "$fn_arn" "the subscription's endpoint"

# wait_starts N: until the Echo function has run N invocations (its START lines in CloudWatch Logs).
wait_starts() {
  local n=0
  for _ in $(seq 1 150); do
    n=$(timeout 30 aws logs --endpoint-url "$BASE" filter-log-events --log-group-name /aws/lambda/Echo \
        --filter-pattern '"START RequestId"' 2>/dev/null | json_get 'len(j["events"])' 2>/dev/null || echo 0)
    [ "$n" -ge "$1" ] && return 0
    sleep 0.2
  done
  fail "the function ran $n of $1 invocations"
}

SNS publish --topic-arn "$topic" --message '{"ExperimentId": "exp-sns-1", "MessageId": "m-1", "Batch": ["a"]}' \
  >/dev/null || fail "publish failed"
wait_starts 1
timeout 60 aws logs --endpoint-url "$BASE" filter-log-events --log-group-name /aws/lambda/Echo \
  --filter-pattern exp-sns-1 | json_get 'len(j["events"])' | grep -qv '^0$' || fail "the SNS message did not reach the function"

timeout 120 python3 - "$BASE" "$topic" <<'PY' || fail "boto3 SNS checks"
import sys, json, boto3
base, topic = sys.argv[1], sys.argv[2]
sns = boto3.client("sns", endpoint_url=base, region_name="us-east-1")
entries = [{"Id": f"e{i}", "Message": json.dumps({"ExperimentId": "exp-batch", "MessageId": f"b{i}", "Batch": ["x"]})}
           for i in range(3)]
r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
assert [s["Id"] for s in r["Successful"]] == ["e0", "e1", "e2"] and not r.get("Failed"), r
def expect(cls, fn, **kw):
    try:
        fn(**kw)
    except getattr(sns.exceptions, cls) as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} did not raise {cls}")
assert expect("NotFoundException", sns.publish, TopicArn=topic + "-nope", Message="x") == 404
assert expect("InvalidParameterException", sns.publish, TopicArn=topic, Message="") == 400
assert expect("TooManyEntriesInBatchRequestException", sns.publish_batch, TopicArn=topic,
              PublishBatchRequestEntries=[{"Id": f"i{i}", "Message": "m"} for i in range(11)]) == 400
assert expect("BatchEntryIdsNotDistinctException", sns.publish_batch, TopicArn=topic,
              PublishBatchRequestEntries=[{"Id": "same", "Message": "m"}] * 2) == 400
assert expect("InvalidParameterException", sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint="arn:x") == 400
subs = sns.list_subscriptions()["Subscriptions"]
assert any(s["TopicArn"] == topic and s["Protocol"] == "lambda" for s in subs), subs
print("sns ok")
PY
wait_starts 4

# Topics and subscriptions outlive a restart.
stop_serve
start_serve "$TEMPLATE"
SNS list-subscriptions-by-topic --topic-arn "$topic" | grep -q "$sub" || fail "the subscription is gone after a restart"
SNS publish --topic-arn "$topic" --message '{"ExperimentId": "exp-sns-2", "MessageId": "m-2", "Batch": ["a"]}' \
  >/dev/null || fail "publish after a restart failed"
wait_starts 5

SNS delete-topic --topic-arn "$topic" || fail "delete-topic failed"
if SNS list-topics | grep -q "$topic"; then fail "the topic is still listed after delete-topic"; fi
server_healthy "the SNS calls"
echo "PASS"
