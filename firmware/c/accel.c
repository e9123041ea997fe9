/* SPDX-License-Identifier: BSD-2-Clause */
/* C driver of the ternary accelerator: see accel.h. */
#include <string.h>

#include "accel.h"

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define BITS_PER_WORD 32u
/* Stream words of the wider memory word: the size of a memory word on the stack. */
#define MAX_STREAM_WORDS (ACCEL_WEIGHT_STREAM_WORDS > ACCEL_ACT_STREAM_WORDS \
                          ? ACCEL_WEIGHT_STREAM_WORDS : ACCEL_ACT_STREAM_WORDS)

static size_t min_size(size_t a, size_t b) {
    return a < b ? a : b;
}

/* --- CRC and headers ------------------------------------------------------------------ */

/* Bitwise CRC-32, least significant bit first (the reflected form of the IEEE polynomial):
 * eight shift-and-conditional-XOR steps per byte, no table. */
uint32_t accel_crc32(const uint32_t *words, size_t n) {
    uint32_t crc = ACCEL_CRC32_INIT;
    for (size_t i = 0; i < n; i++) {
        for (unsigned byte = 0; byte < 4; byte++) {
            crc ^= words[i] >> (8u * byte) & 0xFFu;
            for (unsigned bit = 0; bit < 8; bit++)
                crc = crc >> 1 ^ (ACCEL_CRC32_POLY & (0u - (crc & 1u)));
        }
    }
    return crc ^ ACCEL_CRC32_INIT;
}

uint32_t accel_header(unsigned opcode, unsigned flags) {
    return (uint32_t)ACCEL_SYNC << ACCEL_CMD_SYNC_SHIFT
         | (uint32_t)(flags & ACCEL_CMD_FLAGS_MASK) << ACCEL_CMD_FLAGS_SHIFT
         | (uint32_t)(opcode & ACCEL_CMD_OPCODE_MASK) << ACCEL_CMD_OPCODE_SHIFT;
}

/* --- the stream ----------------------------------------------------------------------- */

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

/* Appends the CRC word of the command that starts at words[start]. */
static int end_command(accel_stream *s, size_t start) {
    if (s->error)
        return s->error;
    return push(s, accel_crc32(s->words + start, s->len - start));
}

/* A command of a header and nargs arguments, then its CRC word. */
static int command(accel_stream *s, unsigned opcode, unsigned flags, const uint32_t *args,
                   size_t nargs) {
    size_t start = s->len;
    push(s, accel_header(opcode, flags));
    for (size_t i = 0; i < nargs; i++)
        push(s, args[i]);
    return end_command(s, start);
}

int accel_nop(accel_stream *s) {
    return push(s, accel_header(ACCEL_OP_NOP, 0));
}

int accel_matmul(accel_stream *s, uint32_t w_addr, uint32_t a_addr, uint32_t acc_addr,
                 uint32_t m, uint32_t k_tiles, uint32_t n_tiles, int accumulate) {
    const uint32_t args[ACCEL_ARGS_MATMUL] = {w_addr, a_addr, acc_addr, m, k_tiles, n_tiles};
    return command(s, ACCEL_OP_MATMUL, accumulate ? ACCEL_MATMUL_ACCUMULATE : 0u, args,
                   ACCEL_ARGS_MATMUL);
}

int accel_prefetch(accel_stream *s, uint32_t w_addr, uint32_t tiles) {
    const uint32_t args[ACCEL_ARGS_PREFETCH] = {w_addr, tiles};
    return command(s, ACCEL_OP_PREFETCH, 0, args, ACCEL_ARGS_PREFETCH);
}

int accel_drain(accel_stream *s, uint32_t addr, uint32_t count) {
    const uint32_t args[ACCEL_ARGS_DRAIN] = {addr, count};
    return command(s, ACCEL_OP_DRAIN, 0, args, ACCEL_ARGS_DRAIN);
}

int accel_read_counters(accel_stream *s) {
    return command(s, ACCEL_OP_READ_COUNTERS, 0, NULL, ACCEL_ARGS_READ_COUNTERS);
}

