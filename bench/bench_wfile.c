/* bench_wfile.c - timings of the weights file: XXH64 throughput, and
 * writing then opening (map + full validation + checksum) a file the size of
 * bert-base (109,482,240 f32 parameters, 438 MB) in $TMPDIR or /tmp.
 * Best of several runs (the machine is shared). Usage: bench_wfile [--quick]
 * (--quick: the tiny preset instead of base). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "wfile.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    struct arch_config c;
    memset(&c, 0, sizeof c);
    c.family = ARCH_BERT;
    arch_preset(quick ? "tiny" : "base", &c);
    c.vocab_size = 30522, c.max_pos = 512, c.type_vocab = 2, c.pad_id = 0;
    c.ln_eps = 1e-12f, c.act = ARCH_GELU, c.has_pooler = 1, c.n_labels = 0;
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, 0, NULL, 0);
    size_t np = arch_n_params(&c, ARCH_TABLE_FILE, 0);
    struct arch_tensor *tab = calloc(nt, sizeof *tab);
    struct wfile_src_tensor *src = calloc(nt, sizeof *src);
    float *block = malloc(np * sizeof *block);
    if (!tab || !src || !block) {
        fprintf(stderr, "bench_wfile: out of memory\n");
        return 1;
    }
    arch_tensors(&c, ARCH_TABLE_FILE, 0, tab, nt);
    for (size_t i = 0; i < np; i++)
        block[i] = (float)(i % 1000) * 1e-3f;
    for (size_t t = 0; t < nt; t++) {
        src[t] = wfile_src_from_arch(&tab[t], block + tab[t].offset);
    }
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now_ms();
        volatile uint64_t h = wfile_xxh64(block, np * 4, 0);
        (void)h;
        double dt = now_ms() - t0;
        best = dt < best ? dt : best;
    }
    printf("xxh64: %zu MB in %.1f ms = %.2f GB/s\n", np * 4 >> 20, best, np * 4 / best / 1e6);

    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/bench_wfile_%ld.bin", dir, (long)getpid());
    struct idim_err err = {{0}};
    double bw = 1e30, bo = 1e30;
    for (int r = 0; r < (quick ? 5 : 2); r++) {
        double t0 = now_ms();
        if (wfile_write(path, &c, NULL, src, nt, &err)) {
            fprintf(stderr, "bench_wfile: %s\n", err.msg);
            return 1;
        }
        double t1 = now_ms();
        struct wfile w;
        if (wfile_open(&w, path, &err)) {
            fprintf(stderr, "bench_wfile: %s\n", err.msg);
            unlink(path);
            return 1;
        }
        double t2 = now_ms();
        wfile_free(&w);
        bw = t1 - t0 < bw ? t1 - t0 : bw;
        bo = t2 - t1 < bo ? t2 - t1 : bo;
    }
    unlink(path);
    printf("%s model, %zu parameters (%zu MB): wfile_write %.0f ms, wfile_open (map, validate, "
           "verify checksum) %.0f ms\n",
           quick ? "tiny" : "base", np, np * 4 >> 20, bw, bo);
    free(tab);
    free(src);
    free(block);
    return 0;
}
