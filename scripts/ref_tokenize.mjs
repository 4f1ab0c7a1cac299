// ref_tokenize.mjs - reference token ids for idim's tokenizer tests.
//
// Encodes texts with the npm package @huggingface/transformers (a port of
// Hugging Face's tokenizers), offline, from a tokenizer.json folder, and
// prints one line of space-separated ids per example, special tokens
// included. Truncation is done HERE, not by the package (its own truncation
// drops the final separator): each text is tokenized without special
// tokens, the pair is truncated "longest first" exactly as the Rust
// tokenizers crate does (utils/truncation.rs, truncate_encodings), then the
// special tokens are added. As a self-check, every untruncated result is
// compared with the package's own encoding with special tokens.
//
// Setup (once):   cd scripts/ref && npm ci --ignore-scripts
// Usage:
//   node scripts/ref_tokenize.mjs --model DIR --tsv FILE --cols 3,4 [--no-header] --max-length 128
//   node scripts/ref_tokenize.mjs --model DIR --lines FILE --max-length 128
// --tsv: GLUE-style file, split on tabs only, BOM stripped, CRLF tolerated.
// --lines: one text per line (raw bytes; invalid UTF-8 becomes U+FFFD, as
//   Python's bytes.decode(errors="replace") and Node's decoder both do);
//   a line holding a tab is a pair "a<TAB>b".
// Regenerate the fixtures: sh scripts/make_tok_fixtures.sh
import fs from 'fs';
import { createRequire } from 'module';
import path from 'path';
import url from 'url';

const here = path.dirname(url.fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'ref', 'package.json'));
const tf = await import(url.pathToFileURL(require.resolve('@huggingface/transformers')).href);
tf.env.allowRemoteModels = false;

function arg(name, def) {
    const i = process.argv.indexOf(name);
    if (i < 0) return def;
    return process.argv[i + 1];
}
const model = arg('--model');
const maxLen = parseInt(arg('--max-length', '128'), 10);
const tsv = arg('--tsv');
const lines = arg('--lines');
const cols = (arg('--cols', '0') || '0').split(',').map((x) => parseInt(x, 10));
const header = !process.argv.includes('--no-header');
if (!model || (!tsv && !lines)) {
    console.error('usage: ref_tokenize.mjs --model DIR (--tsv FILE --cols A[,B] [--no-header] | --lines FILE) [--max-length N]');
    process.exit(2);
}

const tjson = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer.json'), 'utf8'));
let tcfg = {};
if (fs.existsSync(path.join(model, 'tokenizer_config.json')))
    tcfg = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer_config.json'), 'utf8'));
const tk = new tf.PreTrainedTokenizer(tjson, tcfg);

const isBert = tjson.model.type === 'WordPiece' || tjson.model.continuing_subword_prefix === '##';
const vocab = tjson.model.vocab;
const cls = isBert ? vocab['[CLS]'] : vocab['<s>'];
const sep = isBert ? vocab['[SEP]'] : vocab['</s>'];

// Decodes bytes as UTF-8, each invalid sequence -> U+FFFD (WHATWG = Python "replace").
const dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function readRows() {
    const rows = [];
    if (tsv) {
        let text = dec.decode(fs.readFileSync(tsv));
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        let ls = text.split('\n');
        if (ls.length && ls[ls.length - 1] === '') ls.pop();
        ls = ls.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
        if (header) ls.shift();
        for (const l of ls) {
            const f = l.split('\t');
            rows.push([f[cols[0]], cols.length > 1 ? f[cols[1]] : null]);
        }
    } else {
        const buf = fs.readFileSync(lines);
        const parts = [];
        let start = 0;
        for (let i = 0; i <= buf.length; i++) {
            if (i === buf.length || buf[i] === 0x0a) {
                if (i > start || i < buf.length) parts.push(buf.subarray(start, i));
                start = i + 1;
            }
        }
        for (const p of parts) {
            const t = dec.decode(p);
            const tab = t.indexOf('\t');
            rows.push(tab < 0 ? [t, null] : [t.slice(0, tab), t.slice(tab + 1)]);
        }
    }
    return rows;
}

// The Rust tokenizers crate's LongestFirst split (truncate_encodings).
function truncLengths(l1, l2, m) {
    if (l1 + l2 <= m) return [l1, l2];
    if (m === 0) return [0, 0];
    let n1 = l1, n2 = l2, swap = false;
    if (n1 > n2) { swap = true; [n1, n2] = [n2, n1]; }
    if (n1 > m) n2 = n1; else n2 = Math.max(n1, m - n1);
    if (n1 + n2 > m) { n1 = Math.floor(m / 2); n2 = n1 + (m % 2); }
    if (swap) [n1, n2] = [n2, n1];
    return [n1, n2];
}

function assemble(a, b) {
    if (b === null) return [cls, ...a, sep];
    if (isBert) return [cls, ...a, sep, ...b, sep];
    return [cls, ...a, sep, sep, ...b, sep];
}

const out = [];
for (const [ta, tb] of readRows()) {
    const a = tk.encode(ta ?? '', { add_special_tokens: false });
    const b = tb === null ? null : tk.encode(tb, { add_special_tokens: false });
    // (the package treats an empty text_pair as no pair: skip the check there)
    const full = tb === null ? tk.encode(ta ?? '') : tk.encode(ta ?? '', { text_pair: tb });
    const mine = assemble(a, b);
    if (tb !== '' && full.join(' ') !== mine.join(' ')) {
        console.error('self-check failed: special-token layout differs for', JSON.stringify([ta, tb]));
        process.exit(1);
    }
    let ids;
    if (b === null) {
        const m = Math.max(0, maxLen - 2);
        ids = assemble(a.slice(0, m), null);
    } else {
        const m = Math.max(0, maxLen - (isBert ? 3 : 4));
        const [n1, n2] = truncLengths(a.length, b.length, m);
        ids = assemble(a.slice(0, n1), b.slice(0, n2));
    }
    out.push(ids.join(' '));
}
process.stdout.write(out.join('\n') + '\n');