int accel_read_status(accel_stream *s) {
    return command(s, ACCEL_OP_READ_STATUS, 0, NULL, ACCEL_ARGS_READ_STATUS);
}

int accel_clear(accel_stream *s, int counters, int errors) {
    const uint32_t args[ACCEL_ARGS_CLEAR] = {ACCEL_CLEAR_MAGIC};
    unsigned flags = (counters ? ACCEL_CLEAR_COUNTERS : 0u) | (errors ? ACCEL_CLEAR_ERRORS : 0u);
    return command(s, ACCEL_OP_CLEAR, flags, args, ACCEL_ARGS_CLEAR);
}

int accel_sync(accel_stream *s, uint32_t token) {
    const uint32_t args[ACCEL_ARGS_SYNC] = {token};
    return command(s, ACCEL_OP_SYNC, 0, args, ACCEL_ARGS_SYNC);
}

int accel_resync(accel_stream *s, uint32_t token) {
    for (size_t i = 0; i < ACCEL_MAX_COMMAND_WORDS; i++)
        accel_nop(s);
    accel_clear(s, 0, 1);
    return accel_sync(s, token);
}

/* --- loads ---------------------------------------------------------------------------- */

/* Writes memory word `index` of a load into word[0..stream words), zero-padded. */
typedef void word_fn(const void *ctx, size_t index, uint32_t *word);

/* count memory words from fn, as commands of at most ACCEL_MAX_LOAD memory words at addr,
 * addr + ACCEL_MAX_LOAD, ... (firmware.commands._load). */
static int load(accel_stream *s, unsigned opcode, uint32_t addr, size_t count,
                unsigned stream_words, word_fn *fn, const void *ctx) {
    uint32_t word[MAX_STREAM_WORDS];
    for (size_t first = 0; first < count && !s->error; first += ACCEL_MAX_LOAD) {
        size_t chunk = min_size(ACCEL_MAX_LOAD, count - first), start = s->len;
        if (first > (size_t)(UINT32_MAX - addr))
            return fail(s, ACCEL_E_ARG);        /* the address leaves 32 bits */
        push(s, accel_header(opcode, 0));
        push(s, addr + (uint32_t)first);
        push(s, (uint32_t)chunk);
        for (size_t i = first; i < first + chunk; i++) {
            fn(ctx, i, word);
            for (unsigned w = 0; w < stream_words; w++)
                push(s, word[w]);
        }
        end_command(s, start);
    }
    return s->error;
}

typedef struct {
    const uint32_t *words;
    unsigned stream_words;
} raw_words;

static void raw_word(const void *ctx, size_t index, uint32_t *word) {
    const raw_words *raw = ctx;
    memcpy(word, raw->words + index * raw->stream_words, raw->stream_words * sizeof *word);
}

/* Whether every memory word has zeros above its `bits` bits (as to_stream_words demands). */
static int fits(const uint32_t *words, size_t count, unsigned stream_words, unsigned bits) {
    unsigned top = bits % BITS_PER_WORD;
    if (top == 0)
        return 1;
    for (size_t i = 0; i < count; i++)
        if (words[(i + 1) * stream_words - 1] >> top)
            return 0;
    return 1;
}

int accel_load_weights(accel_stream *s, uint32_t addr, const uint32_t *words, size_t count) {
    raw_words raw = {words, ACCEL_WEIGHT_STREAM_WORDS};
    if (!fits(words, count, ACCEL_WEIGHT_STREAM_WORDS, ACCEL_WEIGHT_WORD_BITS))
        return fail(s, ACCEL_E_ARG);
    return load(s, ACCEL_OP_LOAD_WEIGHTS, addr, count, ACCEL_WEIGHT_STREAM_WORDS, raw_word, &raw);
}

int accel_load_acts(accel_stream *s, uint32_t addr, const uint32_t *words, size_t count) {
    raw_words raw = {words, ACCEL_ACT_STREAM_WORDS};
    if (!fits(words, count, ACCEL_ACT_STREAM_WORDS, ACCEL_ACT_WORD_BITS))
        return fail(s, ACCEL_E_ARG);
    return load(s, ACCEL_OP_LOAD_ACTS, addr, count, ACCEL_ACT_STREAM_WORDS, raw_word, &raw);
}

