#!/usr/bin/env bash
# One tap pass (npm test's main pass, and the cluster pass through test/cluster-pass.sh) over the
# compiled suite, with the arguments given. A test file that fails is run once more, alone: if it
# passes then, the pass still passes but says so loudly ("FLAKY: ..." here, and in .ci/run's last
# lines), because a file that fails only when the machine is loaded is a defect to fix, and the
# whole suite's verdict should not hang on it. More than 3 failed files is breakage, not a flake:
# no rerun. A failure outside any file (setup) is not rerun either.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && exit 0
failed=$(sed -nE 's/^not ok [0-9]+ - (dist\/test\/[^ ]+\.test\.js).*/\1/p' "$log" | sort -u)
count=$(wc -w <<<"$failed")
if [ "$count" -eq 0 ] || [ "$count" -gt 3 ]; then
  echo "# $count test file(s) failed: no rerun"
  exit "$status"
fi
echo "# rerunning the failed test file(s) once, alone:" $failed
if npx tap --jobs=1 $failed; then
  echo "# FLAKY (failed, then passed when run again alone):" $failed
  exit 0
fi
exit 1
