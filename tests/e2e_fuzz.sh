#!/bin/sh
# e2e_fuzz.sh - a smoke run of every libFuzzer target (fuzz/, docs/FUZZ.md):
# each starts from its committed seeds and mutates for FUZZ_SMOKE_SECONDS
# (default 2) under ASan+UBSan; any crash, leak or sanitizer report fails.
# New inputs go to a temp folder, never into fuzz/corpus. Skips (77) when
# the targets are not built (no clang: `make test` builds them when it can).
FB=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SMOKE_SECONDS:-2}
ls "$FB"/fuzz_* >/dev/null 2>&1 || { echo "e2e_fuzz: no fuzz targets in $FB (clang missing?): skipped"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n_ok=0
for src in fuzz/fuzz_*.c; do
    name=${src#fuzz/fuzz_}; name=${name%.c}
    b="$FB/fuzz_$name"
    [ -x "$b" ] || { echo "e2e_fuzz FAIL: $b not built"; exit 1; }
    mkdir -p "$T/$name"
    if ! TMPDIR="$T" nice -n 5 "$b" -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$T/crash-$name-" "$T/$name" "fuzz/corpus/$name" >"$T/log" 2>&1; then
        echo "e2e_fuzz FAIL: fuzz_$name:"; tail -40 "$T/log"; exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/log")
    cov=$(grep -o 'cov: [0-9]*' "$T/log" | tail -1)
    echo "e2e_fuzz: fuzz_$name: $runs runs, $cov"
    n_ok=$((n_ok + 1))
done
echo "e2e_fuzz: ok ($n_ok targets)"
exit 0
