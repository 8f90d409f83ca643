#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20), seeded from tests/fuzz/corpus, and
# print the executions per target. Exits non-zero if any target finds a crash or leak.
# Findings (crash-*, leak-*) are left in build/fuzz-findings/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
runs="png:image jpeg:image pngdiff:pngdiff json:json options:options config:config model:model multipart:multipart nifti:nifti dicom:dicom"
mkdir -p build/fuzz-findings
status=0
for run in $runs; do
    name=${run%%:*} target=${run##*:}
    work=build/fuzz-corpus/$name
    mkdir -p "$work"
    log=build/fuzz-findings/$name.log
    if ! "build/fuzz-$target" "$work" "tests/fuzz/corpus/$name" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="build/fuzz-findings/$name-" -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz $name: FAILED (see $log)"
        tail -30 "$log"
        status=1
        continue
    fi
    execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz $name: $execs executions in ${seconds}s, no crash"
done
exit $status
