#!/usr/bin/env bash
# The Lambda control plane of `mlfaas serve` with the real AWS CLI and boto3: list-functions, create-function
# from `mlfaas package`'s zip, get-function-configuration (Pending, then Active), invoke, update-function-
# configuration --memory-size and a REPORT showing the new size, put/get-function-concurrency, add-permission,
# ListFunctions pagination, AWS's error shapes as boto3's exception classes, the 50 MB direct-upload limit, the
# function surviving a restart of serve, and delete-function.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

TEMPLATE="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
start_serve "$TEMPLATE"
L() { timeout 120 aws lambda --endpoint-url "$BASE" "$@"; }

L list-functions >"$WORK/list.json" || fail "list-functions failed"
json_get '" ".join(f["FunctionName"] for f in j["Functions"])' <"$WORK/list.json" | grep -qw Echo \
  || fail "list-functions does not show the template's Echo: $(cat "$WORK/list.json")"

"$MLFAAS_BIN" package --template "$TEMPLATE" --function Echo --out "$WORK/echo.zip" >/dev/null || fail "mlfaas package failed"
L create-function --function-name ApiEcho --runtime provided.al2023 --handler echo --memory-size 256 --timeout 20 \
  --role arn:aws:iam::123456789012:role/lambda-exec --zip-file "fileb://$WORK/echo.zip" >"$WORK/create.json" \
  || fail "create-function failed"
assert_eq "$(json_get 'j["State"]' <"$WORK/create.json")" Pending "State in CreateFunction's answer"
assert_eq "$(json_get 'j["CodeSize"]' <"$WORK/create.json")" "$(stat -c %s "$WORK/echo.zip")" "CodeSize"
expected_sha=$(openssl dgst -sha256 -binary "$WORK/echo.zip" | base64)
assert_eq "$(json_get 'j["CodeSha256"]' <"$WORK/create.json")" "$expected_sha" "CodeSha256"
L wait function-active-v2 --function-name ApiEcho || fail "the function never became Active"
L get-function-configuration --function-name ApiEcho >"$WORK/conf.json" || fail "get-function-configuration failed"
assert_eq "$(json_get 'j["State"] + "/" + j["LastUpdateStatus"]' <"$WORK/conf.json")" Active/Successful "state"

aws_invoke ApiEcho '{"hello": "api"}' "$WORK/out1.json" --log-type Tail >"$WORK/cli1.json" || fail "invoke failed"
assert_eq "$(json_get 'j["hello"]' <"$WORK/out1.json")" api "echoed payload"
json_get 'j["LogResult"]' <"$WORK/cli1.json" | base64 -d | grep -q 'Memory Size: 256 MB' || fail "REPORT is not 256 MB"

L update-function-configuration --function-name ApiEcho --memory-size 512 --environment 'Variables={COLOUR=blue}' \
  >"$WORK/upd.json" || fail "update-function-configuration failed"
assert_eq "$(json_get 'j["MemorySize"]' <"$WORK/upd.json")" 512 "MemorySize after the update"
L wait function-updated-v2 --function-name ApiEcho || fail "the update never completed"
aws_invoke ApiEcho '{"n": 2}' "$WORK/out2.json" --log-type Tail >"$WORK/cli2.json" || fail "invoke after the update failed"
json_get 'j["LogResult"]' <"$WORK/cli2.json" | base64 -d >"$WORK/tail2.txt"
grep -q 'Memory Size: 512 MB' "$WORK/tail2.txt" || fail "REPORT after the update: $(grep REPORT "$WORK/tail2.txt")"
grep -q 'Init Duration' "$WORK/tail2.txt" || fail "the new configuration did not start a new instance"

L put-function-concurrency --function-name ApiEcho --reserved-concurrent-executions 5 >/dev/null \
  || fail "put-function-concurrency failed"
assert_eq "$(L get-function-concurrency --function-name ApiEcho | json_get 'j["ReservedConcurrentExecutions"]')" 5 \
  "get-function-concurrency"
L add-permission --function-name ApiEcho --statement-id sns --action lambda:InvokeFunction \
  --principal sns.amazonaws.com --source-arn arn:aws:sns:us-east-1:123456789012:t >/dev/null || fail "add-permission failed"

# AWS's error shapes, as boto3 raises them.
timeout 120 python3 - "$BASE" "$WORK/echo.zip" <<'PY' || fail "error shapes"
import sys, boto3, botocore
base, zip_path = sys.argv[1], sys.argv[2]
c = boto3.client("lambda", endpoint_url=base, region_name="us-east-1",
                 config=botocore.config.Config(retries={"max_attempts": 1}))
zip_bytes = open(zip_path, "rb").read()
def expect(cls_name, fn, status, **kw):
    try:
        fn(**kw)
    except c.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        assert code == cls_name, f"{fn.__name__}: {code} instead of {cls_name}: {e}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status, (cls_name, e.response)
        if hasattr(c.exceptions, cls_name):
            assert isinstance(e, getattr(c.exceptions, cls_name)), type(e)
        return
    raise AssertionError(f"{fn.__name__} {kw} succeeded")
