/* cli_init.c - `idim init`: write a randomly initialised BERT/RoBERTa model.
 *
 * Initialisation is BERT's (Devlin et al. 2019; Hugging Face
 * BertPreTrainedModel._init_weights): every 2-D tensor (embeddings and
 * linear weights) ~ normal(0, 0.02); LayerNorm weight 1, every bias 0; the
 * padding row of the word embeddings (and, for RoBERTa, of the position
 * embeddings) is zeroed, as nn.Embedding(padding_idx=...) init does.
 * Random streams (rng.h): tensor t of the ARCH_TABLE_FILE table (file order,
 * t = 0, 1, ...) draws its values in row-major order from
 * rng_init(&r, rng_key(seed, t)), each value (float)(0.02 * rng_normal(&r)).
 * The file holds the pooler (has_pooler = 1) and no classification head. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "cli.h"
#include "cli_opt.h"
#include "rng.h"
#include "tokdata.h"
#include "wfile.h"

/* Tensors are independent streams, so threads fill them in any order and
 * the file is the same for any thread count. */
struct fill_job {
    pthread_mutex_t mu;
    size_t next, nt;
    float *block;
    const struct arch_tensor *tab;
    const struct arch_config *c;
    uint64_t seed;
};

static void *fill_worker(void *arg)
{
    struct fill_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t t = j->next < j->nt && !idim_interrupted ? j->next++ : j->nt;
        pthread_mutex_unlock(&j->mu);
        if (t >= j->nt)
            return NULL;
        arch_init_tensor(j->block + j->tab[t].offset, &j->tab[t], j->c, j->seed, t);
    }
}

