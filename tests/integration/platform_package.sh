#!/usr/bin/env bash
# `mlfaas package` in its three formats and serve's PackageType: Image:
# - zip: bootstrap at the root with mode 0755 in the external attributes (read back by unzip -Z and Python's
#   zipfile), the model files; refused above Lambda's 250 MB unzipped, a note above the 50 MB direct upload;
# - image: an OCI layout of the emotion function, inspected by skopeo and unpacked by umoci (independent readers;
#   skipped with a message where they are not installed), the same digest when built twice, and as oci-archive;
# - serve runs it as PackageType: Image (oci: and oci-archive:) and answers an invoke through the AWS CLI, in the
#   image's own root where the server is root, and without one (with its warning) where namespaces are off;
# - a layer made by Python's tarfile that writes through a symbolic link is refused at start, naming the entry.
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"

head='Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Runtime: provided.al2023
      Handler: echo'

# ---------------------------------------------------------------- zip
mkdir -p "$WORK/zip/models/echo"
printf '%s\n' "$head" >"$WORK/zip/t.yaml"
echo '{"note": "model files travel under model/"}' >"$WORK/zip/models/echo/config.json"
timeout 60 "$MLFAAS_BIN" package -t "$WORK/zip/t.yaml" -f Fn --format zip --out "$WORK/fn.zip" >/dev/null \
  || fail "package --format zip failed"
listing=$(unzip -Z "$WORK/fn.zip")
echo "$listing" | grep -Eq '^-rwxr-xr-x .* bootstrap$' || fail "unzip -Z: bootstrap is not -rwxr-xr-x: $listing"
echo "$listing" | grep -Eq '^-rw-r--r-- .* model/config.json$' || fail "unzip -Z: no model/config.json: $listing"
python3 - "$WORK/fn.zip" <<'PY' || fail "fn.zip content"
import sys, zipfile, stat
z = zipfile.ZipFile(sys.argv[1])
names = {i.filename: i for i in z.infolist()}
assert "bootstrap" in names and "model/config.json" in names, names.keys()
assert names["bootstrap"].create_system == 3, "external attributes are not Unix"
assert stat.S_IMODE(names["bootstrap"].external_attr >> 16) == 0o755, oct(names["bootstrap"].external_attr >> 16)
assert all(n == "bootstrap" or n.startswith(("lib/", "model/")) for n in names), names.keys()
assert z.testzip() is None
PY
# The directory format (sam build's) still works and is the same files.
timeout 60 "$MLFAAS_BIN" package -t "$WORK/zip/t.yaml" -f Fn --dir "$WORK/fn.dir" >/dev/null || fail "package --dir failed"
[ -x "$WORK/fn.dir/bootstrap" ] && [ -f "$WORK/fn.dir/model/config.json" ] || fail "package --dir: files missing"

# Over 250 MB unzipped (a sparse file: nothing is read): refused before anything is written.
truncate -s 260M "$WORK/zip/models/echo/weights.bin"
code=0
timeout 60 "$MLFAAS_BIN" package -t "$WORK/zip/t.yaml" -f Fn --out "$WORK/big.zip" >"$WORK/big.out" 2>&1 || code=$?
assert_eq "$code" 2 "zip over 250 MB: exit code"
grep -q "above Lambda's 250 MB limit for a zip package" "$WORK/big.out" || fail "no 250 MB message: $(cat "$WORK/big.out")"
grep -q -- "--format image" "$WORK/big.out" || fail "the 250 MB refusal does not point to --format image"
[ ! -e "$WORK/big.zip" ] || fail "a refused zip was written"
# Over 50 MB zipped: written, with the S3 route named.
rm "$WORK/zip/models/echo/weights.bin"
head -c 53000000 /dev/urandom >"$WORK/zip/models/echo/weights.bin"
timeout 120 "$MLFAAS_BIN" package -t "$WORK/zip/t.yaml" -f Fn --out "$WORK/s3.zip" >"$WORK/s3.out" 2>&1 \
  || fail "package of a 53 MB model failed: $(cat "$WORK/s3.out")"
grep -q "above the 50 MB Lambda takes in a direct upload" "$WORK/s3.out" && grep -q "S3Bucket=" "$WORK/s3.out" \
  || fail "no 50 MB note: $(cat "$WORK/s3.out")"
