#!/usr/bin/env bash
# The HTML report is one self-contained file that renders offline: headless Chromium (when installed)
# screenshots it, and the screenshot is kept under the build directory. Also checks --emit-locustfile.
source "$(dirname "$0")/loadtest_lib.bash"

start_server EMO --delay 0.01 --fail-every 40
loadtest run --host "$EMO_URL" --scenario heavy --time-scale 0.05 --html "$T/report.html"
cat "$T/run.log"
[ "$RC" = 1 ] || fail "a run with injected 500s exited $RC"
[ -s "$T/report.html" ] || fail "no report"
# Offline: no scripts, no stylesheet or image links, nothing fetched.
if grep -Eq '<script|<link|src=|url\(' "$T/report.html"; then fail "the report references external resources"; fi
[ "$(grep -o '<svg' "$T/report.html" | wc -l)" = 3 ] || fail "expected 3 charts"
grep -q 'HTTPError: 500' "$T/report.html" || fail "failures table missing"

chromium_bin=""
for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null && { chromium_bin="$c"; break; }; done
if [ -n "$chromium_bin" ]; then
  out="${MLFAAS_BUILD:-$T}/loadtest_report.png"
  blank="$T/blank.png"
  echo '<!DOCTYPE html><html><body></body></html>' >"$T/blank.html"
  shoot() {  # shoot HTML PNG
    timeout 90 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-background-networking \
      --disable-dev-shm-usage --user-data-dir="$T/chromium-profile" --hide-scrollbars \
      --screenshot="$2" --window-size=1280,2000 "file://$1" >"$T/chromium.log" 2>&1 || { cat "$T/chromium.log"; fail "chromium failed on $1"; }
  }
  shoot "$T/report.html" "$out"
  shoot "$T/blank.html" "$blank"
  [ -s "$out" ] || fail "no screenshot"
  size=$(stat -c %s "$out"); blank_size=$(stat -c %s "$blank")
  echo "screenshot $out: $size bytes (blank page: $blank_size bytes)"
  # Text, tables and three charts compress far worse than an empty page.
  [ "$size" -gt $((blank_size * 4)) ] || fail "the screenshot looks empty"
else
  echo "SKIP screenshot: chromium is not installed (apt-get install -y chromium)"
fi

# --emit-locustfile writes valid Python for the chosen scenario and runs nothing.
loadtest emit --scenario bursty --emit-locustfile "$T/locustfile.py" --field text --host "$EMO_URL"
[ "$RC" = 0 ] || { cat "$T/emit.log"; fail "emit exited $RC"; }
grep -q "locust -f $T/locustfile.py --headless -u 3 -r 1 -t 2m --host $EMO_URL" "$T/emit.log" || { cat "$T/emit.log"; fail "no locust command"; }
/usr/bin/python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read())' "$T/locustfile.py" || fail "locustfile is not Python"
grep -q 'wait_time = between(5, 10)' "$T/locustfile.py" || fail "bursty wait missing"
grep -q '"This is a sentence."' "$T/locustfile.py" || fail "sentences missing"
grep -q 'json={"text": random.choice(SENTENCES)}' "$T/locustfile.py" || fail "text field missing"
echo "PASS"
