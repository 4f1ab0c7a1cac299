#!/usr/bin/env python3
"""Generate the demo task: sentence-pair paraphrase detection in MRPC's layout.

Deterministic (fixed seed, Python stdlib only). Writes into data/demo/ (or the
folder given as the first argument):
  train.tsv, dev.tsv  header "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                      label 1 = paraphrase, 0 = different meaning
  pretrain/           train.tsv, dev.tsv of a related task (same grammar, another
                      seed) that scripts/demo.sh fine-tunes the random model on
                      first, as a stand-in for pretraining
  vocab.txt           WordPiece vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK],
                      then every word (lower case) and the punctuation used

Sentences come from a small grammar:
  [time ,] [adj] SUBJ [adv] VERB [adj] OBJ [place] .     (active)
  [time ,] [adj] OBJ was [adv] VERB-ed by [adj] SUBJ [place] .   (passive)
A paraphrase re-realises the same meaning with synonyms, the other voice and
the time phrase moved. A non-paraphrase changes the meaning first, then is
realised independently, so word overlap alone does not decide the label.

The two tasks differ on purpose (Aghajanyan et al. 2021: pretraining is what
makes the intrinsic dimension of fine-tuning small, as long as the new task
needs what the pretraining taught, not a copy of it):
  pretrain/  non-paraphrase = one side negated with "never" (40%), a different
             verb or noun, subject and object swapped, another time or place.
             A 1-layer model learns the "never" cue (dev ~0.70); the rest would
             need the sentences compared token by token.
  demo       non-paraphrase = one side gets an adverb that changes what
             happened: "never" (seen in pretraining), "nearly" or "hardly"
             (never seen: their embeddings are still random). Full fine-tuning
             reaches 1.0; a subspace must teach the new adverbs the "never"
             cue, which a random d-dimensional subspace does from d ~ 200.

usage: python3 scripts/gen_demo.py [OUTDIR] [--train N] [--dev N] [--seed S]
                                  [--no-pretrain] [--kinds adv,negate,verb,noun,swap,adj,where]
(--kinds: the edits that make the demo task's non-paraphrases, default adv;
repeated names weigh more; the pretraining task's are PRETRAIN_KINDS)
"""
import os
import random
import sys

# Each entry is a synonym set: any member may realise the meaning.
NOUNS = [
    ["cat", "kitten"], ["dog", "hound"], ["teacher", "instructor"], ["child", "kid"],
    ["doctor", "physician"], ["farmer"], ["bird"], ["horse", "pony"], ["king", "monarch"],
    ["baker"], ["pilot", "aviator"], ["nurse"], ["singer", "vocalist"], ["student", "pupil"],
    ["lawyer", "attorney"], ["sailor", "seaman"],
]
ADJS = [
    ["big", "large"], ["small", "little"], ["happy", "glad"], ["quick", "fast"],
    ["old", "elderly"], ["angry", "furious"], ["tired", "sleepy"], ["kind", "gentle"],
]
# (past tense, past participle) pairs per synonym set
VERBS = [
    [("chased", "chased"), ("pursued", "pursued")],
    [("saw", "seen"), ("noticed", "noticed")],
    [("helped", "helped"), ("assisted", "assisted")],
    [("called", "called"), ("phoned", "phoned")],
    [("met", "met"), ("encountered", "encountered")],
    [("followed", "followed"), ("tracked", "tracked")],
    [("pushed", "pushed"), ("shoved", "shoved")],
    [("thanked", "thanked")],
    [("fed", "fed")],
    [("visited", "visited")],
]
TIMES = [["yesterday"], ["today"], ["in the morning", "early in the day"],
         ["at night", "late in the evening"]]
PLACES = [["in the park"], ["at the market", "in the marketplace"],
          ["near the river", "by the river"], ["in the garden"]]


# How a non-paraphrase differs from its partner, in the pretraining task:
# "negate" (one sentence says "never") is a lexical cue a small model learns
# first; the others need the two sentences compared word by word or in order.
PRETRAIN_KINDS = ["negate", "negate", "negate", "negate", "verb", "verb", "noun", "noun", "swap",
                  "where"]
# ... and in the demo task: one side gets an adverb that changes what happened
# ("never" is the one the pretraining saw, the others are new words).
KINDS = ["adv"]
ADVERBS = ["never", "nearly", "hardly"]


def meaning(rng):
    """A meaning: indices into the tables (-1 = absent)."""
    s = rng.randrange(len(NOUNS))
    o = rng.randrange(len(NOUNS) - 1)
    o += o >= s
    return {
        "subj": s, "obj": o, "verb": rng.randrange(len(VERBS)),
        "sadj": rng.randrange(len(ADJS)) if rng.random() < 0.35 else -1,
        "oadj": rng.randrange(len(ADJS)) if rng.random() < 0.35 else -1,
        "time": rng.randrange(len(TIMES)) if rng.random() < 0.5 else -1,
        "place": rng.randrange(len(PLACES)) if rng.random() < 0.5 else -1,
    }


def other(rng, n, cur):
    v = rng.randrange(n - 1)
    return v + (v >= cur)


