/* cli_pretrain.c - `idim pretrain`: masked-LM pretraining from a random
 * preset or a model file, with checkpoints, a held-out score, a JSON-lines
 * log and bit-identical resume (pretrain.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pretrain.h"
#include "wordvec.h"


struct prog {
    int tty;
};

/* --checkpoint-every: optimizer steps ("500" or "500steps"). A time is
 * refused: pretraining checkpoints are model files named by their step and
 * the log scores held-out text at them, so they must fall on the same steps
 * whenever the run is repeated or resumed. */
static enum idim_status opt_ckpt_every(const struct cli_opt *o, const char *arg,
                                       struct idim_err *err)
{
    struct cli_every e;
    enum idim_status st = cli_parse_every("--checkpoint-every", arg, 1, &e, err);
    if (st)
        return st;
    if (e.seconds > 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--checkpoint-every: pretrain checkpoints are counted in optimizer "
                         "steps (they are model files named by step, scored at the same steps "
                         "on every run); give e.g. 500steps, not '%s'",
                         arg);
    if (e.steps < 1 || e.steps > 100000000)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--checkpoint-every takes 1 to 100000000 steps, not '%s'", arg);
    *(long *)o->target = e.steps;
    return IDIM_OK;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, n, "%ds", (int)s);
}

static void on_progress(const struct pretrain_progress *p, void *user)
{
    const struct prog *pg = user;
    if (p->note) {
        fprintf(stderr, "%spretrain: %s\n", pg->tty ? "\r\033[K" : "", p->note);
        return;
    }
    char eta[32];
    fmt_time(eta, sizeof eta, p->eta_s);
    if (pg->tty)
        fprintf(stderr, "\r\033[Kstep %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  %s left", p->step,
                p->steps, p->loss, p->lr, p->tokens_per_s, eta);
    else
        fprintf(stderr, "step %ld/%ld loss %.4f lr %.3g tok/s %.0f left %s\n", p->step, p->steps,
                p->loss, p->lr, p->tokens_per_s, eta);
    if (p->checkpoint)
        fprintf(stderr, "%sheld-out at step %ld: loss %.4f, accuracy %.4f\n", pg->tty ? "\n" : "",
                p->step, p->heldout_loss, p->heldout_acc);
    fflush(stderr);
}

/* --corpus a,b,c -> an array of pointers into a copy (owned by *buf). */
static int split_list(const char *s, char **buf, const char ***out)
{
    *buf = strdup(s);
    int n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    *out = calloc((size_t)n, sizeof **out);
    if (!*buf || !*out)
        return -1;
    int k = 0;
    for (char *tok = strtok(*buf, ","); tok; tok = strtok(NULL, ","))
        (*out)[k++] = tok;
    return k;
}

