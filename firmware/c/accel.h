/* SPDX-License-Identifier: BSD-2-Clause */
/* C driver of the ternary accelerator, for a CPU next to it: command encoders, the lowering
 * of one BitLinear layer, and response parsing.
 *
 * Include after the generated accel_isa.h (python -m firmware.cheader), which fixes the
 * command set (golden/contract/isa.py) and the configuration. Nothing here allocates: the
 * encoders append 32-bit command words to a caller's accel_stream, and the parsers read a
 * caller's response words. Errors are sticky on a stream: after the first, every encoder
 * does nothing and returns that error, so a caller may check once at the end.
 *
 * Every command but NOP ends with its CRC word (CRC-32 IEEE over the little-endian bytes of
 * its words, computed bit by bit from ACCEL_CRC32_POLY: no table, 4 bytes of code state).
 * Loads are cut into commands of at most ACCEL_MAX_LOAD memory words, at addr,
 * addr + ACCEL_MAX_LOAD, ... as firmware.commands does.
 *
 * accel_layer() lowers x_q (M x K activations, row-major) times w_t (N x K ternary weights,
 * row-major) transposed into the same words as firmware.compiler.compile_layer: the same
 * passes when the layer does not fit the memories (K-chunks summed with ACCUMULATE, N- and
 * M-chunks), each pass's weights and activations loaded at address 0. accel_decode_layer()
 * reads the response of those words (one DRAIN per pass) into the M x N result. */
#ifndef ACCEL_H
#define ACCEL_H

#include <stddef.h>
#include <stdint.h>

#include "accel_isa.h"

/* One quantized activation: ACCEL_ACT_BITS (at most 16) bits, two's complement. */
typedef int16_t accel_act_t;

typedef struct {
    uint32_t *words;
    size_t len;
    size_t cap;
    int error;          /* sticky: ACCEL_E_* below */
} accel_stream;

enum {
    ACCEL_OK = 0,
    ACCEL_E_FULL = 1,       /* the buffer is too small */
    ACCEL_E_ARG = 2,        /* an argument out of range (a non-ternary weight, an activation
                             * outside ACCEL_ACT_BITS, an empty layer, K > ACCEL_MAX_K, ...) */
    ACCEL_E_FIT = 3,        /* the memories cannot hold even one tile */
    ACCEL_E_CRC = 4,        /* a response's CRC word does not match */
    ACCEL_E_RESPONSE = 5,   /* a malformed response: bad header, another opcode, too short */
    ACCEL_E_DEVICE = 6,     /* the device reports error flags (see accel_error_names) */
    ACCEL_E_VERSION = 7,    /* the device speaks another command-set version */
    ACCEL_E_CONFIG = 8,     /* the device has another configuration (see accel_check_status) */
    ACCEL_E_NO_SYNC = 9,    /* no SYNC response with the token in the response words */
};

/* --- CRC and headers ------------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3, as zlib's crc32) of n words sent little-endian. */
uint32_t accel_crc32(const uint32_t *words, size_t n);
uint32_t accel_header(unsigned opcode, unsigned flags);

/* --- commands: each appends one whole command (several for a long load) -------------- */

void accel_stream_init(accel_stream *s, uint32_t *buffer, size_t capacity);
int accel_nop(accel_stream *s);
/* LOAD_WEIGHTS of count weight-memory words at addr; words holds count *
 * ACCEL_WEIGHT_STREAM_WORDS stream words (each memory word little-endian, zero-padded). */
int accel_load_weights(accel_stream *s, uint32_t addr, const uint32_t *words, size_t count);
/* LOAD_ACTS of count activation-buffer words (ACCEL_ACT_STREAM_WORDS stream words each). */
int accel_load_acts(accel_stream *s, uint32_t addr, const uint32_t *words, size_t count);
int accel_matmul(accel_stream *s, uint32_t w_addr, uint32_t a_addr, uint32_t acc_addr,
                 uint32_t m, uint32_t k_tiles, uint32_t n_tiles, int accumulate);
