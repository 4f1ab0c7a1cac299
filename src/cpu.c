/* cpu.c - see include/cpu.h. */
#include "cpu.h"

#include <pthread.h>

static int simd_max;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    simd_max = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") ? 2
               : __builtin_cpu_supports("avx2")                                    ? 1
                                                                                    : 0;
#else
    simd_max = 0;
#endif
}

int cpu_simd_max(void)
{
    pthread_once(&probe_once, probe);
    return simd_max;
}
