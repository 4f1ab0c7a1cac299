#!/bin/sh
# Runs every cmocka test binary in $BUILD/tests, the CLI cases and the e2e
# scripts; prints one line per test file, the full output of each one that
# failed, and one closing line: "N passed, N failed, N skipped".
# Every file's whole output (expected error messages included) goes to
# $BUILD/test-logs/<name>.log; VERBOSE=1 prints it all as before.
# Exit status is non-zero when anything failed.
BUILD=${BUILD:-build}
IDIM=${IDIM:-./idim}
export IDIM
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"
pass=0; fail=0; skip=0
# line NAME RC PASSED FAILED SKIPPED LOG: the one line; the log in full on failure
report() {
    if [ "$2" -eq 77 ]; then st="skipped"; elif [ "$2" -ne 0 ] || [ "$4" -ne 0 ]; then st="FAILED"; else st="ok"; fi
    printf '%-8s %-28s %s passed, %s failed, %s skipped\n' "$st" "$1" "$3" "$4" "$5"
    if [ "$st" = FAILED ] || [ "${VERBOSE:-0}" = 1 ]; then
        sed 's/^/    | /' "$6"
    elif [ "$st" = skipped ]; then
        grep -i 'skip' "$6" | head -2 | sed 's/^/    /'
    fi
}
count() { # pattern log
    sed -n "s/^$1 \([0-9]*\) test.*/\1/p" "$2" | awk '{s+=$1} END {print s+0}'
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t"); log="$LOGS/$name.log"
    "$t" > "$log" 2>&1; rc=$?
    p=$(count '\[  PASSED  \]' "$log"); f=$(count '\[  FAILED  \]' "$log"); s=$(count '\[  SKIPPED \]' "$log")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed outside cmocka
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    report "$name" "$rc" "$p" "$f" "$s" "$log"
done
if [ -f tests/cli_cases.txt ]; then
    log="$LOGS/cli_cases.log"
    sh tests/cli.sh > "$log" 2>&1; rc=$?
    p=$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$log")
    f=$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$log")
    p=${p:-0}; f=${f:-1}
    pass=$((pass + p)); fail=$((fail + f))
    report cli_cases.txt "$rc" "$p" "$f" 0 "$log"
fi
for s in tests/e2e_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh); log="$LOGS/$name.log"
    sh "$s" > "$log" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); report "$name" 0 1 0 0 "$log"
    elif [ $rc -eq 77 ]; then skip=$((skip + 1)); report "$name" 77 0 0 1 "$log"
    else fail=$((fail + 1)); report "$name" "$rc" 0 1 0 "$log"; fi
done
echo "logs: $LOGS/"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
