#!/usr/bin/env python3
"""Plain English pretraining text from files that Debian packages install.

Reads, when given:
  --gcide FILE       dict-gcide's gcide.dict.dz (dictd format, gzip-compatible):
                     one document per entry, the definitions and quotations
                     without pronunciations, etymologies, source tags or markup.
  --wordnet DIR      wordnet-base's data.{noun,verb,adj,adv}: one document per
                     synset, "words: gloss. examples."
  --linux-doc DIR    linux-doc's Documentation tree (*.rst.gz, *.txt.gz): one
                     document per prose paragraph; code blocks, literal and
                     indented blocks, directives, headings, tables and lines that
                     look like code are dropped, inline reST markup is unwrapped.
                     translations/ (not English) and devicetree/ (YAML) are skipped.
  --task-text FILE[:COLS]
                     a task's own unlabeled TRAINING text (GLUE-style TSV): one
                     document per row, only the text columns (by header name, or
                     COLS = comma-separated names or 0-based indices). Labels are
                     never read. A file named dev*/test* is refused.

Writes into --out DIR (atomically, via temp files):
  train.txt    documents, one per line, separated by blank lines
  heldout.txt  the held-out slice (documents whose sha256 falls in the first
               --holdout-permille of the hash space), same layout
  SOURCES      what went in: files, sizes, document counts, package versions
               and licences (versions/licences are passed in by corpus.sh)

Deterministic: same input files give the same bytes. Documents are
de-duplicated on a normalised form (lower case, whitespace collapsed; the first
one in source order is kept) and then ordered by their sha256, which mixes the
sources evenly without a random generator.
Only the Python standard library is used.
"""
import argparse
import gzip
import hashlib
import os
import re
import sys

# ---------------------------------------------------------------- text utils

_WS = re.compile(r"\s+")


def squash(s):
    """Collapses every run of whitespace to one space and trims."""
    return _WS.sub(" ", s).strip()


def alpha_ratio(s):
    """Share of letters among the non-space characters."""
    chars = [c for c in s if not c.isspace()]
    if not chars:
        return 0.0
    return sum(c.isalpha() for c in chars) / len(chars)


def is_prose(s, min_words):
    """A sentence-like block: enough words, mostly letters, no code smell."""
    words = s.split()
    if len(words) < min_words or alpha_ratio(s) < 0.75:
        return False
    if re.search(r"[{};]\s*$|->|=>|==|\(\)|\w+\[\w*\]|#include|0x[0-9a-fA-F]", s):
        return False
    if sum(1 for w in words if re.search(r"[_/\\$@]", w)) > len(words) / 8:
        return False
    return True


# ---------------------------------------------------------------- GCIDE

# Accented letters are written [=e], ['e], [e^], ["u], [.a], [-o], [~n], [,c]
# and a few names (ae, oe, imac, aum, eth, ...). Everything else in square
# brackets is an etymology, a source tag ([1913 Webster], [PJC]) or a usage
# label ([Obs.], [R.]) and is dropped.
_GCIDE_NAMED = {"ae": "ae", "AE": "AE", "oe": "oe", "OE": "OE", "imac": "i",
                "aum": "a", "eth": "th", "th": "th", "ng": "ng", "asl": "a",
                "udd": "u", "oo": "oo", "deg": " degrees", "sect": "section"}
_GCIDE_ACCENT = re.compile(r"\[[=`'\"^~.,\-]?([A-Za-z]{1,2})\^?\]")


def _gcide_letters(m):
    return m.group(1)


def gcide_clean_text(s):
    """Turns GCIDE body text into plain prose (see the comment above)."""
    s = re.sub(r"\\[^\\\n]*\\", "", s)                 # pronunciations \Feel"er\
    s = re.sub(r"\[(%s)\]" % "|".join(_GCIDE_NAMED),
               lambda m: _GCIDE_NAMED[m.group(1)], s)
    s = _GCIDE_ACCENT.sub(_gcide_letters, s)
    for _ in range(3):                                # nested etymologies
        s = re.sub(r"\[[^\[\]]*\]", "", s)
    s = re.sub(r"--\s*[A-Z][^\n]*", "", s)            # --Author. citations
    s = s.replace("{", "").replace("}", "")
    s = s.replace("\"", "")                           # quote marks, stress marks
    s = re.sub(r"\s+([,.;:])", r"\1", s)
    return squash(s)


