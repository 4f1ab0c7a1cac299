#!/bin/sh
# The usual Hugging Face mistakes get a one-line hint that says what to run:
# pytorch_model.bin as --model (pt2safetensors.py, then idim convert), a
# Hugging Face folder as --model (idim convert), and a model file without a
# tokenizer (idim init --vocab / idim convert).
IDIM=${IDIM:-./idim}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
hint() { # want-substring description args...
    want=$1; what=$2; shift 2
    "$IDIM" "$@" > /dev/null 2> "$T/err"; rc=$?
    if [ $rc -ne 3 ]; then echo "e2e_hints: $what: exit $rc, expected 3"; fail=1; fi
    if ! grep -qF -- "$want" "$T/err"; then
        echo "e2e_hints: $what: no '$want' in:"; sed 's/^/    /' "$T/err"; fail=1
    elif [ "$(wc -l < "$T/err")" -ne 1 ]; then
        echo "e2e_hints: $what: the hint is not one line"; fail=1
    fi
}
# torch.save writes a zip archive: "PK\3\4" first
mkdir "$T/hf"; printf 'PK\003\004rest-of-a-zip' > "$T/hf/pytorch_model.bin"
hint "pt2safetensors.py" "pytorch_model.bin as --model" \
    predict --model "$T/hf/pytorch_model.bin" --task mrpc --data data/demo
hint "then 'idim convert --hf DIR -o model.idim'" "pytorch_model.bin (convert step)" \
    info "$T/hf/pytorch_model.bin"
hint "run 'idim convert --hf tests/fixtures/hf/bert_f32 -o model.idim'" "a Hugging Face folder as --model" \
    predict --model tests/fixtures/hf/bert_f32 --task mrpc --data data/demo
"$IDIM" init --preset tiny --vocab-size 100 -o "$T/notok.idim" > /dev/null || { echo "e2e_hints: init failed"; exit 1; }
hint "holds no tokenizer" "a model without a tokenizer (tokenize)" \
    tokenize --model "$T/notok.idim" --task mrpc --data data/demo
hint "'idim init --vocab vocab.txt" "a model without a tokenizer (predict)" \
    predict --model "$T/notok.idim" --task mrpc --data data/demo
# the pt2safetensors hint names a script that exists
"$IDIM" info "$T/hf/pytorch_model.bin" 2> "$T/err"
s=$(sed -n "s/.*run 'python3 \([^ ]*pt2safetensors.py\) DIR.*/\1/p" "$T/err")
[ -f "$s" ] || { echo "e2e_hints: the hint names '$s', which does not exist"; fail=1; }
[ $fail -eq 0 ] && echo "e2e_hints: 3 mistakes, 5 hints"
exit $fail
