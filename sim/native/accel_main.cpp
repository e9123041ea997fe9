// SPDX-License-Identifier: BSD-2-Clause
//
// Native Verilator harness of the generated `accelerator`: a C++ main that owns the clock,
// drives the design's ports directly and serves programs from the host over its standard input
// and output, so that no testbench language sits in the per-cycle loop. Built and driven by
// sim/native/__init__.py (sim.native); used by sim.backends.VerilatorBackend.
//
// The harness is protocol-agnostic: it streams 32-bit command words and collects 32-bit
// response words; it never parses a command. Its stream semantics are those of
// sim/testbenches/hdl/accel_harness.v, so the same seed gives the same run:
//
//  * an xorshift32 generator starts at (seed | 1) and advances once per cycle; in each cycle
//    with draw x (the generator's next value), the command stream idles when x[7:0] < p_idle
//    and responses are refused when x[15:8] < p_stall (p_idle, p_stall in 1/256);
//  * a run ends when every command word has been taken and the design has been idle (`busy`
//    low) with no response pending for 16 cycles, or after max_cycles cycles (a timeout);
//  * `cycles` counts from the start to the last word transferred in either direction.
//
// The design keeps its state (memories, flags, counters) from one request to the next, like a
// real device; a request may ask for a reset first (rst high for 3 cycles, then one idle cycle).
//
// Wire format, all fields little-endian 32-bit words (64-bit ones low word first):
//
//   hello   (once, at start-up)  MAGIC_HELLO, errors_bits
//   request MAGIC_REQUEST, flags (1: reset first, 2: quit), n_words, p_idle, p_stall, seed,
//           max_cycles (64), then n_words command words
//   reply   MAGIC_REPLY, timed_out, cycles (64), total cycles run (64), errors (64),
//           n_taken, n_response, then n_response response words
//
// Anything the simulator prints goes to standard error; standard output carries the replies
// alone.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <unistd.h>

#include "Vaccelerator.h"
#include "verilated.h"

#ifndef ACCEL_ERRORS_BITS
#error "ACCEL_ERRORS_BITS (the width of the accelerator's errors port) must be defined"
#endif
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian");
static_assert(ACCEL_ERRORS_BITS >= 1 && ACCEL_ERRORS_BITS <= 64,
              "the errors port must be 1 to 64 bits wide");

// Verilator escapes the double underscore of Amaranth's stream port names.
#define CMD_VALID cmd___05Fvalid
#define CMD_READY cmd___05Fready
#define CMD_PAYLOAD cmd___05Fpayload
#define RESP_VALID resp___05Fvalid
#define RESP_READY resp___05Fready
#define RESP_PAYLOAD resp___05Fpayload

