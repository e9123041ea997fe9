/* SPDX-License-Identifier: BSD-2-Clause */
/* Example of the C driver (accel.h) on a host, one layer at a time, through files.
 *
 *   encode_layer LAYER WORDS             the layer's command words
 *   encode_layer -d LAYER RESPONSE OUT   its response -> the M x N result
 *   encode_layer -q TOKEN WORDS          resynchronization with TOKEN, then READ_STATUS
 *   encode_layer -s TOKEN RESPONSE       the READ_STATUS after SYNC(TOKEN): print and check it
 *   encode_layer -p W_ADDR TILES WORDS   PREFETCH of TILES tiles at byte W_ADDR
 *
 * LAYER: little-endian uint32 M, K, N, then M*K int16 activations (little-endian) and N*K
 * int8 ternary weights, row-major. WORDS, RESPONSE: little-endian uint32 stream words. OUT:
 * M*N little-endian int32, row-major. TOKEN: a decimal or 0x-prefixed number.
 * Exit status: 0 on success, else the ACCEL_E_* code (10 for a usage or I/O error); the
 * device's error flags and a mismatching configuration field are named on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "accel.h"

#define E_IO 10

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int read_u32(FILE *f, uint32_t *value) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4)
        return 0;
    *value = le32(b);
    return 1;
}

/* The whole file as stream words (malloc'ed), or NULL. */
static uint32_t *read_words(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint32_t *words = NULL, word;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    while (read_u32(f, &word)) {
        if (n == cap) {
            uint32_t *more = realloc(words, (cap = cap ? 2 * cap : 1024) * sizeof *words);
            if (!more) {
                free(words);
                fclose(f);
                return NULL;
            }
            words = more;
        }
        words[n++] = word;
    }
    fclose(f);
    *len = n;
    return words ? words : malloc(sizeof *words);
}

static int write_words(const char *path, const uint32_t *words, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return E_IO;
    for (size_t i = 0; i < len; i++) {
        unsigned char b[4] = {words[i] & 0xFFu, words[i] >> 8 & 0xFFu, words[i] >> 16 & 0xFFu,
                              words[i] >> 24};
        fwrite(b, 1, 4, f);
    }
    return fclose(f) ? E_IO : 0;
}

typedef struct {
    uint32_t m, k, n;
    accel_act_t *x;
    int8_t *w;
} layer;

static int read_layer(const char *path, layer *l) {
    FILE *f = fopen(path, "rb");
    unsigned char b[2];
    if (!f || !read_u32(f, &l->m) || !read_u32(f, &l->k) || !read_u32(f, &l->n)) {
        fprintf(stderr, "encode_layer: cannot read the layer's shape from %s\n", path);
        return E_IO;
    }
    l->x = malloc(((size_t)l->m * l->k + 1) * sizeof *l->x);
    l->w = malloc((size_t)l->n * l->k + 1);
    if (!l->x || !l->w)
        return E_IO;
    for (size_t i = 0; i < (size_t)l->m * l->k; i++) {
        if (fread(b, 1, 2, f) != 2)
            return E_IO;
        l->x[i] = (accel_act_t)(int16_t)(uint16_t)(b[0] | b[1] << 8);
    }
    if (fread(l->w, 1, (size_t)l->n * l->k, f) != (size_t)l->n * l->k) {
        fprintf(stderr, "encode_layer: %s is truncated\n", path);
        return E_IO;
    }
    fclose(f);
    return 0;
}

static void report_flags(uint32_t errors) {
    const char *names[ACCEL_ERROR_BITS];
    size_t n = accel_error_names(errors, names, ACCEL_ERROR_BITS);
    fprintf(stderr, "encode_layer: the device reports errors:");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", names[i]);
    fprintf(stderr, "\n");
}

static int encode(const char *in, const char *out) {
    layer l;
    accel_plan plan;
    int error = read_layer(in, &l);
    if (error)
        return error;
    if ((error = accel_plan_layer(&plan, l.m, l.k, l.n)) != ACCEL_OK) {
        fprintf(stderr, "encode_layer: error %d\n", error);
        return error;
    }
    size_t cap = 1u << 24;
    uint32_t *buffer = malloc(cap * sizeof *buffer);
    accel_stream s;
    if (!buffer)
        return E_IO;
    accel_stream_init(&s, buffer, cap);
    if (accel_layer(&s, l.x, l.m, l.k, l.w, l.n) != ACCEL_OK) {
        fprintf(stderr, "encode_layer: error %d\n", s.error);
        return s.error;
    }
    return write_words(out, s.words, s.len);
}