def change(rng, m, kinds):
    """A different meaning, one edit away (an edit drawn from kinds)."""
    m = dict(m)
    k = rng.choice(kinds)
    if k == "negate":
        m["neg"] = "never"
    elif k == "adv":
        m["neg"] = rng.choice(ADVERBS)
    elif k == "verb":
        m["verb"] = other(rng, len(VERBS), m["verb"])
    elif k == "noun":
        role = rng.choice(["subj", "obj"])
        keep = m["obj"] if role == "subj" else m["subj"]
        while True:
            v = rng.randrange(len(NOUNS))
            if v != m[role] and v != keep:
                break
        m[role] = v
    elif k == "swap":
        m["subj"], m["obj"] = m["obj"], m["subj"]
        m["sadj"], m["oadj"] = m["oadj"], m["sadj"]
        if m["sadj"] == m["oadj"] and rng.random() < 0.5:
            pass
    elif k == "adj":
        role = rng.choice(["sadj", "oadj"])
        m[role] = other(rng, len(ADJS), m[role]) if m[role] >= 0 else rng.randrange(len(ADJS))
    else:
        if m["place"] >= 0 and (m["time"] < 0 or rng.random() < 0.5):
            m["place"] = other(rng, len(PLACES), m["place"])
        elif m["time"] >= 0:
            m["time"] = other(rng, len(TIMES), m["time"])
        else:
            m["verb"] = other(rng, len(VERBS), m["verb"])
    return m


def np_(rng, noun, adj):
    words = ["the"]
    if adj >= 0:
        words.append(rng.choice(ADJS[adj]))
    words.append(rng.choice(NOUNS[noun]))
    return " ".join(words)


def realise(rng, m):
    subj = np_(rng, m["subj"], m["sadj"])
    obj = np_(rng, m["obj"], m["oadj"])
    past, part = rng.choice(VERBS[m["verb"]])
    neg = m["neg"] + " " if m.get("neg") else ""
    if rng.random() < 0.5:
        core = f"{subj} {neg}{past} {obj}"
    else:
        core = f"{obj} was {neg}{part} by {subj}"
    if m["place"] >= 0:
        core += " " + rng.choice(PLACES[m["place"]])
    if m["time"] >= 0:
        t = rng.choice(TIMES[m["time"]])
        core = f"{t} , {core}" if rng.random() < 0.5 else f"{core} {t}"
    return core + " ."


def pairs(rng, n, start_id, kinds):
    rows = []
    for i in range(n):
        m = meaning(rng)
        a = realise(rng, m)
        label = 1 if rng.random() < 0.5 else 0
        if label:
            for _ in range(20):
                b = realise(rng, m)
                if b != a:
                    break
        else:
            b = realise(rng, change(rng, m, kinds))
            if rng.random() < 0.5:
                a, b = b, a
        rows.append((label, start_id + 2 * i, start_id + 2 * i + 1, a, b))
    return rows


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
        for r in rows:
            f.write("%d\t%d\t%d\t%s\t%s\n" % r)


def vocab_words():
    words = {"the", "was", "by", ".", ","} | set(ADVERBS)
    for table in (NOUNS, ADJS, TIMES, PLACES):
        for syn in table:
            for phrase in syn:
                words.update(phrase.split())
    for syn in VERBS:
        for past, part in syn:
            words.update([past, part])
    return sorted(words)


def main(argv):
    out = "data/demo"
    n_train, n_dev, seed, pretrain = 1500, 300, 20240601, True
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--train":
            n_train = int(args.pop(0))
        elif a == "--dev":
            n_dev = int(args.pop(0))
        elif a == "--seed":
            seed = int(args.pop(0))
        elif a == "--no-pretrain":
            pretrain = False
        elif a == "--kinds":
            KINDS[:] = args.pop(0).split(",")
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            out = a
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    train = pairs(rng, n_train, 1000000, KINDS)
    dev = pairs(rng, n_dev, 2000000, KINDS)
    write_tsv(os.path.join(out, "train.tsv"), train)
    write_tsv(os.path.join(out, "dev.tsv"), dev)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for w in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + vocab_words():
            f.write(w + "\n")
    if pretrain:
        # A related task for the demo's stand-in "pretraining" (scripts/demo.sh):
        # same grammar, another seed, its own sentences, other non-paraphrase edits.
        prng = random.Random(seed + 1)
        pdir = os.path.join(out, "pretrain")
        os.makedirs(pdir, exist_ok=True)
        write_tsv(os.path.join(pdir, "train.tsv"), pairs(prng, n_train, 3000000, PRETRAIN_KINDS))
        write_tsv(os.path.join(pdir, "dev.tsv"), pairs(prng, n_dev, 4000000, PRETRAIN_KINDS))
    pos_t = sum(r[0] for r in train)
    pos_d = sum(r[0] for r in dev)
    print(f"{out}: train {len(train)} pairs ({pos_t} paraphrases), dev {len(dev)} pairs "
          f"({pos_d} paraphrases), vocab {len(vocab_words()) + 5} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
