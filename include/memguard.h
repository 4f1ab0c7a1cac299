/* memguard.h - refuse work that would not fit in memory before allocating
 * it, with a message saying what it needs, what is available and which
 * option lowers it (issue 12: `--d 100000000` once met the kernel's OOM
 * killer instead of a message).
 *
 * Available memory is --max-memory (any command; main.c sets
 * memguard_limit) or the IDIM_MAX_MEMORY environment variable, else
 * MemAvailable from /proc/meminfo; with none of these nothing is refused.
 * Stage: foundation (like status.h); any stage may check before a large
 * allocation. */
#ifndef IDIM_MEMGUARD_H
#define IDIM_MEMGUARD_H

#include <stdint.h>

#include "status.h"

/* Bytes from --max-memory; 0 = not given (then IDIM_MAX_MEMORY, then
 * MemAvailable). */
extern uint64_t memguard_limit;

/* Parses a size: a whole number of bytes, or with a suffix K, M, G, T
 * (powers of 1024, optional "iB"/"B"): "8G", "512MiB", "1.5G". Returns 0
 * and *out, or -1 on anything else (or more than 2^60). */
int memguard_parse_size(const char *s, uint64_t *out);

/* The bytes available and where that figure comes from ("--max-memory",
 * "IDIM_MAX_MEMORY" or "MemAvailable in /proc/meminfo"); 0 and "none"
 * when nothing is known. MemAvailable is read once, at the first call
 * (main.c calls before the command starts), so what the command itself
 * holds when it checks (the mapped model file, the tokenized task) is
 * counted in its estimate and not taken off the figure as well. */
uint64_t memguard_available(const char **source);

/* IDIM_OK when need fits in what is available, else IDIM_ERR_NOMEM with
 * "<what> needs <need>, more than the <avail> available (<source>); <lower>". */
enum idim_status memguard_check(uint64_t need, const char *what, const char *lower,
                                struct idim_err *err);

/* One of the things a command holds at once, with the option that makes
 * it smaller. */
struct memguard_part {
    const char *what;  /* "the Fastfood projection (201 transforms)" */
    uint64_t bytes;
    const char *lower; /* "lower --d" */
};

/* memguard_check on the sum of parts (saturating): the message lists every
 * part that is not empty and suggests the largest part's `lower`:
 * "<what> needs <sum> at once (<part> <bytes>, ...), more than the <avail>
 * available (<source>); <lower>, or raise --max-memory". */
enum idim_status memguard_check_parts(const char *what, const struct memguard_part *parts,
                                      size_t n, struct idim_err *err);

#endif