rm -rf "$WORK/zip" "$WORK/s3.zip" "$WORK/fn.dir"

# ---------------------------------------------------------------- image
img="$WORK/emotion-image"
timeout 120 "$MLFAAS_BIN" package -t "$MLFAAS_SOURCE/template.yaml" -f EmotionFunction --format image --out "$img" \
  >"$WORK/img.out" || fail "package --format image failed"
cat "$WORK/img.out"
digest=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['manifests'][0]['digest'])" "$img/index.json")
timeout 120 "$MLFAAS_BIN" package -t "$MLFAAS_SOURCE/template.yaml" -f EmotionFunction --format image \
  --out "$WORK/emotion.tar" >/dev/null || fail "package --format image --out .tar failed"
grep -qF "$digest" "$WORK/img.out" || fail "the printed digest is not index.json's"
# Reproducible: the same inputs give the same manifest.
timeout 120 "$MLFAAS_BIN" package -t "$MLFAAS_SOURCE/template.yaml" -f EmotionFunction --format image \
  --out "$WORK/again" >/dev/null || fail "second image build failed"
assert_eq "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['manifests'][0]['digest'])" "$WORK/again/index.json")" \
  "$digest" "the image's digest on a second build"
rm -rf "$WORK/again"

if command -v skopeo >/dev/null 2>&1; then
  for ref in "oci:$img" "oci:$img:latest" "oci-archive:$WORK/emotion.tar"; do
    timeout 60 skopeo inspect "$ref" >"$WORK/inspect.json" 2>"$WORK/inspect.err" \
      || fail "skopeo inspect $ref: $(cat "$WORK/inspect.err")"
    python3 - "$WORK/inspect.json" "$digest" <<'PY' || fail "skopeo inspect $ref: unexpected answer"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["Digest"] == sys.argv[2], (j["Digest"], sys.argv[2])
assert j["Architecture"] == "amd64" and j["Os"] == "linux", j
assert len(j["Layers"]) == 2, j["Layers"]
assert "LAMBDA_TASK_ROOT=/var/task" in j["Env"], j["Env"]
PY
  done
  timeout 60 skopeo inspect --config "oci:$img" | python3 -c "
import json, sys
c = json.load(sys.stdin)['config']
assert c['Entrypoint'] == ['/var/runtime/bootstrap'] and c['Cmd'] == ['emotion'] and c['WorkingDir'] == '/var/task', c
" || fail "skopeo inspect --config: Entrypoint/Cmd/WorkingDir"
  # skopeo copy re-reads every blob against its digest.
  timeout 60 skopeo copy --quiet "oci:$img" "oci:$WORK/copied:latest" >/dev/null || fail "skopeo copy oci: -> oci:"
  rm -rf "$WORK/copied"
else
  echo "NOTE: skopeo is not installed (apt-get install skopeo): the image was not inspected by skopeo"
fi
if command -v umoci >/dev/null 2>&1; then
  timeout 60 umoci unpack --rootless --image "$img:latest" "$WORK/bundle" >/dev/null 2>&1 || fail "umoci unpack failed"
  [ -x "$WORK/bundle/rootfs/var/runtime/bootstrap" ] || fail "umoci: no executable /var/runtime/bootstrap"
  [ -f "$WORK/bundle/rootfs/var/task/model/config.json" ] || fail "umoci: no model under /var/task/model"
  interp=$(readelf -l "$MLFAAS_BUILD/bootstrap" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)]/\1/p')
  [ -z "$interp" ] || [ -x "$WORK/bundle/rootfs$interp" ] || fail "umoci: the image lacks the dynamic loader $interp"
  # Self-contained: the bootstrap runs with nothing but the image's files.
  if [ "$(id -u)" = 0 ]; then
    timeout 30 chroot "$WORK/bundle/rootfs" /var/runtime/bootstrap --list-handlers | grep -q '^emotion' \
      || fail "the bootstrap does not run inside the image's own root (chroot)"
  fi
  rm -rf "$WORK/bundle"
else
  echo "NOTE: umoci is not installed (apt-get install umoci): the image was not unpacked by umoci"
fi