/* --- one layer ------------------------------------------------------------------------ */

/* Sets `bits` bits at bit position `pos` of a little-endian word array. */
static void put_bits(uint32_t *words, unsigned pos, unsigned bits, uint32_t value) {
    for (unsigned b = 0; b < bits; b++, pos++)
        if (value >> b & 1u)
            words[pos / BITS_PER_WORD] |= 1u << (pos % BITS_PER_WORD);
}

/* The weights or activations of one pass: N-tiles [nt0, nt1) x K-tiles [kt0, kt1) of the
 * weights, tokens [m0, m1) x K-tiles [kt0, kt1) of the activations. */
typedef struct {
    const accel_act_t *x_q;
    const int8_t *w_t;
    size_t m, k, n;
    size_t m0, nt0, nt1, kt0, kt1;
} block;

/* Weight (row of K, column of N), zero beyond the edges (the padding of the tiles). */
static int weight_at(const block *b, size_t row, size_t col) {
    return (col < b->n && row < b->k) ? b->w_t[col * b->k + row] : 0;
}

/* Weight-memory word `index` of a block: the tiles (n, k) in N-slice-major order, each taking
 * ACCEL_TILE_ROWS row slots (ACCEL_ROWS rounded up to whole beats of
 * ACCEL_WEIGHT_ROWS_PER_CYCLE rows; the rest zero), tile row i holding weight (kt * rows + i) of
 * columns nt * cols + j. Slot `sub` of the word goes to lane sub % L (L = ACCEL_WEIGHT_LANES):
 * in 2bit the word is one beat, lane r = row r; in 1.6bit five rows per lane (five beats on
 * chip, one over axi), lane r's byte of column j holding the word's rows r, r + L, ...,
 * r + 4L, first most significant
 * (golden.contract.codecs.pack_weight_tiles of firmware.tiling.tile_weights). */
static void weight_word(const void *ctx, size_t index, uint32_t *word) {
    const block *b = ctx;
    size_t kn = b->kt1 - b->kt0, rows = (b->nt1 - b->nt0) * kn * ACCEL_TILE_ROWS;
    /* 1.6bit: base-3 value of each lane's and column's five trits */
    uint32_t trits[ACCEL_WEIGHT_LANES * ACCEL_COLS];
    memset(word, 0, ACCEL_WEIGHT_STREAM_WORDS * sizeof *word);
    memset(trits, 0, sizeof trits);
    for (unsigned sub = 0; sub < ACCEL_WEIGHT_ROWS_PER_WORD; sub++) {
        size_t r = index * ACCEL_WEIGHT_ROWS_PER_WORD + sub;     /* row slot within the block */
        size_t tile = r / ACCEL_TILE_ROWS, i = r % ACCEL_TILE_ROWS;
        size_t nt = b->nt0 + tile / kn, kt = b->kt0 + tile % kn;
        unsigned lane = sub % ACCEL_WEIGHT_LANES;
        for (unsigned j = 0; j < ACCEL_COLS; j++) {
            unsigned col = lane * ACCEL_COLS + j;               /* column of the whole word */
            int w = r < rows && i < ACCEL_ROWS
                ? weight_at(b, kt * ACCEL_ROWS + i, nt * ACCEL_COLS + j) : 0;
#if ACCEL_WEIGHT_FORMAT == ACCEL_FORMAT_2BIT
            put_bits(word, 2u * col, 2u, (uint32_t)w & 3u);  /* the code is w & 0b11 */
#else
            trits[col] = trits[col] * 3u + (uint32_t)(w + 1); /* first row most significant */
#endif
        }
    }
#if ACCEL_WEIGHT_FORMAT != ACCEL_FORMAT_2BIT
    /* Five trits per byte: the byte ceil(v * 256 / 243) of their base-3 value v. */
    for (unsigned c = 0; c < ACCEL_WEIGHT_LANES * ACCEL_COLS; c++)
        put_bits(word, 8u * c, 8u, (trits[c] * 256u + 242u) / 243u);
#else
    (void)trits;
#endif
}

