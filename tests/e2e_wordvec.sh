#!/bin/sh
# e2e_wordvec.sh - `idim pretrain --objective wordvec` end to end on 600
# SST-2 train sentences with a tiny BERT (bert-base-uncased vocabulary):
# it writes DIR/wordvec.bin, an ordinary model file that `idim info` reads
# and `idim pretrain --model` continues from; two runs and a run with 2
# threads give the same bytes; the word-embedding table changed and no other
# tensor did; a corpus with too few distinct tokens, an empty corpus and a
# --wv-vocab below the hidden size get clear errors (exit 3, 3, 2) and no
# file. Skips (77) without ../shared.
TEST=e2e_wordvec; . tests/shared_sst2.sh
sst2_tiny
WV="--objective wordvec --model $T/init.bin --corpus $T/corpus.txt --wv-power 2 --quiet"

"$IDIM" pretrain $WV --threads 1 --out-dir "$T/a" >"$T/a.out" 2>&1 || fail "wordvec: $(cat "$T/a.out")"
grep -q "word vectors for the [0-9]* most frequent" "$T/a.out" || fail "no summary: $(cat "$T/a.out")"
"$IDIM" info "$T/a/wordvec.bin" >/dev/null || fail "info cannot read wordvec.bin"
"$IDIM" pretrain $WV --threads 1 --out-dir "$T/b" >/dev/null 2>&1 || fail "second run"
cmp -s "$T/a/wordvec.bin" "$T/b/wordvec.bin" || fail "two runs differ"
"$IDIM" pretrain $WV --threads 2 --out-dir "$T/c" >/dev/null 2>&1 || fail "2 threads"
cmp -s "$T/a/wordvec.bin" "$T/c/wordvec.bin" || fail "1 and 2 threads differ"
echo "e2e_wordvec: $(sed 's/; wrote.*//' "$T/a.out"); same bytes twice and with 2 threads"
# only the word embeddings changed: compare the tensors' bytes with python3
python3 - "$T/init.bin" "$T/a/wordvec.bin" <<'PY' || fail "tensor comparison"
import struct, sys
def tensors(path):
    b = open(path, "rb").read()
    io, nt = struct.unpack_from("<Q", b, 64)[0], struct.unpack_from("<Q", b, 80)[0]
    out = {}
    for i in range(nt):
        r = io + 160 * i
        name = b[r:r + 96].rstrip(b"\0").decode()
        off, nb = struct.unpack_from("<QQ", b, r + 136)
        out[name] = b[off:off + nb]
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), "tensor names differ"
changed = [n for n in a if a[n] != b[n]]
assert changed == ["bert.embeddings.word_embeddings.weight"], changed
wa, wb = a[changed[0]], b[changed[0]]
rows = [i for i in range(len(wa) // 512) if wa[i * 512:(i + 1) * 512] != wb[i * 512:(i + 1) * 512]]
assert 128 <= len(rows) < 30522 // 2, len(rows)
print("e2e_wordvec: only the word embeddings changed, %d rows of 30522" % len(rows))
PY
# the MLM phase continues from it
"$IDIM" pretrain --model "$T/a/wordvec.bin" --corpus "$T/corpus.txt" --steps 2 --batch 4 \
    --seq-len 32 --checkpoint-every 2 --threads 1 --quiet --out-dir "$T/m" >/dev/null 2>&1 ||
    fail "pretrain --model wordvec.bin"
[ -f "$T/m/step-0000002.bin" ] || fail "no checkpoint after the MLM steps"

# errors: few distinct tokens, empty corpus, --wv-vocab below the hidden size
yes "the cat sat on the mat ." | head -200 >"$T/small.txt"
"$IDIM" pretrain --objective wordvec --model "$T/init.bin" --corpus "$T/small.txt" --quiet \
    --out-dir "$T/e1" >"$T/e1.out" 2>&1
rc=$?
[ $rc -eq 3 ] || fail "small corpus: exit $rc, expected 3: $(cat "$T/e1.out")"
grep -q "distinct tokens.*needs at least 128" "$T/e1.out" || fail "small corpus message: $(cat "$T/e1.out")"
[ ! -f "$T/e1/wordvec.bin" ] || fail "small corpus left a file"
: >"$T/empty.txt"
"$IDIM" pretrain --objective wordvec --model "$T/init.bin" --corpus "$T/empty.txt" --quiet \
    --out-dir "$T/e2" >"$T/e2.out" 2>&1
rc=$?
[ $rc -eq 3 ] || fail "empty corpus: exit $rc, expected 3: $(cat "$T/e2.out")"
grep -q "empty.txt" "$T/e2.out" || fail "empty corpus message does not name the file: $(cat "$T/e2.out")"
"$IDIM" pretrain $WV --wv-vocab 64 --out-dir "$T/e3" >"$T/e3.out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--wv-vocab 64: exit $rc, expected 2: $(cat "$T/e3.out")"
grep -q "below the hidden size 128" "$T/e3.out" || fail "--wv-vocab message: $(cat "$T/e3.out")"
echo "e2e_wordvec: ok"
