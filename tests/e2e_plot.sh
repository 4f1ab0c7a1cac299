#!/bin/sh
# `idim plot` with three inputs of the three kinds (a measure report, a sweep
# CSV that keeps its baseline, JSON lines of `idim train` runs as
# scripts/sweep-d.sh writes them) draws three labelled series, each with its
# baseline, 90% line and d90; one input keeps the single-series look; bad
# inputs are refused without leaving a file.
IDIM=${IDIM:-./idim}
T=${KEEP:-$(mktemp -d)}; [ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
fail=0
say() { echo "e2e_plot: $*"; fail=1; }
cat > "$T/a.json" <<'J'
{"command":"measure","task":"mrpc","method":"said","metric":"accuracy","threshold":0.9,
 "d90":200,"baseline":{"value":0.8,"source":"given","trials":[]},
 "probes":[{"d":10,"lr":0.003,"metric":0.6,"epochs":3,"seconds":1,"diverged":false,"majority_only":true,"met":false,"resumed":false,"proj_seed":1},
           {"d":100,"lr":0.003,"metric":0.7,"epochs":3,"seconds":1,"diverged":false,"majority_only":false,"met":false,"resumed":false,"proj_seed":1},
           {"d":200,"lr":0.003,"metric":0.75,"epochs":3,"seconds":1,"diverged":false,"majority_only":false,"met":true,"resumed":false,"proj_seed":1},
           {"d":1000,"lr":0.003,"metric":0.79,"epochs":3,"seconds":1,"diverged":false,"majority_only":false,"met":true,"resumed":false,"proj_seed":1}]}
J
{ echo "d,lr,metric,metric_name,epochs,seconds,diverged,majority_only,proj_seed,baseline"
  echo "10,0.003,0.55,accuracy,3,1.0,0,0,1,0.82"
  echo "100,0.003,0.66,accuracy,3,1.0,0,0,1,0.82"
  echo "1000,0.003,0.76,accuracy,3,1.0,0,0,1,0.82"
  echo "10000,0.003,0.8,accuracy,3,1.0,0,0,1,0.82"; } > "$T/b.csv"
for dm in 30:0.6 300:0.7 3000:0.78; do
    printf '{"task":"mrpc","method":"did","metric":"accuracy","d":%s,"lr":0.003,"best":%s,"epochs":3,"seconds":1,"diverged":false,"majority_only":false,"proj_seed":1}\n' \
        "${dm%%:*}" "${dm#*:}"
done > "$T/c.jsonl"
"$IDIM" plot --in "$T/a.json" --in "$T/b.csv" --in "$T/c.jsonl" --label "SAID (report)" \
    --baseline 0.8 --title "three inputs" -o "$T/p.svg" 2> "$T/err" || say "plot of three inputs: $(cat "$T/err")"
[ "$(grep -c 'class="series"' "$T/p.svg")" -eq 3 ] || say "expected 3 series"
[ "$(grep -c 'class="series-label"' "$T/p.svg")" -eq 3 ] || say "expected 3 legend labels"
[ "$(grep -c 'class="threshold"' "$T/p.svg")" -eq 3 ] || say "expected 3 90% lines"
[ "$(grep -c 'class="baseline"' "$T/p.svg")" -eq 3 ] || say "expected 3 baselines"
[ "$(grep -c 'class="d90"' "$T/p.svg")" -eq 3 ] || say "expected 3 d90 marks"
[ "$(grep -c '<title>d=' "$T/p.svg")" -eq 11 ] || say "expected 4+4+3 points"
for want in 'SAID (report): baseline 0.8000' 'd90 = 200' 'b.csv: baseline 0.8200, 90% line 0.7380, d90 = 1000' \
    'mrpc did: baseline 0.8000, 90% line 0.7200, d90 = 3000' 'dev accuracy' '>10000</text>'; do
    grep -qF "$want" "$T/p.svg" || say "SVG lacks '$want'"
done
python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" "$T/p.svg" 2>/dev/null \
    || { command -v python3 >/dev/null && say "the SVG is not well-formed XML"; }
# one input: the single-series look with values on the lines
"$IDIM" plot --in "$T/a.json" -o "$T/one.svg" || say "plot of one report failed"
grep -qF '90% of baseline = 0.7200' "$T/one.svg" || say "one series: no labelled 90% line"
grep -qF 'd90 = 200' "$T/one.svg" || say "one series: no d90"
# refusals
"$IDIM" plot --in "$T/a.json" --in "$T/b.csv" --d90 5 -o "$T/x.svg" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || say "--d90 with two inputs: exit $rc, expected 2"
echo '{"d": "x"}' > "$T/bad.jsonl"; echo '{"d": 1, "best": 0.5}' >> "$T/bad.jsonl"
"$IDIM" plot --in "$T/bad.jsonl" -o "$T/x.svg" 2> "$T/err"; rc=$?
[ $rc -eq 3 ] || say "bad JSON lines: exit $rc, expected 3"
grep -q 'bad.jsonl: line 1' "$T/err" || say "bad JSON lines message: $(cat "$T/err")"
[ -e "$T/x.svg" ] && say "a refused plot left a file"
[ $fail -eq 0 ] && echo "e2e_plot: three inputs, three series"
exit $fail
