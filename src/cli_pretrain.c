/* cli_pretrain.c - `idim pretrain`: masked-LM pretraining from a random
 * preset or a model file, with checkpoints, a held-out score, a JSON-lines
 * log and bit-identical resume (pretrain.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pretrain.h"

static const char *usage =
    "idim pretrain (--model FILE | --preset NAME --vocab PATH) --corpus FILE[,FILE...] "
    "--out-dir DIR [options]";

static void print_help(void)
{
    printf("usage: %s\n\n"
           "Masked-language-model pretraining as RoBERTa does it: dynamic masking of 15%% of\n"
           "the tokens (80%% mask token, 10%% random, 10%% kept; [CLS]/[SEP]/padding never),\n"
           "documents packed into --seq-len blocks ([CLS] ... [SEP], documents separated by\n"
           "[SEP]), no next-sentence task. The MLM head is Hugging Face's (decoder tied to\n"
           "the word embeddings), the softmax computed at the masked positions only. AdamW\n"
           "(betas 0.9/0.999, eps 1e-6), linear warm-up then linear decay to 0, global-norm\n"
           "clipping, weight decay on matrices only.\n\n"
           "Writes into --out-dir: step-NNNNNNN.bin checkpoints (ordinary model files holding\n"
           "the MLM head and the step; every command loads them, fine-tuning ignores the\n"
           "head), log.jsonl (one line per --log-every steps; at checkpoints the held-out\n"
           "masked-LM loss and accuracy, fixed masks), state.bin (parameters, AdamW moments,\n"
           "step). Run the same command again after Ctrl-C or a crash to resume: the run\n"
           "continues bit for bit (same --threads).\n\n"
           "options:\n"
           "  --model FILE           start from this model file (continue pretraining; its\n"
           "                         MLM head is used when it has one)\n"
           "  --preset NAME          start from a random model: tiny, mini, small, medium,\n"
           "                         base (written to DIR/init.bin by `idim init`)\n"
           "  --vocab PATH           with --preset: the tokenizer (as `idim init --vocab`)\n"
           "  --arch FAMILY          with --preset: bert (default) or roberta\n"
           "  --corpus FILE[,FILE]   plain UTF-8 text files (required)\n"
           "  --documents MODE       lines: one document per non-empty line (default);\n"
           "                         blocks: documents separated by blank lines\n"
           "  --objective NAME       mlm (the only one so far)\n"
           "  --steps N              optimizer steps (default 1000)\n"
           "  --batch N              blocks per step (default 32)\n"
           "  --seq-len N            tokens per block, specials included (default 128)\n"
           "  --lr X                 peak learning rate (default 5e-4)\n"
           "  --warmup N             warm-up steps (default 6%% of --steps)\n"
           "  --weight-decay X       AdamW decoupled decay (default 0.01)\n"
           "  --clip X               global gradient-norm clip, 0 = off (default 1.0)\n"
           "  --dropout X            hidden and attention dropout (default 0.1)\n"
           "  --mask-prob X          share of tokens selected (default 0.15)\n"
           "  --checkpoint-every N   steps between checkpoints (default 500; the last step\n"
           "                         always writes one)\n"
           "  --log-every N          steps between log lines (default 10)\n"
           "  --heldout N            held-out blocks (default 1%% of the blocks, 1..256)\n"
           "  --seed S               seed of the order, masks, dropout, init (default 0)\n"
           "  --threads N            threads (default 1); resume needs the same count for\n"
           "                         bit-identical results\n"
           "  --out-dir DIR          output folder (required; created if missing)\n"
           "  --quiet                no progress on stderr\n"
           "  -h, --help             this help\n\n"
           "example:\n"
           "  idim pretrain --preset tiny --vocab bert-base-uncased/ --corpus text.txt \\\n"
           "      --steps 2000 --batch 64 --seq-len 64 --lr 1e-3 --out-dir runs/tiny\n",
           usage);
}

enum {
    O_MODEL = 1, O_PRESET, O_VOCAB, O_ARCH, O_CORPUS, O_DOCS, O_OBJ, O_STEPS, O_BATCH, O_SEQ,
    O_LR, O_WARM, O_WD, O_CLIP, O_DROP, O_MASK, O_CKPT, O_LOG, O_HELD, O_SEED, O_THREADS,
    O_OUT, O_QUIET, O_HELP
};

struct prog {
    int tty;
};

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
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},   {"preset", required_argument, 0, O_PRESET},
        {"vocab", required_argument, 0, O_VOCAB},   {"arch", required_argument, 0, O_ARCH},
        {"corpus", required_argument, 0, O_CORPUS}, {"documents", required_argument, 0, O_DOCS},
        {"objective", required_argument, 0, O_OBJ}, {"steps", required_argument, 0, O_STEPS},
        {"batch", required_argument, 0, O_BATCH},   {"seq-len", required_argument, 0, O_SEQ},
        {"lr", required_argument, 0, O_LR},         {"warmup", required_argument, 0, O_WARM},
        {"weight-decay", required_argument, 0, O_WD}, {"clip", required_argument, 0, O_CLIP},
        {"dropout", required_argument, 0, O_DROP},  {"mask-prob", required_argument, 0, O_MASK},
        {"checkpoint-every", required_argument, 0, O_CKPT},
        {"log-every", required_argument, 0, O_LOG}, {"heldout", required_argument, 0, O_HELD},
        {"seed", required_argument, 0, O_SEED},     {"threads", required_argument, 0, O_THREADS},
        {"out-dir", required_argument, 0, O_OUT},   {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
    struct pretrain_opts o;
    pretrain_opts_default(&o);
    const char *preset = NULL, *vocab = NULL, *arch = NULL, *corpus = NULL;
    int quiet = 0, c;
    long v;
    unsigned long long seed = 0;
    enum idim_status st = IDIM_OK;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: o.model = optarg; break;
        case O_PRESET: preset = optarg; break;
        case O_VOCAB: vocab = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_CORPUS: corpus = optarg; break;
        case O_DOCS:
            if (!strcmp(optarg, "lines"))
                o.doc_lines = 1;
            else if (!strcmp(optarg, "blocks"))
                o.doc_lines = 0;
            else
                return cli_usage_error(err, "pretrain", usage, "--documents takes lines or blocks");
            break;
        case O_OBJ:
            if (strcmp(optarg, "mlm") != 0)
                return cli_usage_error(err, "pretrain", usage, "--objective takes mlm");
            break;
        case O_STEPS: st = cli_parse_long("--steps", optarg, 1, 100000000, &o.steps, err); break;
        case O_BATCH: st = cli_parse_long("--batch", optarg, 1, 65536, &o.batch, err); break;
        case O_SEQ: st = cli_parse_long("--seq-len", optarg, 4, 65536, &o.seq_len, err); break;
        case O_LR: st = cli_parse_double("--lr", optarg, 1e-12, 10.0, &o.lr, err); break;
        case O_WARM: st = cli_parse_long("--warmup", optarg, 0, 100000000, &o.warmup, err); break;
        case O_WD: st = cli_parse_double("--weight-decay", optarg, 0, 10, &o.weight_decay, err); break;
        case O_CLIP: st = cli_parse_double("--clip", optarg, 0, 1e9, &o.clip, err); break;
        case O_DROP: st = cli_parse_double("--dropout", optarg, 0, 0.9, &o.dropout, err); break;
        case O_MASK: st = cli_parse_double("--mask-prob", optarg, 0.001, 0.9, &o.mask_prob, err); break;
        case O_CKPT:
            st = cli_parse_long("--checkpoint-every", optarg, 1, 100000000, &o.checkpoint_every, err);
            break;
        case O_LOG: st = cli_parse_long("--log-every", optarg, 1, 100000000, &o.log_every, err); break;
        case O_HELD: st = cli_parse_long("--heldout", optarg, 1, 1000000, &o.heldout, err); break;
        case O_SEED: st = cli_parse_u64("--seed", optarg, &seed, err); break;
        case O_THREADS:
            st = cli_parse_long("--threads", optarg, 1, 256, &v, err);
            o.threads = (int)v;
            break;
        case O_OUT: o.out_dir = optarg; break;
        case O_QUIET: quiet = 1; break;
        case 'h':
        case O_HELP: print_help(); return IDIM_OK;
        default: return cli_bad_option(err, "pretrain", usage, argv);
        }
        if (st)
            return st;
    }
    o.seed = seed;
    if (optind < argc)
        return cli_usage_error(err, "pretrain", usage, "unexpected argument");
    if (!corpus)
        return cli_usage_error(err, "pretrain", usage, "give --corpus FILE[,FILE...]");
    if (!o.out_dir)
        return cli_usage_error(err, "pretrain", usage, "give --out-dir DIR");
    if (!!o.model == !!preset)
        return cli_usage_error(err, "pretrain", usage, "give one of --model FILE or --preset NAME");
    if (preset && !vocab)
        return cli_usage_error(err, "pretrain", usage, "--preset needs --vocab PATH");
    if (!preset && (vocab || arch))
        return cli_usage_error(err, "pretrain", usage, "--vocab and --arch go with --preset");
    char *cbuf = NULL, init_path[4096];
    const char **files = NULL;
    int n = split_list(corpus, &cbuf, &files);
    if (n < 0) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory");
        goto done;
    }
    if (n == 0) {
        st = cli_usage_error(err, "pretrain", usage, "--corpus names no file");
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
