// SPDX-License-Identifier: BSD-2-Clause
//
// A simulated board behind a TCP socket, on Verilator: a C++ main that owns the clock of the
// generated `board` module (hw.boards.BoardCore: the UART bridge and the accelerator, the
// board's logic between its pins) and serves one TCP connection on 127.0.0.1. Every byte the
// host writes is driven onto the `rx` pin as an 8N1 frame, every frame the design sends on
// `tx` is decoded and written back: the protocol of sim/uart_board.py's amaranth.sim board,
// so pyserial's socket://127.0.0.1:PORT reaches either. Built and started by sim.uart_board
// (SimulatedBoard(simulator="verilator")) through sim.native.
//
// Command line: board_native PORT DIVISOR P_GAP SEED [INJECT]
//   PORT     TCP port to listen on (0: any free one)
//   DIVISOR  clock cycles per UART bit (the design's, fixed when the Verilog was generated)
//   P_GAP    probability, in 1/256, of an idle gap of 1 to 3 bit times before a host byte
//            (drawn again after each gap, so gaps repeat)
//   SEED     seed of the gap draws (an xorshift32 starting at SEED | 1)
//   INJECT   comma-separated indices of host bytes sent with a low stop bit (line noise)
//
// Standard output: "port N" once listening, and "stats CYCLES BYTES_IN BYTES_OUT" at the end.
// The simulation ends when the host closes the connection (after 40 more bit times, so the
// design finishes what it is sending) or when standard input closes. Exit status 3: the design
// sent a frame with a low stop bit. While the design is quiet (nothing to send either way, not
// busy) the simulation waits for the host instead of running idle cycles.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "Vboard.h"
#include "verilated.h"