def gcide_documents(path):
    """Yields one cleaned document per GCIDE entry (dictd text, gzip)."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    entry = []
    for line in text.split("\n") + [""]:
        if line and not line[0].isspace():
            if entry:
                yield from _gcide_entry(entry)
            entry = [line]
        elif entry:
            entry.append(line)
    if entry:
        yield from _gcide_entry(entry)


def _gcide_entry(lines):
    head = lines[0]
    if head.startswith("00-") or head.startswith("Begin file"):
        return
    word = head.split("\\")[0].strip()
    if not word or not re.match(r"^[A-Za-z]", word):
        return
    body = [head[len(word):]]          # pronunciation, part of speech, etymology
    for ln in lines[1:]:
        t = ln.strip()
        if t.startswith("Syn:") or t.startswith("See also") or t.startswith("Syn."):
            continue
        body.append(t)
    text = gcide_clean_text(" ".join(body))
    text = re.sub(r"^[,\s]*((\w{1,6}\.|&)\s*)*,?\s*", "", text)   # ", v. t." part of speech
    text = re.sub(r"(^|\s)\d+\.\s", " ", text)         # sense numbers "1. "
    text = re.sub(r"(^|\s)\(\w\)\s", " ", text)        # sub-sense "(a) "
    text = squash(text)
    if is_prose(text, 4):
        yield squash(word + ": " + text)


# ---------------------------------------------------------------- WordNet

def wordnet_documents(wndir):
    """Yields 'lemma, lemma: gloss; examples' per synset of the four data files."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(wndir, "data." + pos)
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue                             # licence header
                fields, gloss = line.split(" | ", 1)
                parts = fields.split()
                n_words = int(parts[3], 16)
                words = [parts[4 + 2 * i].replace("_", " ") for i in range(n_words)]
                words = [re.sub(r"\(\w+\)$", "", w) for w in words]
                gloss = squash(gloss)
                if not gloss:
                    continue
                gloss = gloss.replace('"', "")
                if not gloss.endswith((".", "!", "?")):
                    gloss += "."
                yield squash(", ".join(words) + ": " + gloss)


# ---------------------------------------------------------------- linux-doc

_UNDERLINE = re.compile(r"^([=\-~^*#+`'\":.])\1{2,}\s*$")


def rst_inline(s):
    """Unwraps inline reST: roles, literals, links, emphasis, substitutions."""
    s = re.sub(r":[\w:+-]+:`([^`<]*?)\s*<[^`>]*>`", r"\1", s)   # :ref:`text <t>`
    s = re.sub(r":[\w:+-]+:`([^`]*)`", r"\1", s)                # :c:func:`x`
    s = re.sub(r"`([^`<]+?)\s*<[^`>]+>`__?", r"\1", s)          # `text <url>`_
    s = re.sub(r"``([^`]*)``", r"\1", s)
    s = re.sub(r"`([^`]*)`_{0,2}", r"\1", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    s = re.sub(r"\*([^*\s][^*]*)\*", r"\1", s)
    s = re.sub(r"\[#?\w*\]_", "", s)                            # footnote refs
    s = re.sub(r"\|(\w[\w -]*)\|", r"\1", s)
    s = re.sub(r"<[^<>\s]+@[^<>\s]+>", "", s)                    # e-mail
    s = re.sub(r"https?://\S+", "", s)
    s = re.sub(r"(\w)_(\s|$)", r"\1\2", s)                       # link_
    s = re.sub(r"::$", ":", s.strip())
    return squash(s)


def rst_paragraphs(text, min_words=8):
    """Yields prose paragraphs of a reST or plain-text document."""
    blocks, cur = [], []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    literal_next = False
    for b in blocks:
        first = b[0]
        indented = first[0].isspace()
        after_literal = literal_next
        literal_next = b[-1].endswith("::")
        if indented or after_literal:
            continue                                     # code, quote, directive body
        if first.startswith(".."):
            continue                                     # directive or comment
        if any(_UNDERLINE.match(ln) for ln in b):
            continue                                     # heading or simple table
        if any(ln.lstrip().startswith(("+-", "+=", "|")) for ln in b):
            continue                                     # grid table, line block
        if any(ln[:1].isspace() and len(ln) - len(ln.lstrip()) >= 8 for ln in b):
            continue                                     # mixed code
        if first.lstrip().startswith(":") and re.match(r"^:\w[^:]*:", first.strip()):
            continue                                     # field list (:Author: ...)
        lines = [re.sub(r"^\s*([-*+]|\d+[.)]|#\.)\s+", "", ln) for ln in b]
        para = rst_inline(" ".join(ln.strip() for ln in lines))
        if para.endswith(":") and not para.endswith("::"):
            para = para[:-1] + "."
        if is_prose(para, min_words) and para[-1] in ".!?":
            yield para


def linux_doc_documents(root):
    """Yields prose paragraphs of Documentation/**/*.rst.gz and *.txt.gz."""
    skip = {"translations", "devicetree", "output", "sphinx", "sphinx-static"}
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in skip)
        for n in names:
            if n.endswith((".rst.gz", ".txt.gz", ".rst", ".txt")):
                files.append(os.path.join(d, n))
    for p in sorted(files):
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8", errors="replace") as f:
            text = f.read()
        yield from rst_paragraphs(text)


# ---------------------------------------------------------------- task text

_TEXT_COLUMNS = ("sentence", "sentence1", "sentence2", "question", "question1",
                 "question2", "#1 String", "#2 String", "text", "review")
_LABEL_COLUMNS = ("label", "Quality", "gold_label", "score")


