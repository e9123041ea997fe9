/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-stream encoder of the ternary accelerator: see accel.h. */
#include <string.h>

#include "accel.h"

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define BITS_PER_WORD 32u
#define MAX_MEMORY_WORD_WORDS 64u   /* 2048-bit memory words: 1024 columns of 2 bits */

void accel_stream_init(accel_stream *s, uint32_t *buffer, size_t capacity) {
    s->words = buffer;
    s->len = 0;
    s->cap = capacity;
    s->error = ACCEL_OK;
}

static int push(accel_stream *s, uint32_t word) {
    if (s->error)
        return s->error;
    if (s->len == s->cap)
        return s->error = ACCEL_E_FULL;
    s->words[s->len++] = word;
    return ACCEL_OK;
}

static int fail(accel_stream *s, int error) {
    if (!s->error)
        s->error = error;
    return s->error;
}

uint32_t accel_header(unsigned opcode, unsigned flags) {
    return (uint32_t)ACCEL_SYNC << ACCEL_CMD_SYNC_SHIFT
         | (uint32_t)(flags & ACCEL_CMD_FLAGS_MASK) << ACCEL_CMD_FLAGS_SHIFT
         | (uint32_t)(opcode & ACCEL_CMD_OPCODE_MASK) << ACCEL_CMD_OPCODE_SHIFT;
}

int accel_matmul(accel_stream *s, uint32_t w_addr, uint32_t a_addr, uint32_t acc_addr,
                 uint32_t m, uint32_t k_tiles, uint32_t n_tiles, int accumulate) {
    push(s, accel_header(ACCEL_OP_MATMUL, accumulate ? ACCEL_MATMUL_ACCUMULATE : 0u));
    push(s, w_addr);
    push(s, a_addr);
    push(s, acc_addr);
    push(s, m);
    push(s, k_tiles);
    return push(s, n_tiles);
}

int accel_drain(accel_stream *s, uint32_t addr, uint32_t count) {
    push(s, accel_header(ACCEL_OP_DRAIN, 0));
    push(s, addr);
    return push(s, count);
}

int accel_read_counters(accel_stream *s) {
    return push(s, accel_header(ACCEL_OP_READ_COUNTERS, 0));
}

int accel_read_status(accel_stream *s) {
    return push(s, accel_header(ACCEL_OP_READ_STATUS, 0));
}

int accel_clear(accel_stream *s, int counters, int errors) {
    unsigned flags = (counters ? ACCEL_CLEAR_COUNTERS : 0u) | (errors ? ACCEL_CLEAR_ERRORS : 0u);
    push(s, accel_header(ACCEL_OP_CLEAR, flags));
    return push(s, ACCEL_CLEAR_MAGIC);
}

/* Weight (n0 + j, k0 + i) of tile (nt, kt), or 0 beyond the edges (the padding). */
static int weight_at(const int8_t *w_t, size_t n, size_t k, size_t row, size_t col) {
    return (col < n && row < k) ? w_t[col * k + row] : 0;
}

/* Sets `bits` bits at bit position `pos` of a little-endian word array. */
static void put_bits(uint32_t *words, unsigned pos, unsigned bits, uint32_t value) {
    for (unsigned b = 0; b < bits; b++, pos++)
        if (value >> b & 1u)
            words[pos / BITS_PER_WORD] |= 1u << (pos % BITS_PER_WORD);
}

static int push_memory_word(accel_stream *s, const uint32_t *words, unsigned count) {
    for (unsigned i = 0; i < count; i++)
        push(s, words[i]);
    return s->error;
}