namespace {

constexpr unsigned RESET_CYCLES = 3;
constexpr uint64_t IO_EVERY = 256;       // cycles between looks at the socket while running
constexpr uint64_t QUIET_CYCLES = 1024;  // quiet this long (and 12 bit times): wait for input

inline uint32_t xorshift32(uint32_t x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

bool send_all(int fd, const std::vector<uint8_t>& data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t put = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        done += static_cast<size_t>(put);
    }
    return true;
}

int fail(const char* what) {
    std::fprintf(stderr, "board_native: %s: %s\n", what, std::strerror(errno));
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || argc > 6) {
        std::fprintf(stderr, "usage: %s PORT DIVISOR P_GAP SEED [INJECT]\n", argv[0]);
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const uint64_t d = std::strtoull(argv[2], nullptr, 10);
    const uint32_t p_gap = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10));
    uint32_t rng = static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)) | 1u;
    std::set<uint64_t> inject;
    if (argc == 6) {
        for (char* p = argv[5]; *p;) {
            char* end;
            inject.insert(std::strtoull(p, &end, 10));
            p = *end == ',' ? end + 1 : end;
            if (end == p && *p) break;
        }
    }
    if (d < 1 || p_gap > 255) {
        std::fprintf(stderr, "board_native: bad DIVISOR %s or P_GAP %s\n", argv[2], argv[3]);
        return 2;
    }

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) return fail("socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return fail("bind");
    if (listen(listener, 1) < 0) return fail("listen");
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("port %u\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    // Wait for the host, or for standard input to close (the owner gave up).
    int conn = -1;
    for (;;) {
        pollfd fds[2] = {{listener, POLLIN, 0}, {0, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return fail("poll");
        }
        if (fds[1].revents) {
            char c;
            if (read(0, &c, 1) <= 0) {
                std::printf("stats 0 0 0\n");
                return 0;
            }
        }
        if (fds[0].revents & POLLIN) {
            conn = accept(listener, nullptr, nullptr);
            if (conn < 0) return fail("accept");
            break;
        }
    }
    close(listener);
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    std::unique_ptr<Vboard> top{new Vboard{context.get()}};
    uint64_t cycles = 0;
    // One rising edge; the falling edge is evaluated with the next cycle's inputs (settle).
    auto edge = [&] {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        ++cycles;
    };
    top->clk = 0;
    top->rx = 1;
    top->rst = 1;
    for (unsigned i = 0; i < RESET_CYCLES; ++i) {
        top->eval();
        edge();
    }
    top->rst = 0;
    top->eval();
    edge();

    std::deque<uint8_t> incoming;
    std::vector<uint8_t> outgoing;
    uint64_t bytes_in = 0, bytes_out = 0;
    bool host_open = true, stdin_open = true;
    // Host -> design: a byte is framed into 10 bits; idle cycles (gaps, the pause after a
    // framing error) come first.
    uint64_t idle_left = 0;
    bool sending = false, have_byte = false;
    unsigned bit = 0;
    uint64_t bit_left = 0;
    uint16_t frame = 0;
    bool low_stop = false;
    // Design -> host: sample times relative to the start bit's first cycle.
    bool receiving = false;
    uint64_t rx_start = 0;
    unsigned rx_bit = 0;
    uint8_t rx_byte = 0;
    uint64_t quiet = 0, tail = 0;
    char buffer[65536];

    auto pump = [&](int timeout_ms) -> bool {  // false: a socket error
        if (!outgoing.empty()) {
            if (!send_all(conn, outgoing)) host_open = false;
            outgoing.clear();
        }
        pollfd fds[2] = {{conn, static_cast<short>(host_open ? POLLIN : 0), 0},
                         {0, static_cast<short>(stdin_open ? POLLIN : 0), 0}};
        if (poll(fds, 2, timeout_ms) < 0) return errno == EINTR;
        if (fds[1].revents) {
            char c;
            if (read(0, &c, 1) <= 0) stdin_open = false;
        }
        if (host_open && fds[0].revents) {
            ssize_t got = recv(conn, buffer, sizeof buffer, MSG_DONTWAIT);
            if (got > 0) {
                incoming.insert(incoming.end(), buffer, buffer + got);
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                host_open = false;
            }
        }
        return true;
    };

    for (;;) {
        if (!host_open || !stdin_open) {
            // Let the design finish what it is sending, then stop.
            if (tail == 0) tail = cycles + 40 * d;
            if (cycles >= tail) break;
        }
        // --- drive rx ---
        if (!sending && !have_byte && idle_left == 0 && !incoming.empty() && host_open) {
            const uint8_t byte = incoming.front();
            incoming.pop_front();
            for (;;) {
                rng = xorshift32(rng);
                if ((rng & 0xffu) >= p_gap) break;
                idle_left += d * (1 + (rng >> 8) % 3);
            }
            low_stop = inject.count(bytes_in) != 0;
            frame = static_cast<uint16_t>((byte << 1) | (low_stop ? 0 : 0x200));
            have_byte = true;
        }
        if (idle_left) {
            top->rx = 1;
            --idle_left;
        } else if (have_byte && !sending) {
            sending = true;
            bit = 0;
            bit_left = d;
        }
        if (sending) top->rx = (frame >> bit) & 1;
        top->eval();
        // --- sample tx (the value of this cycle) ---
        const bool tx = top->tx;
        if (!receiving) {
            if (!tx) {
                receiving = true;
                rx_start = cycles;
                rx_bit = 0;
                rx_byte = 0;
            }
        } else {
            const uint64_t t = cycles - rx_start;
            const uint64_t at = d + d / 2 + rx_bit * d;
            if (t == at) {
                if (rx_bit < 8) {
                    rx_byte |= static_cast<uint8_t>(tx) << rx_bit;
                    ++rx_bit;
                } else {
                    if (!tx) {
                        std::fprintf(stderr, "board_native: the design sent a frame with a "
                                             "low stop bit\n");
                        std::printf("stats %llu %llu %llu\n", (unsigned long long)cycles,
                                    (unsigned long long)bytes_in, (unsigned long long)bytes_out);
                        return 3;
                    }
                    outgoing.push_back(rx_byte);
                    ++bytes_out;
                    receiving = false;
                }
            }
        }
        const bool busy = top->busy;
        edge();
        if (sending && --bit_left == 0) {
            if (++bit == 10) {
                sending = have_byte = false;
                top->rx = 1;
                ++bytes_in;
                if (low_stop) idle_left += 2 * d;
            } else {
                bit_left = d;
            }
        }
        const bool active = sending || have_byte || idle_left || receiving || !tx || busy ||
                            !incoming.empty();
        quiet = active ? 0 : quiet + 1;
        if (tail) continue;
        if (quiet >= QUIET_CYCLES && quiet >= 12 * d) {
            // Quiet: nothing happens until the host sends; wait for it.
            while (host_open && stdin_open && incoming.empty())
                if (!pump(50)) return fail("poll");
            quiet = 0;
        } else if (cycles % IO_EVERY == 0 || outgoing.size() >= 4096) {
            if (!pump(0)) return fail("poll");
        }
    }
    if (!outgoing.empty() && host_open) send_all(conn, outgoing);
    close(conn);
    std::printf("stats %llu %llu %llu\n", (unsigned long long)cycles,
                (unsigned long long)bytes_in, (unsigned long long)bytes_out);
    return 0;
}