static int decode(const char *in, const char *resp, const char *out) {
    layer l;
    accel_plan plan;
    size_t len;
    uint32_t *words, errors = 0;
    int error = read_layer(in, &l);
    if (error)
        return error;
    if ((error = accel_plan_layer(&plan, l.m, l.k, l.n)) != ACCEL_OK)
        return error;
    int32_t *result = malloc(((size_t)l.m * l.n + 1) * sizeof *result);
    if (!result || !(words = read_words(resp, &len)))
        return E_IO;
    error = accel_decode_layer(&plan, words, len, result, &errors);
    if (error == ACCEL_E_DEVICE)
        report_flags(errors);
    if (error) {
        fprintf(stderr, "encode_layer: cannot decode the response: error %d\n", error);
        return error;
    }
    return write_words(out, (const uint32_t *)result, (size_t)l.m * l.n) ? E_IO : 0;
}

static int query(uint32_t token, const char *out) {
    static uint32_t buffer[ACCEL_MAX_COMMAND_WORDS + 16];
    accel_stream s;
    accel_stream_init(&s, buffer, sizeof buffer / sizeof *buffer);
    accel_resync(&s, token);
    if (accel_read_status(&s) != ACCEL_OK)
        return s.error;
    return write_words(out, s.words, s.len);
}

static int prefetch(uint32_t w_addr, uint32_t tiles, const char *out) {
    uint32_t buffer[ACCEL_ARGS_PREFETCH + 2];
    accel_stream s;
    accel_stream_init(&s, buffer, sizeof buffer / sizeof *buffer);
    if (accel_prefetch(&s, w_addr, tiles) != ACCEL_OK)
        return s.error;
    return write_words(out, s.words, s.len);
}

static int status(uint32_t token, const char *resp) {
    size_t len, next;
    uint32_t *words = read_words(resp, &len);
    accel_status st;
    const char *field = NULL;
    if (!words)
        return E_IO;
    int error = accel_find_sync(words, len, token, &next);
    if (error) {
        fprintf(stderr, "encode_layer: no SYNC response with token %#x\n", (unsigned)token);
        return error;
    }
    if ((error = accel_parse_status(words + next, len - next, &st)) != ACCEL_OK) {
        fprintf(stderr, "encode_layer: cannot parse the status response: error %d\n", error);
        return error;
    }
#define PRINT(name, index, value) printf("%s %lu\n", #name, (unsigned long)st.name);
    printf("errors %lu\n", (unsigned long)st.errors);
    ACCEL_STATUS_EXPECTED(PRINT)
#undef PRINT
    if (st.errors)
        report_flags(st.errors);
    if ((error = accel_check_status(&st, &field)) != ACCEL_OK)
        fprintf(stderr, "encode_layer: the device differs from accel_isa.h in %s\n", field);
    return error;
}

int main(int argc, char **argv) {
    if (argc == 3 && argv[1][0] != '-')
        return encode(argv[1], argv[2]);
    if (argc == 5 && argv[1][0] == '-' && argv[1][1] == 'd')
        return decode(argv[2], argv[3], argv[4]);
    if (argc == 4 && argv[1][0] == '-' && argv[1][1] == 'q')
        return query((uint32_t)strtoul(argv[2], NULL, 0), argv[3]);
    if (argc == 4 && argv[1][0] == '-' && argv[1][1] == 's')
        return status((uint32_t)strtoul(argv[2], NULL, 0), argv[3]);
    if (argc == 5 && argv[1][0] == '-' && argv[1][1] == 'p')
        return prefetch((uint32_t)strtoul(argv[2], NULL, 0), (uint32_t)strtoul(argv[3], NULL, 0),
                        argv[4]);
    fprintf(stderr, "usage: encode_layer LAYER WORDS | -d LAYER RESPONSE OUT | "
                    "-q TOKEN WORDS | -s TOKEN RESPONSE | -p W_ADDR TILES WORDS\n");
    return E_IO;
}