/* PREFETCH (weight_memory = "axi"): the weights of the MATMUL after the next one, tiles
 * (its n_tiles * k_tiles) tiles from byte w_addr of the external memory. */
int accel_prefetch(accel_stream *s, uint32_t w_addr, uint32_t tiles);
int accel_drain(accel_stream *s, uint32_t addr, uint32_t count);
int accel_read_counters(accel_stream *s);
int accel_read_status(accel_stream *s);
int accel_clear(accel_stream *s, int counters, int errors);
int accel_sync(accel_stream *s, uint32_t token);
/* Resynchronization from anywhere: ACCEL_MAX_COMMAND_WORDS NOPs, CLEAR(ERRORS), SYNC(token).
 * Then discard response words up to the SYNC response with token (accel_find_sync). */
int accel_resync(accel_stream *s, uint32_t token);

/* --- one layer ------------------------------------------------------------------------ */

/* The passes of a layer, as firmware.compiler plans them. */
typedef struct {
    size_t m, k, n;
    size_t k_tiles, n_tiles;
    size_t kt_chunk, nt_chunk, m_chunk;     /* tiles (tokens) per pass */
    size_t passes;                          /* DRAINs: M-chunks x N-chunks */
    size_t response_words;                  /* words of the whole response */
} accel_plan;

/* Plan an (M, K) x (N, K)^T layer: ACCEL_E_ARG for an empty one or K > ACCEL_MAX_K,
 * ACCEL_E_FIT if the weight memory cannot hold one tile. */
int accel_plan_layer(accel_plan *plan, size_t m, size_t k, size_t n);
/* The commands of the layer (firmware.compiler.compile_layer's words). */
int accel_layer(accel_stream *s, const accel_act_t *x_q, size_t m, size_t k,
                const int8_t *w_t, size_t n);
/* The layer's response (plan->response_words words) -> out, M x N row-major, exact.
 * ACCEL_E_DEVICE with *errors set if a DRAIN was refused; ACCEL_E_CRC, ACCEL_E_RESPONSE for a
 * corrupted or misframed response. errors may be NULL. */
int accel_decode_layer(const accel_plan *plan, const uint32_t *response, size_t len,
                       int32_t *out, uint32_t *errors);

/* --- responses ------------------------------------------------------------------------ */

/* One whole response (header, payload, CRC word) to a command of `opcode`: checks the
 * header and the CRC, and gives the error flags of the header, the payload and its length.
 * Any output pointer may be NULL. */
int accel_parse_response(const uint32_t *words, size_t len, unsigned opcode,
                         uint32_t *errors, const uint32_t **payload, size_t *payload_len);
/* The name of the error flag at `bit` ("BAD_CRC", ...), or NULL. */
const char *accel_error_name(unsigned bit);
/* The names of the flags set in `errors`, in bit order, into names[0..cap); returns how many
 * flags are set (may exceed cap). */
size_t accel_error_names(uint32_t errors, const char **names, size_t cap);

/* READ_STATUS, one field per payload word (golden.contract.isa.STATUS_FIELDS). */
typedef struct {
#define ACCEL_STATUS_MEMBER(field, index, value) uint32_t field;
    uint32_t errors;
    ACCEL_STATUS_EXPECTED(ACCEL_STATUS_MEMBER)
#undef ACCEL_STATUS_MEMBER
} accel_status;

/* A whole READ_STATUS response -> *status (accel_parse_response's errors). */
int accel_parse_status(const uint32_t *words, size_t len, accel_status *status);
/* ACCEL_OK if the device is what accel_isa.h was generated for; ACCEL_E_VERSION, or
 * ACCEL_E_CONFIG with *field naming the first field that differs ("max_load", ...). field
 * may be NULL. */
int accel_check_status(const accel_status *status, const char **field);

/* Finds the SYNC response carrying `token` (CRC checked) in words[0..len): ACCEL_OK with
 * *next the index just after it, else ACCEL_E_NO_SYNC. */
int accel_find_sync(const uint32_t *words, size_t len, uint32_t token, size_t *next);

#endif /* ACCEL_H */