/* Activation-buffer word `index` of a block: token m0 + index / k-tiles, K-slice
 * kt0 + index % k-tiles, lane i in bits [ACT_BITS * i, ACT_BITS * (i + 1)). */
static void act_word(const void *ctx, size_t index, uint32_t *word) {
    const block *b = ctx;
    size_t kn = b->kt1 - b->kt0, t = b->m0 + index / kn, kt = b->kt0 + index % kn;
    memset(word, 0, ACCEL_ACT_STREAM_WORDS * sizeof *word);
    for (unsigned i = 0; i < ACCEL_ROWS; i++) {
        size_t kk = kt * ACCEL_ROWS + i;
        int32_t a = kk < b->k ? b->x_q[t * b->k + kk] : 0;
        put_bits(word, ACCEL_ACT_BITS * i, ACCEL_ACT_BITS,
                 (uint32_t)a & (uint32_t)((1ul << ACCEL_ACT_BITS) - 1u));
    }
}

int accel_plan_layer(accel_plan *plan, size_t m, size_t k, size_t n) {
    size_t tile_capacity = ACCEL_WEIGHT_ROWS / ACCEL_TILE_ROWS;   /* tiles the memory holds */
    memset(plan, 0, sizeof *plan);
    if (m == 0 || k == 0 || n == 0 || k > ACCEL_MAX_K)
        return ACCEL_E_ARG;
    if (tile_capacity == 0)
        return ACCEL_E_FIT;
    plan->m = m;
    plan->k = k;
    plan->n = n;
    plan->k_tiles = CEIL_DIV(k, ACCEL_ROWS);
    plan->n_tiles = CEIL_DIV(n, ACCEL_COLS);
    /* firmware.compiler.compile_weights: one token of a K-chunk fits the activation buffer,
     * one token of an N-chunk the accumulator buffer, a K-chunk x N-chunk the weights. */
    plan->kt_chunk = min_size(min_size(plan->k_tiles, ACCEL_ACT_DEPTH), tile_capacity);
    plan->nt_chunk = min_size(min_size(plan->n_tiles, ACCEL_ACC_DEPTH),
                              tile_capacity / plan->kt_chunk);
    /* compile_matmul: M-chunks that fit the activation and accumulator buffers. */
    plan->m_chunk = min_size(min_size(m, ACCEL_ACT_DEPTH / plan->kt_chunk),
                             ACCEL_ACC_DEPTH / plan->nt_chunk);
    plan->passes = CEIL_DIV(m, plan->m_chunk) * CEIL_DIV(plan->n_tiles, plan->nt_chunk);
    plan->response_words = plan->passes * ACCEL_RESPONSE_OVERHEAD
                         + m * plan->n_tiles * ACCEL_COLS;
    return ACCEL_OK;
}

/* Whether an activation fits ACCEL_ACT_BITS (through int32_t: for 16 bits, every int16_t). */
static int act_in_range(int32_t a) {
    return a >= ACCEL_ACT_MIN && a <= ACCEL_ACT_MAX;
}

int accel_layer(accel_stream *s, const accel_act_t *x_q, size_t m, size_t k,
                const int8_t *w_t, size_t n) {
    accel_plan p;
    int error = accel_plan_layer(&p, m, k, n);
    if (error)
        return fail(s, error);
    for (size_t i = 0; i < m * k; i++)
        if (!act_in_range(x_q[i]))
            return fail(s, ACCEL_E_ARG);
    for (size_t i = 0; i < n * k; i++)
        if (w_t[i] < -1 || w_t[i] > 1)
            return fail(s, ACCEL_E_ARG);
    block b = {x_q, w_t, m, k, n, 0, 0, 0, 0, 0};
    for (size_t m0 = 0; m0 < m; m0 += p.m_chunk) {
        size_t m1 = min_size(m0 + p.m_chunk, m);
        b.m0 = m0;
        for (b.nt0 = 0; b.nt0 < p.n_tiles; b.nt0 += p.nt_chunk) {
            b.nt1 = min_size(b.nt0 + p.nt_chunk, p.n_tiles);
            for (b.kt0 = 0; b.kt0 < p.k_tiles; b.kt0 += p.kt_chunk) {
                size_t kn = (b.kt1 = min_size(b.kt0 + p.kt_chunk, p.k_tiles)) - b.kt0;
                size_t rows = (b.nt1 - b.nt0) * kn * ACCEL_TILE_ROWS;
                load(s, ACCEL_OP_LOAD_WEIGHTS, 0, CEIL_DIV(rows, ACCEL_WEIGHT_ROWS_PER_WORD),
                     ACCEL_WEIGHT_STREAM_WORDS, weight_word, &b);
                load(s, ACCEL_OP_LOAD_ACTS, 0, (m1 - m0) * kn, ACCEL_ACT_STREAM_WORDS,
                     act_word, &b);
                accel_matmul(s, 0, 0, 0, (uint32_t)(m1 - m0), (uint32_t)kn,
                             (uint32_t)(b.nt1 - b.nt0), b.kt0 > 0);
            }
            accel_drain(s, 0, (uint32_t)((m1 - m0) * (b.nt1 - b.nt0)));
        }
    }
    return s->error;
}