static void fill_all(float *block, const struct arch_tensor *tab, size_t nt,
                     const struct arch_config *c, uint64_t seed)
{
    struct fill_job j = {PTHREAD_MUTEX_INITIALIZER, 0, nt, block, tab, c, seed};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nth = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
    pthread_t th[8];
    int started = 0;
    for (int i = 1; i < nth; i++)
        if (pthread_create(&th[started], NULL, fill_worker, &j) == 0)
            started++;
    fill_worker(&j); /* this thread works too; with no helpers it does everything */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

enum idim_status cli_init(int argc, char **argv, struct idim_err *err)
{
    const char *preset = NULL, *vocab = NULL, *out = NULL, *arch = "bert";
    long vocab_size = 0, max_pos = 512, layers = 0, hidden = 0, heads = 0, ffn = 0;
    unsigned long long seed = 0;
    struct cli_opt opts[] = {
        CLI_CHOICE(0, "preset", "NAME", &preset, "tiny,mini,small,medium,base",
                   "tiny (L2 H128 A2 F512), mini (L4 H256 A4 F1024),\n"
                   "small (L4 H512 A8 F2048), medium (L8 H512 A8 F2048),\n"
                   "base (L12 H768 A12 F3072)"),
        CLI_CHOICE(0, "arch", "FAMILY", &arch, "bert,roberta",
                   "bert: pad id 0, 2 token types, LayerNorm eps 1e-12;\n"
                   "roberta: pad id 1, 1 token type, eps 1e-5, max positions + 2"),
        CLI_STR(0, "vocab", "PATH", &vocab,
                "tokenizer to store: vocab.txt (WordPiece), vocab.json (byte-level\n"
                "BPE, merges.txt beside it), tokenizer.json, or a folder of these;\n"
                "sets the vocabulary size", CLI_FILE),
        CLI_LONG(0, "vocab-size", "N", &vocab_size, 1, 1L << 24,
                 "vocabulary size; alone, the file holds no tokenizer and commands\n"
                 "that tokenize refuse it; with --vocab, N must be at least the\n"
                 "tokenizer's size (extra rows are unused)"),
        CLI_LONG(0, "max-pos", "N", &max_pos, 1, 1L << 20, "longest input in tokens"),
        CLI_U64(0, "seed", "S", &seed, "random seed; tensor t draws from rng_key(S, t)"),
        CLI_LONG(0, "layers", "N", &layers, 1, ARCH_MAX_LAYERS, "layers (default: the preset's)"),
        CLI_LONG(0, "hidden", "N", &hidden, 1, 65536, "hidden size (default: the preset's)"),
        CLI_LONG(0, "heads", "N", &heads, 1, 1024, "attention heads (default: the preset's)"),
        CLI_LONG(0, "ffn", "N", &ffn, 1, 1L << 20, "feed-forward size (default: the preset's)"),
        CLI_OUT(&out, "model file to write", CLI_REQ),
        CLI_OLD_STR("output", &out),
        CLI_END,
    };
    struct cli_cmd cmd = {
        "init",
        "Writes a randomly initialised encoder, initialised as BERT is: embeddings and\n"
        "linear weights ~ normal(0, 0.02), LayerNorm weight 1, biases 0, padding rows 0.\n"
        "The file holds the pooler and no classification head. Give --preset, or all of\n"
        "--layers --hidden --heads --ffn; and --vocab or --vocab-size.\n",
        "  idim init --preset base --vocab data/bert-base-uncased/vocab.txt -o base.idim\n"
        "  idim init --preset tiny --arch roberta --vocab roberta-base/ --seed 7 -o tiny.idim\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&cmd, argc, argv, &pos, err)) || pos < 0)
        return st;
    struct arch_config c;
    memset(&c, 0, sizeof c);
    c.family = !strcmp(arch, "roberta") ? ARCH_ROBERTA : ARCH_BERT;
    if (preset && !arch_preset(preset, &c))
        return cli_usage(err, "init", "--preset takes tiny, mini, small, medium or base");
    if (!preset && !(layers && hidden && heads && ffn))
        return cli_usage(err, "init",
                               "give --preset, or all of --layers --hidden --heads --ffn");
    if (layers) c.n_layers = (int)layers;
    if (hidden) c.hidden = (int)hidden;
    if (heads) c.n_heads = (int)heads;
    if (ffn) c.ffn = (int)ffn;
    if (c.hidden % c.n_heads)
        return cli_usage(err, "init", "--hidden must be a multiple of --heads");
    if (!vocab && !vocab_size)
        return cli_usage(err, "init", "give --vocab FILE or --vocab-size N");
    int rob = c.family == ARCH_ROBERTA;
    c.max_pos = (int)max_pos + (rob ? 2 : 0);
    c.type_vocab = rob ? 1 : 2;
    c.pad_id = rob ? 1 : 0;
    c.ln_eps = rob ? 1e-5f : 1e-12f;
    c.act = ARCH_GELU;
    c.has_pooler = 1;
    c.n_labels = 0;

    struct tokdata tok;
    memset(&tok, 0, sizeof tok);
    float *block = NULL;
    struct arch_tensor *tab = NULL;
    struct wfile_src_tensor *src = NULL;
    if (vocab) {
        if ((st = tokdata_load_hf(&tok, vocab, err)))
            goto done;
        if ((tok.kind == TOK_WORDPIECE) != (c.family == ARCH_BERT)) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "init: %s is a %s tokenizer but --arch %s needs %s", vocab,
                           tok.kind == TOK_WORDPIECE ? "WordPiece" : "byte-level BPE", arch,
                           rob ? "byte-level BPE (vocab.json + merges.txt)" : "WordPiece (vocab.txt)");
            goto done;
        }
        if (vocab_size && vocab_size < (long)tok.n_vocab) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "init: --vocab-size %ld is smaller than the %u tokens of %s", vocab_size,
                           (unsigned)tok.n_vocab, vocab);
            goto done;
        }
        c.vocab_size = vocab_size ? (int)vocab_size : (int)tok.n_vocab;
        c.pad_id = tok.pad_id;
    } else {
        c.vocab_size = (int)vocab_size;
    }
    if ((st = arch_validate(&c, "init", err))) {
        st = IDIM_ERR_USAGE;
        goto done;
    }
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, c.n_labels, NULL, 0);
    size_t np = arch_n_params(&c, ARCH_TABLE_FILE, c.n_labels);
    tab = calloc(nt, sizeof *tab);
    src = calloc(nt, sizeof *src);
    block = malloc(np * sizeof *block);
    if (!tab || !src || !block) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "init: out of memory for %zu parameters (%zu MB)", np,
                       np * 4 >> 20);
        goto done;
    }
    arch_tensors(&c, ARCH_TABLE_FILE, c.n_labels, tab, nt);
    int tty = cli_stderr_is_tty();
    if (tty)
        fprintf(stderr, "init: drawing %zu parameters\n", np);
    fill_all(block, tab, nt, &c, seed);
    if (idim_interrupted) {
        st = idim_fail(err, IDIM_ERR_INTERRUPTED, "init: interrupted; %s not written", out);
        goto done;
    }
    for (size_t t = 0; t < nt; t++) {
        src[t] = wfile_src_from_arch(&tab[t], block + tab[t].offset);
    }
    if (tty)
        fprintf(stderr, "init: writing %s\n", idim_esc(out));
    st = wfile_write(out, &c, vocab ? &tok : NULL, src, nt, err);
    if (st)
        goto done;
    printf("wrote %s: %s, %d layers, hidden %d, %d heads, ffn %d, vocab %d, max positions %d, "
           "%zu parameters, seed %llu, tokenizer %s\n",
           idim_esc(out), arch_family_name(c.family), c.n_layers, c.hidden, c.n_heads, c.ffn, c.vocab_size,
           c.max_pos, np, seed,
           vocab ? (tok.kind == TOK_WORDPIECE ? "WordPiece" : "byte-level BPE") : "none");
done:
    free(block);
    free(tab);
    free(src);
    tokdata_free(&tok);
    return st;
}