enum idim_status cli_pretrain(int argc, char **argv, struct idim_err *err)
{
    struct pretrain_opts o;
    pretrain_opts_default(&o);
    const char *preset = NULL, *vocab = NULL, *arch = NULL, *corpus = NULL;
    const char *docs = "lines", *objective = "mlm";
    int quiet = 0;
    unsigned long long seed = o.seed;
    struct cli_opt opts[] = {
        CLI_STR(0, "model", "FILE", &o.model,
                "start from this model file (continue pretraining; its MLM head\n"
                "is used when it has one)", CLI_FILE),
        CLI_CHOICE(0, "preset", "NAME", &preset, "tiny,mini,small,medium,base",
                   "start from a random model: tiny, mini, small, medium, base\n"
                   "(written to DIR/init.bin by `idim init`)"),
        CLI_STR(0, "vocab", "PATH", &vocab, "with --preset: the tokenizer (as `idim init --vocab`)",
                CLI_FILE),
        CLI_CHOICE(0, "arch", "FAMILY", &arch, "bert,roberta",
                   "with --preset: bert (default) or roberta"),
        CLI_STR(0, "corpus", "FILE[,FILE]", &corpus, "plain UTF-8 text files",
                CLI_REQ | CLI_FILE),
        CLI_CHOICE(0, "documents", "MODE", &docs, "lines,blocks",
                   "lines: one document per non-empty line;\n"
                   "blocks: documents separated by blank lines"),
        CLI_CHOICE(0, "objective", "NAME", &objective, "mlm,wordvec",
                   "mlm: masked-LM steps; wordvec: no steps, write DIR/wordvec.bin\n"
                   "with the word embeddings set from PPMI-SVD word vectors of\n"
                   "the corpus (continue with --objective mlm --model it)"),
        CLI_LONG(0, "steps", "N", &o.steps, 1, 100000000, "optimizer steps"),
        CLI_LONG(0, "batch", "N", &o.batch, 1, 65536, "blocks per step"),
        CLI_LONG(0, "seq-len", "N", &o.seq_len, 4, 65536, "tokens per block, specials included"),
        CLI_DOUBLE(0, "lr", "X", &o.lr, 1e-12, 10.0, "peak learning rate"),
        CLI_LONG(0, "warmup", "N", &o.warmup, 0, 100000000, "warm-up steps (default 6% of --steps)"),
        CLI_DOUBLE(0, "weight-decay", "X", &o.weight_decay, 0, 10, "AdamW decoupled decay"),
        CLI_DOUBLE(0, "clip", "X", &o.clip, 0, 1e9, "global gradient-norm clip, 0 = off"),
        CLI_DOUBLE(0, "dropout", "X", &o.dropout, 0, 0.9, "hidden and attention dropout"),
        CLI_DOUBLE(0, "mask-prob", "X", &o.mask_prob, 0.001, 0.9, "share of tokens selected"),
        CLI_FN(0, "checkpoint-every", "N", opt_ckpt_every, &o.checkpoint_every,
               "optimizer steps between checkpoints, as N or Nsteps (default\n"
               "500steps; the last step always writes one)", 0),
        CLI_LONG(0, "log-every", "N", &o.log_every, 1, 100000000, "steps between log lines"),
        CLI_LONG(0, "heldout", "N", &o.heldout, 1, 1000000,
                 "held-out blocks (default 1% of the blocks, 1..256)"),
        CLI_U64(0, "seed", "S", &seed, "seed of the order, masks, dropout, init, SVD sketch"),
        CLI_INT(0, "threads", "N", &o.threads, 1, 256,
                "threads; resume needs the same count for bit-identical results"),
        CLI_LONG(0, "mlm-vocab", "K", &o.mlm_vocab, 1, 100000000,
                 "mlm: softmax over the K most frequent corpus tokens only\n"
                 "(masked rarer tokens are not scored; default: the whole\n"
                 "vocabulary); several times cheaper steps for small models"),
        CLI_LONG(0, "wv-vocab", "K", &o.wv_vocab, 1, 1000000,
                 "wordvec: vectors for the K most frequent corpus tokens (a\n"
                 "dense K x K float matrix: 16384 takes 1 GB); rarer tokens keep\n"
                 "the model's values"),
        CLI_LONG(0, "wv-window", "N", &o.wv_window, 1, 1000,
                 "wordvec: co-occurrence window, tokens on each side"),
        CLI_LONG(0, "wv-power", "N", &o.wv_power, 0, 100,
                 "wordvec: subspace iterations of the randomized SVD"),
        CLI_DOUBLE(0, "wv-std", "X", &o.wv_std, 1e-9, 10.0,
                   "wordvec: standard deviation of the vectors written; 0.0325\n"
                   "fine-tuned best on SST-2 (0.02, a random init's, did not help)"),
        CLI_STR(0, "out-dir", "DIR", &o.out_dir, "output folder (created if missing)",
                CLI_REQ | CLI_DIR),
        CLI_FLAG(0, "quiet", &quiet, "no progress on stderr"),
        CLI_END,
    };
    struct cli_cmd c = {
        "pretrain",
        "Masked-language-model pretraining as RoBERTa does it: dynamic masking of 15% of\n"
        "the tokens (80% mask token, 10% random, 10% kept; [CLS]/[SEP]/padding never),\n"
        "documents packed into --seq-len blocks ([CLS] ... [SEP], documents separated by\n"
        "[SEP]), no next-sentence task. The MLM head is Hugging Face's (decoder tied to\n"
        "the word embeddings), the softmax computed at the masked positions only. AdamW\n"
        "(betas 0.9/0.999, eps 1e-6), linear warm-up then linear decay to 0, global-norm\n"
        "clipping, weight decay on matrices only. Give --model FILE, or --preset NAME\n"
        "with --vocab PATH.\n\n"
        "Writes into --out-dir: step-NNNNNNN.bin checkpoints (ordinary model files holding\n"
        "the MLM head and the step; every command loads them, fine-tuning ignores the\n"
        "head), log.jsonl (one line per --log-every steps; at checkpoints the held-out\n"
        "masked-LM loss and accuracy, fixed masks), state.bin (parameters, AdamW moments,\n"
        "step). Run the same command again after Ctrl-C or a crash to resume: the run\n"
        "continues bit for bit (same --threads).\n\n"
        "--objective wordvec takes no steps: it writes DIR/wordvec.bin, the model with\n"
        "the word-embedding rows of the --wv-vocab most frequent corpus tokens set from\n"
        "word vectors (positive PMI of co-occurrences within --wv-window tokens, context\n"
        "smoothing 0.75, randomized truncated SVD to the hidden size, E = U sqrt(S),\n"
        "columns centred, scaled to std --wv-std); rarer tokens and every other tensor\n"
        "keep the model's values. Vectors from the task's own unlabeled train text made\n"
        "SST-2 fine-tuning better than random init (docs/PRETRAIN.md).\n",
        "  idim pretrain --preset tiny --vocab bert-base-uncased/ --corpus text.txt \\\n"
        "      --steps 2000 --batch 64 --seq-len 64 --lr 1e-3 --out-dir runs/tiny\n"
        "  idim pretrain --objective wordvec --preset tiny --vocab bert-base-uncased/ \\\n"
        "      --corpus sst2-train-text.txt --out-dir runs/wv\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    o.doc_lines = !strcmp(docs, "lines");
    o.seed = seed;
    if (!!o.model == !!preset)
        return cli_usage(err, "pretrain", "give one of --model FILE or --preset NAME");
    if (preset && !vocab)
        return cli_usage(err, "pretrain", "--preset needs --vocab PATH");
    if (!preset && (vocab || arch))
        return cli_usage(err, "pretrain", "--vocab and --arch go with --preset");
    char *cbuf = NULL, init_path[4096];
    const char **files = NULL;
    int n = split_list(corpus, &cbuf, &files);
    if (n < 0) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory");
        goto done;
    }
    if (n == 0) {
        st = cli_usage(err, "pretrain", "%s", "--corpus names no file");
        goto done;
    }
    o.corpus = files;
    o.n_corpus = n;
    if (preset) {
        /* the random start is `idim init`'s, kept beside the run */
        if (mkdir(o.out_dir, 0777) != 0 && access(o.out_dir, F_OK) != 0) {
            st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create the folder", o.out_dir);
            goto done;
        }
        snprintf(init_path, sizeof init_path, "%s/init.bin", o.out_dir);
        if (access(init_path, F_OK) != 0) {
            char sb[32];
            snprintf(sb, sizeof sb, "%llu", seed);
            char *iargv[] = {"init", "--preset", (char *)preset, "--arch",
                             (char *)(arch ? arch : "bert"), "--vocab", (char *)vocab, "--seed",
                             sb, "-o", init_path, NULL};
            int saved = optind;
            st = cli_init(11, iargv, err);
            optind = saved;
            if (st)
                goto done;
        }
        o.model = init_path;
    }
    struct prog pg = {cli_stderr_is_tty()};
    if (!quiet) {
        o.progress = on_progress;
        o.user = &pg;
    }
    if (!strcmp(objective, "wordvec")) {
        struct wordvec_result wr;
        if ((st = wordvec_run(&o, &wr, err)))
            goto done;
        printf("word vectors for the %d most frequent of %zu corpus tokens (%zu documents; "
               "%.1f%% of the tokens covered), singular values %.4g .. %.4g; wrote %s\n",
               wr.K, wr.n_tok, wr.n_docs, 100.0 * wr.coverage, wr.sv_first, wr.sv_last, wr.out);
        goto done;
    }
    struct pretrain_result r;
    st = pretrain_run(&o, &r, err);
    if (pg.tty && !quiet)
        fprintf(stderr, "\n");
    if (st)
        goto done;
    printf("pretrained %ld steps%s on %zu tokens (%zu training blocks, %zu held out): held-out "
           "masked-LM loss %.4f, accuracy %.4f; %.0f tokens/s; last checkpoint %s\n",
           r.step, r.resumed_from ? " (resumed)" : "", r.n_tok, r.n_train_blocks,
           r.n_heldout_blocks, r.heldout_loss, r.heldout_acc, r.tokens_per_s, r.last_checkpoint);
done:
    free(cbuf);
    free(files);
    return st;
}
