# Shared by the CLI tests of bad model inputs (sourced, not a test itself: only *.sh files are tests).
# expect_model_errors DIR CASE...: runs `mlfaas predict --model DIR/CASE "some text"` for each case, whose expected
# message fragment is ${want[CASE]} (an associative array the caller declares); each must exit 2 with exactly one
# line on stderr naming DIR/CASE and containing the fragment.
expect_model_errors() {
  local dir=$1 case rc lines
  shift
  for case in "$@"; do
    set +e
    timeout 30 "$MLFAAS_BIN" predict --model "$dir/$case" "some text" >"$dir/.out" 2>"$dir/.err"; rc=$?
    set -e
    lines=$(wc -l <"$dir/.err")
    if [ "$rc" != 2 ] || [ "$lines" != 1 ] || ! grep -qF -- "${want[$case]}" "$dir/.err" || ! grep -q "$dir/$case" "$dir/.err"; then
      echo "FAIL: $case: exit $rc, $lines line(s): $(cat "$dir/.err")" >&2
      exit 1
    fi
    echo "ok   $case: $(cat "$dir/.err")"
  done
}
