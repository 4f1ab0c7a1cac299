#!/bin/sh
# e2e_pretrain.sh - `idim pretrain` end to end on a tiny corpus (600 SST-2
# train sentences from ../shared) with a tiny BERT (bert-base-uncased
# vocabulary): the held-out masked-LM loss falls between checkpoints; a
# checkpoint is an ordinary model file with the MLM head and its step; a run
# killed with -9 (and one stopped with SIGINT, exit 130) resumes to the same
# log and final checkpoint bit for bit; missing, empty, binary and non-UTF-8
# corpus files exit 3 naming the file; a state from other options is refused;
# --mlm-vocab 1000 (softmax over the most frequent tokens) learns too.
# Skips (77) without ../shared.
TEST=e2e_pretrain; . tests/shared_sst2.sh
sst2_tiny

RUN="--model $T/init.bin --corpus $T/corpus.txt --steps 40 --batch 8 --seq-len 32 --lr 2e-3 --warmup 4 --checkpoint-every 10 --log-every 5 --threads 1 --quiet"

# 1. a full run: the held-out loss falls
"$IDIM" pretrain $RUN --out-dir "$T/a" >"$T/a.out" || fail "pretrain: $(cat "$T/a.out")"
grep -q "pretrained 40 steps" "$T/a.out" || fail "no summary: $(cat "$T/a.out")"
h10=$(sed -n 's/.*"step":10,.*"heldout_loss":\([^,]*\),.*/\1/p' "$T/a/log.jsonl")
h40=$(sed -n 's/.*"step":40,.*"heldout_loss":\([^,]*\),.*/\1/p' "$T/a/log.jsonl")
[ -n "$h10" ] && [ -n "$h40" ] || fail "log lacks held-out losses: $(cat "$T/a/log.jsonl")"
awk -v a="$h10" -v b="$h40" 'BEGIN { exit !(b < a - 0.3) }' || fail "held-out loss did not fall: $h10 -> $h40"
echo "e2e_pretrain: held-out masked-LM loss $h10 (step 10) -> $h40 (step 40)"
[ "$(grep -c '"checkpoint"' "$T/a/log.jsonl")" -eq 4 ] || fail "expected 4 checkpoints"
# 2. a checkpoint is a model file with the MLM head and its step
"$IDIM" info "$T/a/step-0000040.bin" >"$T/info" || fail "info on a checkpoint"
grep -q "cls.predictions.transform.dense.weight" "$T/info" || fail "checkpoint lacks the MLM head"
grep -q "idim weights 1.1" "$T/info" || fail "checkpoint is not format 1.1"

# 3. kill -9 after the first checkpoint, then the same command: same log, same model
"$IDIM" pretrain $RUN --out-dir "$T/b" >/dev/null 2>&1 &
pid=$!
i=0
while [ ! -f "$T/b/state.bin" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$IDIM" pretrain $RUN --out-dir "$T/b" >"$T/b.out" 2>&1 || fail "resume after kill: $(cat "$T/b.out")"
cmp -s "$T/a/log.jsonl" "$T/b/log.jsonl" || { diff "$T/a/log.jsonl" "$T/b/log.jsonl"; fail "log after kill -9 and resume differs"; }
cmp -s "$T/a/step-0000040.bin" "$T/b/step-0000040.bin" || fail "final checkpoint after resume differs"
# 4. SIGINT: exit 130, state saved, resume identical
"$IDIM" pretrain $RUN --out-dir "$T/c" >/dev/null 2>"$T/c.err" &
pid=$!
i=0
while [ "$(cat "$T/c/log.jsonl" 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT $pid; wait $pid; rc=$?
if [ $rc -eq 130 ]; then
    grep -q "state saved" "$T/c.err" || fail "SIGINT: no 'state saved' message: $(cat "$T/c.err")"
else
    [ $rc -eq 0 ] || fail "SIGINT: exit $rc"
fi
"$IDIM" pretrain $RUN --out-dir "$T/c" >/dev/null 2>&1 || fail "resume after SIGINT"
cmp -s "$T/a/log.jsonl" "$T/c/log.jsonl" || fail "log after SIGINT and resume differs"
# 5. the same folder with other options is refused (exit 2)
"$IDIM" pretrain $RUN --lr 1e-3 --out-dir "$T/a" >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "a state from other options was not refused"
grep -q "other options" "$T/err" || fail "refusal message: $(cat "$T/err")"

# 6. bad corpus files: exit 3, the file named
printf 'good text\n\377\376 bad bytes\n' >"$T/bad.txt"
printf 'text\000with a nul\n' >"$T/bin.txt"
: >"$T/empty.txt"
printf '\n\n  \n' >"$T/blank.txt"
for f in bad.txt bin.txt empty.txt blank.txt missing.txt; do
    "$IDIM" pretrain --model "$T/init.bin" --corpus "$T/corpus.txt,$T/$f" --steps 2 --seq-len 32 --out-dir "$T/e" --quiet >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -eq 3 ] || fail "corpus $f: exit $rc, expected 3 ($(cat "$T/err"))"
    grep -q "$f" "$T/err" || fail "corpus $f: message does not name the file: $(cat "$T/err")"
done
"$IDIM" pretrain --model "$T/init.bin" --corpus "$T/bad.txt" --steps 2 --seq-len 32 --out-dir "$T/e" --quiet 2>"$T/err"
grep -q "invalid UTF-8 at line 2" "$T/err" || fail "non-UTF-8 message lacks the line: $(cat "$T/err")"
# 7. --mlm-vocab: the softmax over the 1,000 most frequent tokens; the loss falls
"$IDIM" pretrain $RUN --mlm-vocab 1000 --out-dir "$T/v" >"$T/v.out" 2>&1 || fail "--mlm-vocab: $(cat "$T/v.out")"
grep -q '"mlm_vocab":1000' "$T/v/log.jsonl" || fail "start line lacks mlm_vocab 1000: $(head -1 "$T/v/log.jsonl")"
v10=$(sed -n 's/.*"step":10,.*"heldout_loss":\([^,]*\),.*/\1/p' "$T/v/log.jsonl")
v40=$(sed -n 's/.*"step":40,.*"heldout_loss":\([^,]*\),.*/\1/p' "$T/v/log.jsonl")
awk -v a="$v10" -v b="$v40" 'BEGIN { exit !(b < a - 0.2 && a < 7.5) }' || fail "--mlm-vocab 1000: held-out loss $v10 -> $v40"
echo "e2e_pretrain: --mlm-vocab 1000: held-out loss (over those tokens) $v10 -> $v40"
echo "e2e_pretrain: ok"