/* --- responses ------------------------------------------------------------------------ */

#define RESP_FIELD(word, name) ((word) >> ACCEL_RESP_##name##_SHIFT & ACCEL_RESP_##name##_MASK)
#define RESP_KNOWN (ACCEL_RESP_OPCODE_MASK << ACCEL_RESP_OPCODE_SHIFT \
                    | ACCEL_RESP_ERRORS_MASK << ACCEL_RESP_ERRORS_SHIFT \
                    | ACCEL_RESP_SYNC_MASK << ACCEL_RESP_SYNC_SHIFT)

int accel_parse_response(const uint32_t *words, size_t len, unsigned opcode,
                         uint32_t *errors, const uint32_t **payload, size_t *payload_len) {
    if (len < 1 + ACCEL_CRC_WORDS)
        return ACCEL_E_RESPONSE;
    uint32_t header = words[0];
    if (RESP_FIELD(header, SYNC) != ACCEL_SYNC || header & ~(uint32_t)RESP_KNOWN
        || RESP_FIELD(header, OPCODE) >= ACCEL_OPCODES)
        return ACCEL_E_RESPONSE;        /* reserved or pad bits set, or no opcode */
    if (accel_crc32(words, len - ACCEL_CRC_WORDS) != words[len - ACCEL_CRC_WORDS])
        return ACCEL_E_CRC;
    if (RESP_FIELD(header, OPCODE) != opcode)
        return ACCEL_E_RESPONSE;
    if (errors)
        *errors = RESP_FIELD(header, ERRORS);
    if (payload)
        *payload = words + 1;
    if (payload_len)
        *payload_len = len - 1 - ACCEL_CRC_WORDS;
    return ACCEL_OK;
}

static const char *const error_names[ACCEL_ERROR_BITS] = ACCEL_ERROR_NAMES;

const char *accel_error_name(unsigned bit) {
    return bit < ACCEL_ERROR_BITS ? error_names[bit] : NULL;
}

size_t accel_error_names(uint32_t errors, const char **names, size_t cap) {
    size_t count = 0;
    for (unsigned bit = 0; bit < ACCEL_ERROR_BITS; bit++) {
        if (!(errors >> bit & 1u) || !error_names[bit])
            continue;
        if (count < cap)
            names[count] = error_names[bit];
        count++;
    }
    return count;
}

/* A DRAIN response at words[0..len) of `count` accumulator words: ACCEL_E_DEVICE for one
 * refused (header and CRC alone: the device had an error flag set). */
static int drain_response(const uint32_t *words, size_t len, size_t count,
                          const uint32_t **payload, uint32_t *errors) {
    size_t want = ACCEL_RESPONSE_OVERHEAD + count * ACCEL_COLS, got;
    uint32_t flags = 0;
    if (len == 0)
        return ACCEL_E_RESPONSE;
    if (RESP_FIELD(words[0], ERRORS)) {
        int error = accel_parse_response(words, min_size(len, ACCEL_RESPONSE_OVERHEAD),
                                         ACCEL_OP_DRAIN, &flags, NULL, NULL);
        if (errors)
            *errors = flags;
        return error ? error : ACCEL_E_DEVICE;
    }
    if (len < want)
        return ACCEL_E_RESPONSE;
    int error = accel_parse_response(words, want, ACCEL_OP_DRAIN, &flags, payload, &got);
    return error ? error : got == count * ACCEL_COLS ? ACCEL_OK : ACCEL_E_RESPONSE;
}

