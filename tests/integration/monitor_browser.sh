#!/usr/bin/env bash
# The web page and the dashboard in headless Chromium (playwright-core): classify a sentence on /, see the label,
# bars and latency; errors shown plainly; in the story tab a greedy story streams in from /v1/completions and equals
# the non-streamed text; /dashboard lists that invocation and the alarm states. Screenshots are kept in
# <build>/screenshots/.
source "$(dirname "$0")/monitor_lib.bash"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: no Chromium at $CHROMIUM (Debian package chromium; tools/setup.sh installs it)"
  exit 0
fi
command -v node >/dev/null || fail "node is missing (tools/setup.sh installs it)"
[ -d "$MLFAAS_SOURCE/web/node_modules/playwright-core" ] || fail "web/node_modules has no playwright-core (npm ci in web/)"
[ -f "$MLFAAS_BUILD/web/index.html" ] || fail "the web assets are not built ($MLFAAS_BUILD/web)"
[ -f "$MLFAAS_SOURCE/models/emotion/model.safetensors" ] || fail "models/emotion is missing"
"$MLFAAS_BUILD/bootstrap" --list-handlers 2>/dev/null | grep -q emotion || {
  echo "SKIP: this bootstrap was built without the emotion handler"
  exit 0
}

start_serve "$MLFAAS_SOURCE/template.yaml" --smtp-url smtp://127.0.0.1:9
SHOTS="$MLFAAS_BUILD/screenshots"
CHROMIUM="$CHROMIUM" timeout 180 node "$MLFAAS_SOURCE/tests/browser/web_pages.test.mjs" "$BASE" "$SHOTS" ||
  fail "browser test failed"
ls -l "$SHOTS"/*.png
server_healthy "the browser session"