role = "arn:aws:iam::123456789012:role/lambda-exec"
base_args = dict(Runtime="provided.al2023", Role=role, Handler="echo", Code={"ZipFile": zip_bytes})
expect("ResourceConflictException", c.create_function, 409, FunctionName="ApiEcho", **base_args)
expect("ResourceConflictException", c.create_function, 409, FunctionName="Echo", **base_args)
expect("ResourceNotFoundException", c.get_function, 404, FunctionName="NoSuch")
expect("ResourceNotFoundException", c.delete_function, 404, FunctionName="NoSuch")
expect("ValidationException", c.create_function, 400, FunctionName="Big", MemorySize=99999, **base_args)
expect("ValidationException", c.update_function_configuration, 400, FunctionName="ApiEcho", Timeout=901)
expect("InvalidParameterValueException", c.update_function_configuration, 400, FunctionName="ApiEcho",
       MemorySize=20000)
expect("InvalidParameterValueException", c.create_function, 400, FunctionName="Bad",
       Runtime="provided.al2023", Role=role, Handler="echo", Code={"ZipFile": b"not a zip"})
expect("InvalidParameterValueException", c.create_function, 400, FunctionName="Img", Role=role,
       PackageType="Image", Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest"})
expect("InvalidParameterValueException", c.put_function_concurrency, 400, FunctionName="ApiEcho",
       ReservedConcurrentExecutions=5000)
expect("InvalidParameterValueException", c.update_function_configuration, 400, FunctionName="ApiEcho",
       Environment={"Variables": {"AWS_REGION": "x"}})
expect("ResourceConflictException", c.add_permission, 409, FunctionName="ApiEcho", StatementId="sns",
       Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
# Over 50 MB in the request: RequestEntityTooLargeException (413).
import os
big = os.urandom(51 * 1024 * 1024)
expect("RequestEntityTooLargeException", c.create_function, 413, FunctionName="Huge",
       Runtime="provided.al2023", Role=role, Handler="echo", Code={"ZipFile": big})
# Pagination: every function once, in pages of one.
names = [f["FunctionName"] for p in c.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
         for f in p["Functions"]]
assert "ApiEcho" in names and "Echo" in names and len(names) == len(set(names)), names
policy = c.get_policy(FunctionName="ApiEcho")["Policy"]
assert '"Sid":"sns"' in policy.replace(" ", ""), policy
print("error shapes ok,", len(names), "functions listed page by page")
PY

# PackageType Image: an OCI layout from `mlfaas package --format image`, unpacked and run by serve.
timeout 120 "$MLFAAS_BIN" package --template "$TEMPLATE" --function Echo --format image --out "$WORK/echo-image" \
  >/dev/null || fail "mlfaas package --format image failed"
L create-function --function-name ImageEcho --package-type Image --code "ImageUri=oci:$WORK/echo-image:latest" \
  --role arn:aws:iam::123456789012:role/lambda-exec --image-config 'Command=echo' >"$WORK/image.json" \
  || fail "create-function --package-type Image failed"
assert_eq "$(json_get 'j["PackageType"]' <"$WORK/image.json")" Image "PackageType"
aws_invoke ImageEcho '{"from": "image"}' "$WORK/out-image.json" >/dev/null || fail "invoke of the image function failed"
assert_eq "$(json_get 'j["from"]' <"$WORK/out-image.json")" image "echo of the image function"

# The function outlives a restart of serve, with its configuration and reservation.
stop_serve
start_serve "$TEMPLATE"
L get-function --function-name ApiEcho >"$WORK/get.json" || fail "ApiEcho is gone after a restart"
assert_eq "$(json_get 'j["Configuration"]["MemorySize"]' <"$WORK/get.json")" 512 "MemorySize after a restart"
assert_eq "$(json_get 'j["Configuration"]["Environment"]["Variables"]["COLOUR"]' <"$WORK/get.json")" blue "Environment after a restart"
assert_eq "$(json_get 'j["Concurrency"]["ReservedConcurrentExecutions"]' <"$WORK/get.json")" 5 "reservation after a restart"
timeout 30 curl -sf -o "$WORK/download.zip" "$(json_get 'j["Code"]["Location"]' <"$WORK/get.json")" || fail "Code.Location"
cmp -s "$WORK/download.zip" "$WORK/echo.zip" || fail "Code.Location does not give the uploaded zip back"
aws_invoke ApiEcho '{"after": "restart"}' "$WORK/out3.json" >/dev/null || fail "invoke after a restart failed"
assert_eq "$(json_get 'j["after"]' <"$WORK/out3.json")" restart "echo after a restart"

aws_invoke ImageEcho '{"from": "image again"}' "$WORK/out-image2.json" >/dev/null || fail "image function after a restart"
L delete-function --function-name ImageEcho >/dev/null || fail "delete-function of the image function failed"
L delete-function --function-name ApiEcho >/dev/null || fail "delete-function failed"
if L get-function --function-name ApiEcho 2>"$WORK/gone.err"; then fail "ApiEcho still there after delete"; fi
grep -q ResourceNotFoundException "$WORK/gone.err" || fail "get after delete: $(cat "$WORK/gone.err")"
server_healthy "the Lambda API calls"
echo "PASS"
