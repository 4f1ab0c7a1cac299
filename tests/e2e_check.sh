#!/bin/sh
# `idim check` exit codes, as CI relies on them: 0 within tolerance, 6 outside
# it (a regression), 3 for reports of different experiments (task, method,
# threshold or model checksum) unless --ignore FIELD, 2 for usage errors
# (--tolerance 25 is refused: a bare number above 1 would mean 2500%).
# Each message is one line.
IDIM=${IDIM:-./idim}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
rep() { # file d90 task method threshold checksum
    printf '{"command":"measure","task":"%s","method":"%s","threshold":%s,"d90":%s,"model":{"path":"m.idim","checksum":"%s","n_params":10,"n_tensors":2}}\n' \
        "$3" "$4" "$5" "$2" "$6" > "$T/$1"
}
expect() { # exit-code description args...
    want=$1; what=$2; shift 2
    "$IDIM" check "$@" > "$T/out" 2> "$T/err"; rc=$?
    if [ $rc -ne "$want" ]; then
        echo "e2e_check: $what: exit $rc, expected $want"; sed 's/^/    /' "$T/err"; fail=1
    elif [ -s "$T/err" ] && [ "$(wc -l < "$T/err")" -ne 1 ]; then
        echo "e2e_check: $what: message is not one line:"; sed 's/^/    /' "$T/err"; fail=1
    fi
}
C=0123456789abcdef
rep exp.json 200 mrpc said 0.9 $C
rep same.json 200 mrpc said 0.9 $C
rep near.json 240 mrpc said 0.9 $C
rep far.json 300 mrpc said 0.9 $C
rep task.json 200 sst2 said 0.9 $C
rep method.json 200 mrpc did 0.9 $C
rep thr.json 200 mrpc said 0.8 $C
rep model.json 200 mrpc said 0.9 fedcba9876543210
rep null.json null mrpc said 0.9 $C
rep null2.json null mrpc said 0.9 $C
echo '{"d90": 200}' > "$T/bare.json"
echo '{"d90": 200, "task": "mrpc"}' > "$T/notask_exp.json"
printf '{"d90": 200}\n' > "$T/notask.json"
E="--expected $T/exp.json --report"
expect 0 "same report" $E "$T/same.json"
expect 0 "+20% within the default 0.25" $E "$T/near.json"
expect 6 "+50% outside 0.25" $E "$T/far.json"
grep -q 'check failed' "$T/err" || { echo "e2e_check: no 'check failed' in: $(cat "$T/err")"; fail=1; }
expect 0 "+50% within 0.5" $E "$T/far.json" --tolerance 0.5
expect 0 "+50% within 50%" $E "$T/far.json" --tolerance 50%
expect 6 "+50% outside 49.9%" $E "$T/far.json" --tolerance 49.9%
expect 2 "--tolerance 25 (no %)" $E "$T/same.json" --tolerance 25
grep -q "percentage" "$T/err" || { echo "e2e_check: --tolerance 25 message: $(cat "$T/err")"; fail=1; }
expect 2 "--tolerance 150%" $E "$T/same.json" --tolerance 150%
expect 2 "--tolerance -0.1" $E "$T/same.json" --tolerance -0.1
expect 3 "another task" $E "$T/task.json"
grep -q "task sst2" "$T/err" || { echo "e2e_check: task message: $(cat "$T/err")"; fail=1; }
expect 0 "another task, --ignore task" $E "$T/task.json" --ignore task
expect 3 "another method" $E "$T/method.json"
expect 3 "another threshold" $E "$T/thr.json"
expect 3 "another model" $E "$T/model.json"
expect 0 "another model, --ignore model" $E "$T/model.json" --ignore model
expect 0 "another model and task, --ignore model,task" $E "$T/model.json" --ignore model,task
expect 2 "--ignore seed" $E "$T/same.json" --ignore seed
expect 0 "expected {d90} alone compares d90 only" --expected "$T/bare.json" --report "$T/task.json"
expect 3 "expected task, report without one" --expected "$T/notask_exp.json" --report "$T/notask.json"
expect 0 "null vs null" --expected "$T/null.json" --report "$T/null2.json"
expect 6 "expected null, got 200" --expected "$T/null.json" --report "$T/same.json"
expect 6 "expected 200, got null" $E "$T/null.json"
expect 3 "missing report" $E "$T/none.json"
expect 2 "no --expected" --report "$T/same.json"
expect 2 "misspelt option" $E "$T/same.json" --tolerence 0.1
grep -q "did you mean '--tolerance'" "$T/err" || { echo "e2e_check: no suggestion: $(cat "$T/err")"; fail=1; }
[ $fail -eq 0 ] && echo "e2e_check: 28 cases"
exit $fail