int accel_load_weight_tiles(accel_stream *s, const int8_t *w_t, size_t n, size_t k) {
    size_t k_tiles = CEIL_DIV(k, ACCEL_ROWS), n_tiles = CEIL_DIV(n, ACCEL_COLS);
    size_t rows = k_tiles * n_tiles * ACCEL_ROWS;
    size_t memory_words = CEIL_DIV(rows, ACCEL_WEIGHT_ROWS_PER_WORD);
    uint32_t word[MAX_MEMORY_WORD_WORDS];
    if (ACCEL_WEIGHT_STREAM_WORDS > MAX_MEMORY_WORD_WORDS || memory_words > ACCEL_WEIGHT_DEPTH)
        return fail(s, ACCEL_E_FIT);
    for (size_t i = 0; i < n * k; i++)
        if (w_t[i] < -1 || w_t[i] > 1)
            return fail(s, ACCEL_E_ARG);
    push(s, accel_header(ACCEL_OP_LOAD_WEIGHTS, 0));
    push(s, 0);
    push(s, (uint32_t)memory_words);
    for (size_t mw = 0; mw < memory_words; mw++) {
        memset(word, 0, sizeof word);
        for (unsigned sub = 0; sub < ACCEL_WEIGHT_ROWS_PER_WORD; sub++) {
            size_t r = mw * ACCEL_WEIGHT_ROWS_PER_WORD + sub;   /* row of the row stream */
            size_t tile = r / ACCEL_ROWS, i = r % ACCEL_ROWS;
            size_t nt = tile / k_tiles, kt = tile % k_tiles;
            for (unsigned j = 0; j < ACCEL_COLS; j++) {
                int w = r < rows ? weight_at(w_t, n, k, kt * ACCEL_ROWS + i, nt * ACCEL_COLS + j)
                                 : 0;
#if ACCEL_WEIGHT_FORMAT == ACCEL_FORMAT_2BIT
                put_bits(word, 2u * j, 2u, (uint32_t)w & 3u);
#else
                /* Five trits per byte, first row most significant, as the byte
                 * ceil(v * 256 / 243) of their base-3 value v; accumulated per column. */
                uint32_t shift = 8u * j, v = (word[shift / 32u] >> (shift % 32u)) & 0xFFu;
                v = v * 3u + (uint32_t)(w + 1);
                word[shift / 32u] &= ~(0xFFu << (shift % 32u));
                word[shift / 32u] |= v << (shift % 32u);
                if (sub == ACCEL_WEIGHT_ROWS_PER_WORD - 1) {
                    uint32_t q = (v * 256u + 242u) / 243u;
                    word[shift / 32u] &= ~(0xFFu << (shift % 32u));
                    word[shift / 32u] |= q << (shift % 32u);
                }
#endif
            }
        }
        push_memory_word(s, word, ACCEL_WEIGHT_STREAM_WORDS);
    }
    return s->error;
}

int accel_load_act_tiles(accel_stream *s, const int8_t *x_q, size_t m, size_t k) {
    size_t k_tiles = CEIL_DIV(k, ACCEL_ROWS);
    uint32_t word[MAX_MEMORY_WORD_WORDS];
    if (ACCEL_ACT_STREAM_WORDS > MAX_MEMORY_WORD_WORDS || m * k_tiles > ACCEL_ACT_DEPTH)
        return fail(s, ACCEL_E_FIT);
    push(s, accel_header(ACCEL_OP_LOAD_ACTS, 0));
    push(s, 0);
    push(s, (uint32_t)(m * k_tiles));
    for (size_t t = 0; t < m; t++) {
        for (size_t kt = 0; kt < k_tiles; kt++) {
            memset(word, 0, sizeof word);
            for (unsigned i = 0; i < ACCEL_ROWS; i++) {
                size_t kk = kt * ACCEL_ROWS + i;
                int8_t a = kk < k ? x_q[t * k + kk] : 0;
                put_bits(word, ACCEL_ACT_BITS * i, ACCEL_ACT_BITS,
                         (uint32_t)a & ((1u << ACCEL_ACT_BITS) - 1u));
            }
            push_memory_word(s, word, ACCEL_ACT_STREAM_WORDS);
        }
    }
    return s->error;
}

int accel_layer(accel_stream *s, const int8_t *x_q, size_t m, size_t k,
                const int8_t *w_t, size_t n) {
    size_t k_tiles = CEIL_DIV(k, ACCEL_ROWS), n_tiles = CEIL_DIV(n, ACCEL_COLS);
    if (m == 0 || k == 0 || n == 0 || k > ACCEL_MAX_K)
        return fail(s, ACCEL_E_ARG);
    if (m * n_tiles > ACCEL_ACC_DEPTH)
        return fail(s, ACCEL_E_FIT);
    accel_load_weight_tiles(s, w_t, n, k);
    accel_load_act_tiles(s, x_q, m, k);
    accel_matmul(s, 0, 0, 0, (uint32_t)m, (uint32_t)k_tiles, (uint32_t)n_tiles, 0);
    return accel_drain(s, 0, (uint32_t)(m * n_tiles));
}
