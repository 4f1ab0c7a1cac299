/* cli_convert.c - `idim convert --hf DIR -o model.idim`.
 *
 * Parses options, runs convert_hf (src/convert.c) and prints what was kept
 * (the encoder, pooler, classification head) and what was dropped, with
 * the reason, to stdout. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_opt.h"
#include "convert.h"

enum idim_status cli_convert(int argc, char **argv, struct idim_err *err)
{
    const char *dir = NULL, *out = NULL;
    int verbose = 0;
    struct cli_opt opts[] = {
        CLI_STR(0, "hf", "DIR", &dir, "Hugging Face model folder", CLI_REQ | CLI_DIR),
        CLI_OUT(&out, "model file to write; written to a temporary file and renamed,\n"
                      "so a failed conversion leaves no file", CLI_REQ),
        CLI_OLD_STR("output", &out),
        CLI_FLAG('v', "verbose", &verbose,
                 "list every kept tensor with its checkpoint name and dtype"),
        CLI_END,
    };
    struct cli_cmd cmd = {
        "convert",
        "The folder holds config.json (model_type bert, roberta, xlm-roberta or electra),\n"
        "model.safetensors (or model.safetensors.index.json and its shards; F32, F16 or\n"
        "BF16, widened to f32 exactly) and the tokenizer files (tokenizer.json, or\n"
        "vocab.txt for WordPiece, or vocab.json + merges.txt for byte-level BPE). The\n"
        "pooler and a sequence-classification head are kept; pretraining heads (cls.*,\n"
        "lm_head.*) are dropped. Both are reported. A folder with only\n"
        "pytorch_model.bin needs scripts/pt2safetensors.py DIR first (needs torch).\n",
        "  idim convert --hf ~/models/bert-base-uncased -o bert-base.idim\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&cmd, argc, argv, &pos, err)) || pos < 0)
        return st;
    struct convert_report rep;
    if (cli_stderr_is_tty())
        fprintf(stderr, "convert: reading %s\n", idim_esc(dir));
    st = convert_hf(dir, out, &rep, err);
    if (st) {
        convert_report_free(&rep);
        return st;
    }
    const struct arch_config *c = &rep.cfg;
    /* names and types below come from the folder's files: escaped */
    printf("wrote %s from %s (model_type %s, %d safetensors file%s)\n", idim_esc(out),
           idim_esc(dir), idim_esc(rep.model_type),
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
            printf("  kept    %-60s <- %s (%s)\n", rep.kept[i].dst, idim_esc(rep.kept[i].src),
                   idim_esc(rep.kept[i].dtype));
    for (size_t i = 0; i < rep.n_dropped; i++)
        printf("  dropped %s (%s): %s\n", idim_esc(rep.dropped[i].src),
               idim_esc(rep.dropped[i].dtype), idim_esc(rep.dropped[i].reason));
    if (rep.note[0])
        printf("note: %s\n", idim_esc(rep.note));
    convert_report_free(&rep);
    return IDIM_OK;
}
