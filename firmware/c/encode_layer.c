/* SPDX-License-Identifier: BSD-2-Clause */
/* encode_layer IN OUT: read a layer (little-endian uint32 M, K, N, then M*K int8 activations
 * and N*K int8 ternary weights, row-major), write its command words (little-endian uint32).
 * Exit status: 0 on success, else the ACCEL_E_* code (or 10 for an I/O error). */
#include <stdio.h>
#include <stdlib.h>

#include "accel.h"

static int read_u32(FILE *f, uint32_t *value) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4)
        return 0;
    *value = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

int main(int argc, char **argv) {
    uint32_t m, k, n;
    FILE *in, *out;
    if (argc != 3 || !(in = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: encode_layer IN OUT\n");
        return 10;
    }
    if (!read_u32(in, &m) || !read_u32(in, &k) || !read_u32(in, &n)) {
        fprintf(stderr, "encode_layer: truncated header\n");
        return 10;
    }
    int8_t *x = malloc((size_t)m * k), *w = malloc((size_t)n * k);
    size_t cap = 1u << 24;
    uint32_t *buffer = malloc(cap * sizeof *buffer);
    if (!x || !w || !buffer || fread(x, 1, (size_t)m * k, in) != (size_t)m * k ||
        fread(w, 1, (size_t)n * k, in) != (size_t)n * k) {
        fprintf(stderr, "encode_layer: truncated input\n");
        return 10;
    }
    fclose(in);
    accel_stream s;
    accel_stream_init(&s, buffer, cap);
    if (accel_layer(&s, x, m, k, w, n) != ACCEL_OK) {
        fprintf(stderr, "encode_layer: error %d\n", s.error);
        return s.error;
    }
    if (!(out = fopen(argv[2], "wb")))
        return 10;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char b[4] = {s.words[i] & 0xFF, s.words[i] >> 8 & 0xFF, s.words[i] >> 16 & 0xFF,
                              s.words[i] >> 24};
        fwrite(b, 1, 4, out);
    }
    fclose(out);
    return 0;
}