def task_documents(spec):
    """Yields one document per row of a task's TRAIN TSV: only text columns."""
    path, cols = spec, None
    if ":" in spec and not os.path.exists(spec):
        path, c = spec.rsplit(":", 1)
        cols = c.split(",")
    base = os.path.basename(path).lower()
    if base.startswith(("dev", "test")) or "_dev" in base or "_test" in base:
        raise ValueError("%s: only a task's train text may join the corpus "
                         "(dev and test text would leak into the evaluation)" % path)
    with open(path, encoding="utf-8", errors="replace") as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    if not rows:
        return
    header = rows[0]
    if cols is None:
        idx = [i for i, h in enumerate(header) if h in _TEXT_COLUMNS]
        if idx:
            rows = rows[1:]
        elif len(header) == 4 and header[1] in ("0", "1"):
            idx = [3]                                    # CoLA: no header, text last
        else:
            raise ValueError("%s: no text column found in the header (%s); name it "
                             "as FILE:COLUMN" % (path, ", ".join(header)))
    else:
        idx = []
        for c in cols:
            if c.isdigit():
                idx.append(int(c))
            elif c in header:
                idx.append(header.index(c))
            else:
                raise ValueError("%s: no column named %r" % (path, c))
        if any(header[i] in _LABEL_COLUMNS for i in idx if i < len(header)):
            raise ValueError("%s: label columns never join the corpus" % path)
        if all(not header[i].isdigit() for i in idx if i < len(header)):
            rows = rows[1:]
    for n, r in enumerate(rows, 2):
        for i in idx:
            if i >= len(r):
                raise ValueError("%s: line %d has %d fields, expected at least %d"
                                 % (path, n, len(r), i + 1))
            t = squash(r[i])
            if t:
                yield t


# ---------------------------------------------------------------- assembly

def norm_key(doc):
    return hashlib.sha256(squash(doc.lower()).encode("utf-8")).digest()


def build(sources, holdout_permille):
    """sources: list of (name, iterable of docs). Returns (train, heldout, stats)."""
    seen = set()
    keep, stats = [], []
    for name, docs in sources:
        n_in = n_dup = 0
        n_bytes = 0
        for d in docs:
            n_in += 1
            d = squash(d)
            k = norm_key(d)
            if k in seen:
                n_dup += 1
                continue
            seen.add(k)
            keep.append((hashlib.sha256(d.encode("utf-8")).digest(), d))
            n_bytes += len(d.encode("utf-8"))
        stats.append((name, n_in, n_dup, n_in - n_dup, n_bytes))
    keep.sort()
    cut = holdout_permille * 65536 // 1000
    train = [d for h, d in keep if int.from_bytes(h[:2], "big") >= cut]
    held = [d for h, d in keep if int.from_bytes(h[:2], "big") < cut]
    return train, held, stats


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def docs_bytes(docs):
    return "".join(d + "\n\n" for d in docs).encode("utf-8")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gcide")
    ap.add_argument("--wordnet")
    ap.add_argument("--linux-doc")
    ap.add_argument("--task-text", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout-permille", type=int, default=10,
                    help="held-out share in thousandths (default 10 = 1%%)")
    ap.add_argument("--meta", action="append", default=[],
                    help="a line copied into SOURCES (package versions, licences)")
    a = ap.parse_args(argv)
    if not 0 <= a.holdout_permille <= 500:
        ap.error("--holdout-permille must be between 0 and 500")
    sources = []
    if a.gcide:
        sources.append(("gcide " + a.gcide, gcide_documents(a.gcide)))
    if a.wordnet:
        sources.append(("wordnet " + a.wordnet, wordnet_documents(a.wordnet)))
    if a.linux_doc:
        sources.append(("linux-doc " + a.linux_doc, linux_doc_documents(a.linux_doc)))
    for t in a.task_text:
        sources.append(("task-text " + t, task_documents(t)))
    if not sources:
        ap.error("no source given (--gcide, --wordnet, --linux-doc, --task-text)")
    try:
        train, held, stats = build(sources, a.holdout_permille)
    except (OSError, ValueError) as e:
        print("corpus: %s" % e, file=sys.stderr)
        return 3
    if not train:
        print("corpus: no document survived cleaning", file=sys.stderr)
        return 3
    tb, hb = docs_bytes(train), docs_bytes(held)
    lines = ["# idim pretraining corpus (scripts/corpus.sh)"]
    lines += a.meta
    lines.append("# source\tdocuments_read\tduplicates_dropped\tdocuments_kept\tbytes_kept")
    for s in stats:
        lines.append("%s\t%d\t%d\t%d\t%d" % s)
    lines.append("train.txt\t%d documents\t%d bytes\tsha256 %s"
                 % (len(train), len(tb), hashlib.sha256(tb).hexdigest()))
    lines.append("heldout.txt\t%d documents\t%d bytes\tsha256 %s"
                 % (len(held), len(hb), hashlib.sha256(hb).hexdigest()))
    try:
        os.makedirs(a.out, exist_ok=True)
        write_atomic(os.path.join(a.out, "train.txt"), tb)
        write_atomic(os.path.join(a.out, "heldout.txt"), hb)
        write_atomic(os.path.join(a.out, "SOURCES"),
                     ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as e:
        print("corpus: cannot write %s: %s" % (a.out, e), file=sys.stderr)
        return 4
    print("\n".join(lines[-2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