# ---------------------------------------------------------------- serve, PackageType: Image
cat >"$WORK/image.yaml" <<EOF
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    Timeout: 30
Resources:
  EmotionImage:
    Type: AWS::Serverless::Function
    Metadata:
      DockerTag: latest
      DockerContext: .
      Dockerfile: Dockerfile
    Properties:
      PackageType: Image
      ImageUri: oci:emotion-image:latest
      MemorySize: 512
  EmotionArchive:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: oci-archive:$WORK/emotion.tar
      MemorySize: 512
EOF
start_serve "$WORK/image.yaml" --state-dir "$WORK/state"
grep -Eq "EmotionImage +handler emotion .*image sha256:" "$WORK/serve.out" || fail "EmotionImage not listed as an image"
for fn in EmotionImage EmotionArchive; do
  aws_invoke "$fn" '{"sentence": "I am so happy today"}' "$WORK/$fn.json" >/dev/null || fail "$fn: invoke failed"
  assert_eq "$(json_get 'j["predicted_label"]' <"$WORK/$fn.json")" happy "$fn: predicted label"
done
[ -x "$WORK/state/images/EmotionImage/rootfs/var/runtime/bootstrap" ] || fail "no unpacked root under --state-dir"
if grep -q "own PID and mount namespaces" "$WORK/serve.out"; then
  # In its own root: the instance sees the image's top-level directories and nothing of the host's.
  pid=$(instance_pid EmotionImage)
  [ -n "$pid" ] || fail "no EmotionImage instance found"
  top=$(ls "/proc/$pid/root" | sort | tr '\n' ' ')
  assert_eq "$top" "dev lib lib64 proc tmp var " "the instance's root"
  grep -q "Image functions run without a root of their own" "$WORK/serve.out" && fail "warned although root"
fi
stop_serve

# Without namespaces: the entrypoint runs from the unpacked root, with a warning; the unpacked root is reused.
MLFAAS_DISABLE_NAMESPACES=1 start_serve "$WORK/image.yaml" --state-dir "$WORK/state"
grep -q "Image functions run without a root of their own" "$WORK/serve.out" || fail "no warning without namespaces"
aws_invoke EmotionImage '{"sentence": "this makes me furious"}' "$WORK/plain.json" >/dev/null || fail "invoke without namespaces"
json_get 'j["predicted_label"]' <"$WORK/plain.json" >/dev/null || fail "no answer without namespaces: $(cat "$WORK/plain.json")"
stop_serve

# ---------------------------------------------------------------- a hostile image
mkdir -p "$WORK/victim"
python3 - "$WORK/evil" "$WORK/victim" <<'PY'
# An image whose layer plants a symbolic link to a host directory, then writes a file through it.
import gzip, hashlib, io, json, os, sys, tarfile
layout, victim = sys.argv[1], sys.argv[2]
os.makedirs(layout + "/blobs/sha256")
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    link = tarfile.TarInfo("var/task"); link.type = tarfile.SYMTYPE; link.linkname = victim; t.addfile(link)
    data = b"pwned\n"
    f = tarfile.TarInfo("var/task/pwned"); f.size = len(data); t.addfile(f, io.BytesIO(data))
tar = raw.getvalue()
gz = gzip.compress(tar)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(f"{layout}/blobs/sha256/{d}", "wb").write(b)
    return {"digest": "sha256:" + d, "size": len(b)}
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                          "config": {"Entrypoint": ["/bin/sh"]},
                          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode())
layer = blob(gz)
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json")]},
          open(layout + "/index.json", "w"))
open(layout + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
cat >"$WORK/evil.yaml" <<EOF
Resources:
  Evil:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: oci:$WORK/evil
EOF
code=0
(cd "$WORK" && timeout 30 "$MLFAAS_BIN" serve --template evil.yaml --port 0 --state-dir "$WORK/state" \
   >"$WORK/evil.out" 2>&1) || code=$?
assert_eq "$code" 2 "hostile image: exit code"
grep -q "Resources.Evil.Properties.ImageUri: layer sha256:.*entry 'var/task/pwned' goes through the symbolic link 'var/task'" \
  "$WORK/evil.out" || fail "hostile image: unexpected message: $(cat "$WORK/evil.out")"
[ ! -e "$WORK/victim/pwned" ] || fail "the hostile layer wrote outside the image"
[ ! -e "$WORK/state/images/Evil/rootfs" ] || fail "a refused image left an unpacked root"
echo "PASS platform_package"
