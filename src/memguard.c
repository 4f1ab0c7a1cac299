/* memguard.c - memory estimates checked against what is available (see
 * include/memguard.h). */
#include "memguard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t memguard_limit = 0;

int memguard_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0, end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024, end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && *end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    v *= mul;
    if (!(v >= 1) || v > 1152921504606846976.0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

uint64_t memguard_available(const char **source)
{
    if (memguard_limit) {
        *source = "--max-memory";
        return memguard_limit;
    }
    uint64_t v;
    const char *env = getenv("IDIM_MAX_MEMORY");
    if (env && memguard_parse_size(env, &v) == 0) {
        *source = "IDIM_MAX_MEMORY";
        return v;
    }
    static uint64_t snap; /* MemAvailable at the first call (see memguard.h) */
    if (snap) {
        *source = "MemAvailable in /proc/meminfo";
        return snap;
    }
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            found = 1;
            break;
        }
    if (f)
        fclose(f);
    if (!found) {
        *source = "none";
        return 0;
    }
    *source = "MemAvailable in /proc/meminfo";
    snap = (uint64_t)kb * 1024;
    return snap;
}

static void human(char *buf, size_t cap, uint64_t b)
{
    static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 6)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, cap, "%llu bytes", (unsigned long long)b);
    else
        snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

enum idim_status memguard_check(uint64_t need, const char *what, const char *lower,
                                struct idim_err *err)
{
    const char *source;
    uint64_t avail = memguard_available(&source);
    if (avail == 0 || need <= avail)
        return IDIM_OK;
    char n[32], a[32];
    human(n, sizeof n, need);
    human(a, sizeof a, avail);
    return idim_fail(err, IDIM_ERR_NOMEM, "%s needs %s, more than the %s available (%s); %s",
                     what, n, a, source, lower);
}

enum idim_status memguard_check_parts(const char *what, const struct memguard_part *parts,
                                      size_t n, struct idim_err *err)
{
    uint64_t sum = 0;
    size_t big = 0;
    for (size_t i = 0; i < n; i++) {
        sum = parts[i].bytes > UINT64_MAX - sum ? UINT64_MAX : sum + parts[i].bytes;
        if (parts[i].bytes > parts[big].bytes)
            big = i;
    }
    const char *source;
    uint64_t avail = memguard_available(&source);
    if (avail == 0 || sum <= avail)
        return IDIM_OK;
    char list[400] = "", h[32], s[32], a[32];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof list; i++) {
        if (!parts[i].bytes)
            continue;
        human(h, sizeof h, parts[i].bytes);
        int k = snprintf(list + o, sizeof list - o, "%s%s %s", o ? ", " : "", parts[i].what, h);
        o += k > 0 ? (size_t)k : 0;
    }
    human(s, sizeof s, sum);
    human(a, sizeof a, avail);
    return idim_fail(err, IDIM_ERR_NOMEM,
                     "%s needs %s at once (%s), more than the %s available (%s); %s, or raise "
                     "--max-memory",
                     what, s, list, a, source, parts[big].lower);
}
