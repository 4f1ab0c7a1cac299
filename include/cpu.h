/* cpu.h - what vector instructions the processor has, asked once.
 *
 * Kernels with AVX2 / AVX-512 copies (src/fastfood.c, src/ops.c) pick them
 * at run time from this; each keeps its own cap for tests that force the
 * portable code. Safe to call from any thread (the CPU is probed once). */
#ifndef IDIM_CPU_H
#define IDIM_CPU_H

/* 0: neither, 1: AVX2, 2: AVX2 and AVX-512F. Always 0 on other machines. */
int cpu_simd_max(void);

#endif
