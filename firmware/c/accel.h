/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-stream encoder of the ternary accelerator, for a CPU next to it.
 *
 * Include after the generated accel_isa.h (python -m firmware.cheader), which fixes the
 * command set and the configuration. The functions append 32-bit command words to a caller's
 * buffer; none allocates. accel_layer() lowers one integer BitLinear product (activations
 * int8 M x K, ternary weights N x K, row-major) into the same words as the Python compiler
 * (firmware.compiler.compile_layer) for layers that fit the memories in one pass. */
#ifndef ACCEL_H
#define ACCEL_H

#include <stddef.h>
#include <stdint.h>

#include "accel_isa.h"

typedef struct {
    uint32_t *words;
    size_t len;
    size_t cap;
    int error;          /* sticky: ACCEL_E_* below */
} accel_stream;

enum {
    ACCEL_OK = 0,
    ACCEL_E_FULL = 1,       /* the buffer is too small */
    ACCEL_E_ARG = 2,        /* an argument out of range (a non-ternary weight, ...) */
    ACCEL_E_FIT = 3,        /* the layer needs more than one pass (or more memory) */
};

void accel_stream_init(accel_stream *s, uint32_t *buffer, size_t capacity);
uint32_t accel_header(unsigned opcode, unsigned flags);
int accel_matmul(accel_stream *s, uint32_t w_addr, uint32_t a_addr, uint32_t acc_addr,
                 uint32_t m, uint32_t k_tiles, uint32_t n_tiles, int accumulate);
int accel_drain(accel_stream *s, uint32_t addr, uint32_t count);
int accel_read_counters(accel_stream *s);
int accel_read_status(accel_stream *s);
int accel_clear(accel_stream *s, int counters, int errors);
/* LOAD_WEIGHTS of all tiles of w_t (N x K, values -1/0/+1) at weight address 0. */
int accel_load_weight_tiles(accel_stream *s, const int8_t *w_t, size_t n, size_t k);
/* LOAD_ACTS of x_q (M x K) at activation address 0. */
int accel_load_act_tiles(accel_stream *s, const int8_t *x_q, size_t m, size_t k);
/* Loads, MATMUL and DRAIN of one layer: x_q (M x K) times w_t (N x K) transposed. */
int accel_layer(accel_stream *s, const int8_t *x_q, size_t m, size_t k,
                const int8_t *w_t, size_t n);

#endif /* ACCEL_H */