namespace {

constexpr uint32_t MAGIC_HELLO = 0x4e41484cu;    // "LHAN"
constexpr uint32_t MAGIC_REQUEST = 0x4e415152u;  // "RQAN"
constexpr uint32_t MAGIC_REPLY = 0x4e415052u;    // "RPAN"
constexpr uint32_t FLAG_RESET = 1;
constexpr uint32_t FLAG_QUIT = 2;
constexpr unsigned QUIET_CYCLES = 16;
constexpr unsigned RESET_CYCLES = 3;

int out_fd = -1;

bool read_exact(void* dst, size_t n) {
    auto* p = static_cast<char*>(dst);
    while (n) {
        ssize_t got = read(0, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

bool write_exact(const void* src, size_t n) {
    const auto* p = static_cast<const char*>(src);
    while (n) {
        ssize_t put = write(out_fd, p, n);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        p += put;
        n -= static_cast<size_t>(put);
    }
    return true;
}

inline uint32_t xorshift32(uint32_t x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

struct Harness {
    std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    std::unique_ptr<Vaccelerator> top{new Vaccelerator{context.get()}};
    uint64_t total = 0;  // cycles run since start-up, resets included

    // One clock cycle with the inputs as set; the combinational outputs of this cycle are
    // valid after settle() and before edge().
    void settle() { top->eval(); }
    void edge() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        ++total;
    }

    void reset() {
        top->CMD_VALID = 0;
        top->RESP_READY = 0;
        top->rst = 1;
        for (unsigned i = 0; i < RESET_CYCLES; ++i) {
            settle();
            edge();
        }
        top->rst = 0;
        settle();
        edge();
        settle();
    }

    struct Result {
        bool timed_out;
        uint64_t cycles;
        uint32_t taken;
        std::vector<uint32_t> response;
    };

    Result run(const std::vector<uint32_t>& program, uint32_t p_idle, uint32_t p_stall,
               uint32_t seed, uint64_t max_cycles) {
        Result r{false, 0, 0, {}};
        const uint32_t n = static_cast<uint32_t>(program.size());
        uint32_t rng = seed | 1u;
        uint32_t rd = 0;
        uint64_t now = 0;
        unsigned quiet = 0;
        for (;;) {
            const uint32_t x = xorshift32(rng);
            const bool idle = (x & 0xffu) < p_idle;
            const bool stall = ((x >> 8) & 0xffu) < p_stall;
            const bool cmd_valid = rd < n && !idle;
            top->CMD_VALID = cmd_valid;
            top->CMD_PAYLOAD = rd < n ? program[rd] : 0u;
            top->RESP_READY = !stall;
            settle();
            const bool cmd_fire = cmd_valid && top->CMD_READY;
            const bool resp_valid = top->RESP_VALID;
            const bool resp_fire = resp_valid && !stall;
            if (resp_fire) r.response.push_back(top->RESP_PAYLOAD);
            const bool is_quiet = rd == n && !top->busy && !resp_valid;
            edge();
            const bool finished = quiet == QUIET_CYCLES;
            const bool end = finished || now == max_cycles;
            rng = x;
            ++now;
            if (cmd_fire || resp_fire) r.cycles = now;
            if (cmd_fire) ++rd;
            quiet = is_quiet ? quiet + 1 : 0;
            if (end) {
                r.timed_out = !finished;
                break;
            }
        }
        top->CMD_VALID = 0;
        top->RESP_READY = 0;
        settle();
        r.taken = rd;
        return r;
    }
};

}  // namespace

int main(int argc, char** argv) {
    // Replies own standard output; whatever else is printed goes to standard error.
    out_fd = dup(1);
    if (out_fd < 0 || dup2(2, 1) < 0) {
        std::perror("accel_native: dup");
        return 2;
    }
    Harness h;
    h.context->commandArgs(argc, argv);
    h.top->clk = 0;
    h.reset();
    const uint32_t hello[2] = {MAGIC_HELLO, ACCEL_ERRORS_BITS};
    if (!write_exact(hello, sizeof hello)) return 2;

    std::vector<uint32_t> program;
    for (;;) {
        uint32_t head[8];
        if (!read_exact(head, sizeof head)) return 0;  // the host went away: end quietly
        if (head[0] != MAGIC_REQUEST) {
            std::fprintf(stderr, "accel_native: bad request magic 0x%08x\n", head[0]);
            return 2;
        }
        const uint32_t flags = head[1];
        if (flags & FLAG_QUIT) return 0;
        program.resize(head[2]);
        if (head[2] && !read_exact(program.data(), program.size() * sizeof(uint32_t))) {
            std::fprintf(stderr, "accel_native: truncated program\n");
            return 2;
        }
        if (head[3] > 256 || head[4] > 256) {
            std::fprintf(stderr, "accel_native: p_idle/p_stall above 256\n");
            return 2;
        }
        const uint64_t max_cycles = head[6] | (static_cast<uint64_t>(head[7]) << 32);
        if (flags & FLAG_RESET) h.reset();
        Harness::Result r = h.run(program, head[3], head[4], head[5], max_cycles);
        const uint64_t errors = static_cast<uint64_t>(h.top->errors);
        uint32_t reply[10] = {MAGIC_REPLY,
                              r.timed_out ? 1u : 0u,
                              static_cast<uint32_t>(r.cycles),
                              static_cast<uint32_t>(r.cycles >> 32),
                              static_cast<uint32_t>(h.total),
                              static_cast<uint32_t>(h.total >> 32),
                              static_cast<uint32_t>(errors),
                              static_cast<uint32_t>(errors >> 32),
                              r.taken,
                              static_cast<uint32_t>(r.response.size())};
        if (!write_exact(reply, sizeof reply)) return 2;
        if (!r.response.empty() &&
            !write_exact(r.response.data(), r.response.size() * sizeof(uint32_t)))
            return 2;
    }
}
