/* cli_convert.c - `idim convert --hf DIR -o model.bin`.
 *
 * Parses options, runs convert_hf (src/convert.c) and prints what was kept
 * (the encoder, pooler, classification head) and what was dropped, with
 * the reason, to stdout. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "convert.h"

static const char *usage = "idim convert --hf DIR -o model.bin [--verbose]";

static void print_help(void)
{
    printf("usage: %s\n\n"
           "Converts a Hugging Face model folder to an idim model file. The folder holds\n"
           "config.json (model_type bert, roberta, xlm-roberta or electra), model.safetensors\n"
           "(or model.safetensors.index.json and its shards; F32, F16 or BF16, widened to f32\n"
           "exactly) and the tokenizer files (tokenizer.json, or vocab.txt for WordPiece, or\n"
           "vocab.json + merges.txt for byte-level BPE). The pooler and a sequence-\n"
           "classification head are kept; pretraining heads (cls.*, lm_head.*) are dropped.\n"
           "Both are reported. A folder with only pytorch_model.bin: first run\n"
           "  /usr/bin/python3 scripts/pt2safetensors.py DIR    (needs torch)\n\n"
           "options:\n"
           "  --hf DIR          Hugging Face model folder (required)\n"
           "  -o, --output FILE model file to write (required); written to a temporary\n"
           "                    file and renamed, so a failed conversion leaves no file\n"
           "  -v, --verbose     list every kept tensor with its checkpoint name and dtype\n"
           "  -h, --help        this help\n\n"
           "example:\n"
           "  idim convert --hf ~/models/bert-base-uncased -o bert-base.bin\n",
           usage);
}

enum idim_status cli_convert(int argc, char **argv, struct idim_err *err)
{
    static const struct option opts[] = {{"hf", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *out = NULL;
    int verbose = 0;
    optind = 0;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'v': verbose = 1; break;
        case 'h': print_help(); return IDIM_OK;
        default: return cli_bad_option(err, "convert", usage, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, "convert", usage, "unexpected argument");
    if (!dir)
        return cli_usage_error(err, "convert", usage, "--hf DIR is required");
    if (!out)
        return cli_usage_error(err, "convert", usage, "-o FILE is required");
    struct convert_report rep;
    if (cli_stderr_is_tty())
        fprintf(stderr, "convert: reading %s\n", dir);
    enum idim_status st = convert_hf(dir, out, &rep, err);
    if (st) {
        convert_report_free(&rep);
        return st;
    }
    const struct arch_config *c = &rep.cfg;
    printf("wrote %s from %s (model_type %s, %d safetensors file%s)\n", out, dir, rep.model_type,
           rep.n_shards, rep.n_shards == 1 ? "" : "s");
    printf("architecture: %s, %d layers, hidden %d, %d heads, ffn %d, vocab %d, max positions %d\n",
           arch_family_name(c->family), c->n_layers, c->hidden, c->n_heads, c->ffn, c->vocab_size,
           c->max_pos);
    printf("kept %zu tensors, %zu parameters; pooler: %s; classification head: ", rep.n_kept,
           rep.n_params, c->has_pooler ? "kept" : "none");
    if (c->n_labels)
        printf("kept (%d %s)\n", c->n_labels, c->n_labels == 1 ? "output" : "labels");
    else
        printf("none\n");
    if (verbose)
        for (size_t i = 0; i < rep.n_kept; i++)
            printf("  kept    %-60s <- %s (%s)\n", rep.kept[i].dst, rep.kept[i].src,
                   rep.kept[i].dtype);
    for (size_t i = 0; i < rep.n_dropped; i++)
        printf("  dropped %s (%s): %s\n", rep.dropped[i].src, rep.dropped[i].dtype,
               rep.dropped[i].reason);
    if (rep.note[0])
        printf("note: %s\n", rep.note);
    convert_report_free(&rep);
    return IDIM_OK;
}
