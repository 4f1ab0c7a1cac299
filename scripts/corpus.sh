#!/usr/bin/env bash
# Builds a plain English pretraining corpus from Debian packages:
#   dict-gcide      GCIDE (Webster 1913 + WordNet 1.5 definitions, quotations)  GPL-2+
#   wordnet-base    WordNet 3.0 glosses and examples                            WordNet 3.0 licence
#   linux-doc-X.Y   the kernel's Documentation prose (reST and text)            GPL-2
# plus, optionally, a task's own unlabeled TRAIN text (--task-text, repeatable).
# Installs the packages with apt-get when they are missing (root), extracts and
# cleans the text with scripts/corpus.py, and writes train.txt, heldout.txt and
# SOURCES into --out (default ~/.cache/idim/corpus). Same package versions give
# the same bytes; the sha256 of each file is printed and kept in SOURCES.
# docs/CORPUS.md describes the cleaning and the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${HOME:-/root}/.cache/idim/corpus"
linux_doc=""
install=1
holdout=10
task=()
usage() {
    cat <<EOF
usage: scripts/corpus.sh [--out DIR] [--task-text FILE[:COLS]]... [--linux-doc-pkg NAME]
                         [--holdout-permille N] [--no-install]
  --out DIR               output folder (default ~/.cache/idim/corpus)
  --task-text FILE[:COLS] a task's TRAIN tsv: its text columns join the corpus (never
                          labels; dev/test files are refused), e.g.
                          --task-text ../shared/data/glue/SST-2/train.tsv
  --linux-doc-pkg NAME    kernel documentation package (default: what 'linux-doc' depends on)
  --holdout-permille N    held-out share in thousandths of the documents (default 10)
  --no-install            do not run apt-get; use what is installed
exit codes: 0 ok, 2 usage, 3 a package or input file is missing or unusable, 4 output not writable
EOF
}
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --task-text) task+=(--task-text "$2"); shift 2 ;;
        --linux-doc-pkg) linux_doc="$2"; shift 2 ;;
        --holdout-permille) holdout="$2"; shift 2 ;;
        --no-install) install=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "corpus.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null || { echo "corpus.sh: python3 is needed (apt-get install python3)" >&2; exit 3; }
if [ -z "$linux_doc" ]; then
    linux_doc=$(dpkg-query -W -f='${Package}\n' 'linux-doc-[0-9]*' 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$linux_doc" ]; then
        linux_doc=$(apt-cache depends linux-doc 2>/dev/null | sed -n 's/^ *Depends: \(linux-doc-[0-9.]*\)$/\1/p' | head -1)
    fi
    [ -n "$linux_doc" ] || linux_doc=linux-doc-6.1
fi
pkgs=(dict-gcide wordnet-base "$linux_doc")
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ $install -eq 0 ]; then
        echo "corpus.sh: not installed: ${missing[*]} (drop --no-install, or apt-get install them)" >&2; exit 3
    fi
    echo "corpus.sh: installing ${missing[*]}" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2; then
        echo "corpus.sh: apt-get install ${missing[*]} failed (run 'apt-get update' first?)" >&2; exit 3
    fi
fi
meta=()
for p in "${pkgs[@]}"; do
    v=$(dpkg-query -W -f='${Version}' "$p")
    meta+=(--meta "# package $p $v, licence in /usr/share/doc/$p/copyright")
done
meta+=(--meta "# licences: GCIDE GPL-2+; WordNet 3.0 licence (Princeton, permissive); Linux Documentation GPL-2")
docdir=/usr/share/doc/$linux_doc/Documentation
[ -d "$docdir" ] || { echo "corpus.sh: $docdir is missing ($linux_doc installed?)" >&2; exit 3; }
mkdir -p "$out" 2>/dev/null || { echo "corpus.sh: cannot create $out" >&2; exit 4; }
[ -w "$out" ] || { echo "corpus.sh: $out is not writable" >&2; exit 4; }
echo "corpus.sh: extracting into $out (about a minute)" >&2
python3 "$here/corpus.py" --out "$out" --holdout-permille "$holdout" "${meta[@]}" \
    --gcide /usr/share/dictd/gcide.dict.dz --wordnet /usr/share/wordnet \
    --linux-doc "$docdir" ${task[@]+"${task[@]}"}
