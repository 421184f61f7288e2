#!/usr/bin/env bash
# The minimal S3 with the real AWS CLI and boto3: `aws s3 mb`, `aws s3 cp` of a 60 MB zip (a multipart upload:
# CreateMultipartUpload, UploadPart, CompleteMultipartUpload) and back (ranged GETs), `aws s3 ls`, head-object,
# create-function from S3Bucket/S3Key (the zip is over the 50 MB direct-upload limit, which --zip-file hits),
# NoSuchKey / NoSuchBucket as boto3 raises them, an aborted upload, objects surviving a restart, delete and rb.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

TEMPLATE="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
start_serve "$TEMPLATE"
S3() { timeout 180 aws s3 --endpoint-url "$BASE" "$@"; }
L() { timeout 180 aws lambda --endpoint-url "$BASE" "$@"; }

# A 60 MB function zip: the Echo package plus 58 MB of incompressible filler, stored.
"$MLFAAS_BIN" package --template "$TEMPLATE" --function Echo --out "$WORK/echo.zip" >/dev/null || fail "mlfaas package failed"
python3 - "$WORK/echo.zip" "$WORK/big.zip" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for info in src.infolist():
        dst.writestr(info, src.read(info))
    dst.writestr(zipfile.ZipInfo("filler.bin"), os.urandom(58 * 1024 * 1024), compress_type=zipfile.ZIP_STORED)
PY
size=$(stat -c %s "$WORK/big.zip")

S3 mb s3://code-bucket >/dev/null || fail "aws s3 mb failed"
S3 cp "$WORK/big.zip" s3://code-bucket/functions/big.zip >/dev/null || fail "aws s3 cp (upload) failed"
S3 ls s3://code-bucket/functions/ | grep -Eq " $size big\.zip$" || fail "aws s3 ls: $(S3 ls s3://code-bucket/functions/)"
S3 ls s3://code-bucket/ | grep -q 'PRE functions/' || fail "aws s3 ls does not show the prefix"
timeout 60 aws s3api --endpoint-url "$BASE" head-object --bucket code-bucket --key functions/big.zip >"$WORK/head.json" \
  || fail "head-object failed"
assert_eq "$(json_get 'j["ContentLength"]' <"$WORK/head.json")" "$size" "ContentLength"
json_get 'j["ETag"]' <"$WORK/head.json" | grep -Eq '^"[0-9a-f]{32}-[0-9]+"$' || fail "not a multipart ETag: $(cat "$WORK/head.json")"
S3 cp s3://code-bucket/functions/big.zip "$WORK/down.zip" >/dev/null || fail "aws s3 cp (download) failed"
cmp -s "$WORK/big.zip" "$WORK/down.zip" || fail "the downloaded object differs from the uploaded file"

L create-function --function-name BigEcho --runtime provided.al2023 --handler echo \
  --role arn:aws:iam::123456789012:role/lambda-exec --code S3Bucket=code-bucket,S3Key=functions/big.zip \
  >"$WORK/create.json" || fail "create-function from S3 failed"
assert_eq "$(json_get 'j["CodeSize"]' <"$WORK/create.json")" "$size" "CodeSize of the S3 code"
aws_invoke BigEcho '{"from": "s3"}' "$WORK/out.json" >/dev/null || fail "invoke of the S3 function failed"
assert_eq "$(json_get 'j["from"]' <"$WORK/out.json")" s3 "echo of the S3 function"

timeout 180 python3 - "$BASE" "$WORK/big.zip" <<'PY' || fail "boto3 S3 checks"
import sys, boto3, botocore
base, big = sys.argv[1], sys.argv[2]
cfg = botocore.config.Config(retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=base, region_name="us-east-1", config=cfg)
lam = boto3.client("lambda", endpoint_url=base, region_name="us-east-1", config=cfg)
role = "arn:aws:iam::123456789012:role/lambda-exec"
try:
    s3.get_object(Bucket="code-bucket", Key="nope")
    raise SystemExit("a missing key was answered")
except s3.exceptions.NoSuchKey:
    pass
try:
    s3.list_objects_v2(Bucket="no-such-bucket")
    raise SystemExit("a missing bucket was answered")
except s3.exceptions.NoSuchBucket:
    pass
try:
    lam.create_function(FunctionName="Missing", Runtime="provided.al2023", Role=role, Handler="echo",
                        Code={"S3Bucket": "code-bucket", "S3Key": "nope.zip"})
    raise SystemExit("create-function from a missing key succeeded")
except lam.exceptions.InvalidParameterValueException as e:
    assert "NoSuchKey" in str(e), e
# The same zip in the request is over the direct-upload limit.
try:
    lam.create_function(FunctionName="Direct", Runtime="provided.al2023", Role=role, Handler="echo",
                        Code={"ZipFile": open(big, "rb").read()})
    raise SystemExit("a 60 MB direct upload succeeded")
except lam.exceptions.ClientError as e:  # not a modelled exception: AWS's code, in x-amzn-ErrorType
    assert e.response["Error"]["Code"] == "RequestEntityTooLargeException", e
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 413, e.response
except botocore.exceptions.ConnectionClosedError:
    pass  # the server answered 413 and closed while the client was still sending
up = s3.create_multipart_upload(Bucket="code-bucket", Key="aborted")
s3.upload_part(Bucket="code-bucket", Key="aborted", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 1024)
s3.abort_multipart_upload(Bucket="code-bucket", Key="aborted", UploadId=up["UploadId"])
try:
    s3.upload_part(Bucket="code-bucket", Key="aborted", UploadId=up["UploadId"], PartNumber=2, Body=b"y")
    raise SystemExit("an aborted upload took a part")
except s3.exceptions.NoSuchUpload:
    pass
s3.put_object(Bucket="code-bucket", Key="small/a.txt", Body=b"hello", ContentType="text/plain")
got = s3.get_object(Bucket="code-bucket", Key="small/a.txt", Range="bytes=1-3")
assert got["Body"].read() == b"ell" and got["ContentType"] == "text/plain", got
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="code-bucket", PaginationConfig={"PageSize": 1})
        for o in p.get("Contents", [])]
assert keys == ["functions/big.zip", "small/a.txt"], keys
print("s3 ok")
PY

stop_serve
start_serve "$TEMPLATE"
timeout 60 aws s3api --endpoint-url "$BASE" head-object --bucket code-bucket --key functions/big.zip >/dev/null \
  || fail "the object is gone after a restart"
S3 rm s3://code-bucket/functions/big.zip >/dev/null || fail "aws s3 rm failed"
S3 rm s3://code-bucket/small/a.txt >/dev/null || fail "aws s3 rm failed"
S3 rb s3://code-bucket >/dev/null || fail "aws s3 rb failed"
server_healthy "the S3 calls"
echo "PASS"
