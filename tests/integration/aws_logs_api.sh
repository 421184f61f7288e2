#!/usr/bin/env bash
# CloudWatch Logs over serve's log files with the real AWS CLI and boto3: describe-log-groups, describe-log-streams
# (streams named as Lambda names them), filter-log-events --filter-pattern REPORT (also page by page, with
# startTime/endTime), get-log-events, and ResourceNotFoundException for an unknown group.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
LOGS() { timeout 120 aws logs --endpoint-url "$BASE" "$@"; }
for n in 1 2 3; do aws_invoke Echo "{\"n\": $n}" "$WORK/out$n.json" >/dev/null || fail "invoke $n failed"; done

LOGS describe-log-groups --log-group-name-prefix /aws/lambda/ >"$WORK/groups.json" || fail "describe-log-groups failed"
json_get '" ".join(g["logGroupName"] for g in j["logGroups"])' <"$WORK/groups.json" | grep -qw /aws/lambda/Echo \
  || fail "no /aws/lambda/Echo group: $(cat "$WORK/groups.json")"

LOGS describe-log-streams --log-group-name /aws/lambda/Echo --order-by LastEventTime --descending \
  >"$WORK/streams.json" || fail "describe-log-streams failed"
stream=$(json_get 'j["logStreams"][0]["logStreamName"]' <"$WORK/streams.json")
echo "$stream" | grep -Eq '^[0-9]{4}/[0-9]{2}/[0-9]{2}/\[\$LATEST\][0-9a-f]{32}$' || fail "stream name '$stream'"

LOGS filter-log-events --log-group-name /aws/lambda/Echo --filter-pattern REPORT >"$WORK/reports.json" \
  || fail "filter-log-events failed"
assert_eq "$(json_get 'sum(1 for e in j["events"] if e["message"].startswith("REPORT RequestId: "))' <"$WORK/reports.json")" 3 \
  "REPORT lines"
assert_eq "$(json_get 'len(j["events"])' <"$WORK/reports.json")" 3 "events matching REPORT"
json_get 'j["events"][0]["message"]' <"$WORK/reports.json" | grep -Pq '\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB' \
  || fail "REPORT line shape: $(json_get 'j["events"][0]["message"]' <"$WORK/reports.json")"

timeout 120 python3 - "$BASE" "$stream" <<'PY' || fail "boto3 logs checks"
import sys, time, boto3
base, stream = sys.argv[1], sys.argv[2]
logs = boto3.client("logs", endpoint_url=base, region_name="us-east-1")
pages = list(logs.get_paginator("filter_log_events").paginate(
    logGroupName="/aws/lambda/Echo", filterPattern="REPORT", PaginationConfig={"PageSize": 1}))
reports = [e for p in pages for e in p["events"]]
assert len(reports) == 3 and len(pages) >= 3, (len(reports), len(pages))
assert len({e["eventId"] for e in reports}) == 3
everything = [e for p in logs.get_paginator("filter_log_events").paginate(logGroupName="/aws/lambda/Echo")
              for e in p["events"]]
assert sum(e["message"].startswith("START RequestId:") for e in everything) == 3, everything
later = logs.filter_log_events(logGroupName="/aws/lambda/Echo", startTime=int(time.time() * 1000) + 60_000)
assert later["events"] == [], later
window = logs.filter_log_events(logGroupName="/aws/lambda/Echo", filterPattern='"Billed Duration" -nosuchword',
                                startTime=reports[0]["timestamp"], endTime=reports[-1]["timestamp"] + 1)
assert len(window["events"]) == 3, window
head = logs.get_log_events(logGroupName="/aws/lambda/Echo", logStreamName=stream, startFromHead=True)
assert any(e["message"].startswith("START RequestId:") for e in head["events"]), head
try:
    logs.filter_log_events(logGroupName="/aws/lambda/NoSuch")
    raise SystemExit("an unknown group was answered")
except logs.exceptions.ResourceNotFoundException:
    pass
print("logs ok:", len(everything), "events,", len(pages), "pages of REPORT")
PY
server_healthy "the Logs API calls"
echo "PASS"