int accel_decode_layer(const accel_plan *p, const uint32_t *response, size_t len,
                       int32_t *out, uint32_t *errors) {
    size_t pos = 0;
    if (errors)
        *errors = 0;
    for (size_t m0 = 0; m0 < p->m; m0 += p->m_chunk) {
        size_t mn = min_size(m0 + p->m_chunk, p->m) - m0;
        for (size_t nt0 = 0; nt0 < p->n_tiles; nt0 += p->nt_chunk) {
            size_t nn = min_size(nt0 + p->nt_chunk, p->n_tiles) - nt0;
            const uint32_t *acc = NULL;
            int error = drain_response(response + pos, len - pos, mn * nn, &acc, errors);
            if (error)
                return error;
            /* Accumulator word (nt, t) at nt * mn + t (firmware.compiler's layout). */
            for (size_t nt = 0; nt < nn; nt++) {
                for (size_t t = 0; t < mn; t++) {
                    for (size_t j = 0; j < ACCEL_COLS; j++) {
                        int64_t v = (int32_t)acc[(nt * mn + t) * ACCEL_COLS + j];
                        size_t col = (nt0 + nt) * ACCEL_COLS + j;
                        if (v < -((int64_t)1 << (ACCEL_ACC_BITS - 1))
                            || v >= (int64_t)1 << (ACCEL_ACC_BITS - 1))
                            return ACCEL_E_RESPONSE;    /* not sign-extended from ACC_BITS */
                        if (col < p->n)
                            out[(m0 + t) * p->n + col] = (int32_t)v;
                    }
                }
            }
            pos += ACCEL_RESPONSE_OVERHEAD + mn * nn * ACCEL_COLS;
        }
    }
    return pos == len ? ACCEL_OK : ACCEL_E_RESPONSE;
}

int accel_parse_status(const uint32_t *words, size_t len, accel_status *status) {
    const uint32_t *payload;
    size_t n;
    uint32_t errors;
    int error = accel_parse_response(words, len, ACCEL_OP_READ_STATUS, &errors, &payload, &n);
    if (error)
        return error;
    if (n == 0 && errors)
        return ACCEL_E_DEVICE;          /* refused: a corrupted READ_STATUS */
    if (n != ACCEL_STATUS_WORDS)
        return ACCEL_E_RESPONSE;
    status->errors = payload[ACCEL_STATUS_ERRORS];
#define ACCEL_STATUS_READ(field, index, value) status->field = payload[index];
    ACCEL_STATUS_EXPECTED(ACCEL_STATUS_READ)
#undef ACCEL_STATUS_READ
    return ACCEL_OK;
}

int accel_check_status(const accel_status *status, const char **field) {
    if (status->version != ACCEL_VERSION) {
        if (field)
            *field = "version";
        return ACCEL_E_VERSION;
    }
#define ACCEL_STATUS_CHECK(name, index, value) \
    if (status->name != (value)) {             \
        if (field)                              \
            *field = #name;                     \
        return ACCEL_E_CONFIG;                  \
    }
    ACCEL_STATUS_EXPECTED(ACCEL_STATUS_CHECK)
#undef ACCEL_STATUS_CHECK
    return ACCEL_OK;
}

int accel_find_sync(const uint32_t *words, size_t len, uint32_t token, size_t *next) {
    for (size_t i = 0; i + ACCEL_SYNC_RESPONSE_WORDS <= len; i++) {
        const uint32_t *payload;
        size_t n;
        if (accel_parse_response(words + i, ACCEL_SYNC_RESPONSE_WORDS, ACCEL_OP_SYNC, NULL,
                                 &payload, &n) == ACCEL_OK && n == 1 && payload[0] == token) {
            if (next)
                *next = i + ACCEL_SYNC_RESPONSE_WORDS;
            return ACCEL_OK;
        }
    }
    return ACCEL_E_NO_SYNC;
}
