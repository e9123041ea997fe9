// SPDX-License-Identifier: BSD-2-Clause
//
// Test harness of the generated `accelerator`: it streams a command program into the design
// and captures the response stream, at simulator speed, so that no testbench language sits in
// the per-cycle loop.
//
// On each rising `start`, the harness reads the program from the file named by the plusarg
// +src=<file> ($readmemh: one 32-bit hex word per line) and streams `src_len` words into
// `cmd`, with an idle cycle whenever an xorshift32 draw falls below `p_idle`/256. Response
// words are accepted unless a second draw falls below `p_stall`/256, stored, and written to
// the file named by +sink=<file> ($writememh) when the run ends. A run ends when every command
// word has been taken and the design has been idle, with no response pending, for 16 cycles
// (`resp_count` says how many responses came), or after `max_cycles` (`timeout`). `cycles`
// counts from start to the last word transferred in either direction.
//
// With `ACCEL_AXI defined (and `ACCEL_AXI_DATA_WIDTH, the weight word), the accelerator reads
// its weights over AXI4 and the harness passes its read channels through as ports m_axi_*,
// where the cocotb bench attaches a memory (cocotbext-axi's AxiRamRead). Then the clock is an
// input, driven by cocotb: with the clock made inside the simulator, Verilator evaluates an edge
// before cocotb's callback for it runs, so a cocotb model would sample the signals after the
// edge and miss every one-cycle handshake (AxiRamRead never saw an AR).
`default_nettype none

module accel_harness #(
    parameter SRC_DEPTH = 4096,
    parameter SINK_DEPTH = 4096
) (
`ifdef ACCEL_AXI
    input  wire        clk,
`endif
    input  wire        rst,
    input  wire        start,
    input  wire [31:0] src_len,
    input  wire [7:0]  p_idle,
    input  wire [7:0]  p_stall,
    input  wire [31:0] seed,
    input  wire [31:0] max_cycles,
    output reg         done,
    output reg         timeout,
    output reg  [31:0] cycles,
    output reg  [31:0] resp_count,
`ifdef ACCEL_AXI
    output wire        m_axi_arid,
    output wire [31:0] m_axi_araddr,
    output wire [7:0]  m_axi_arlen,
    output wire [2:0]  m_axi_arsize,
    output wire [1:0]  m_axi_arburst,
    output wire        m_axi_arvalid,
    input  wire        m_axi_arready,
    input  wire        m_axi_rid,
    input  wire [`ACCEL_AXI_DATA_WIDTH-1:0] m_axi_rdata,
    input  wire [1:0]  m_axi_rresp,
    input  wire        m_axi_rlast,
    input  wire        m_axi_rvalid,
    output wire        m_axi_rready,
`endif
    output wire [7:0]  errors
);
`ifndef ACCEL_AXI
    // The clock runs inside the simulator: no testbench language is called on any edge.
    reg clk = 1'b0;
    always #5 clk = ~clk;
`endif

    reg [31:0] src [0:SRC_DEPTH-1];
    reg [31:0] sink [0:SINK_DEPTH-1];
    reg [1023:0] src_file;
    reg [1023:0] sink_file;
    reg [31:0] rd_ptr;
    reg [31:0] now;
    reg [31:0] rng;
    reg [4:0]  quiet;
    reg        running;
    reg        start_q;

    wire        cmd_ready, resp_valid, busy;
    wire [31:0] resp_payload;
    wire [7:0]  dut_errors;             // len(golden.contract.isa.ErrorFlag)
    assign errors = dut_errors;

    wire [31:0] x1 = rng ^ (rng << 13);
    wire [31:0] x2 = x1 ^ (x1 >> 17);
    wire [31:0] x3 = x2 ^ (x2 << 5);
    wire idle  = x3[7:0] < p_idle;
    wire stall = x3[15:8] < p_stall;

    wire        cmd_valid   = running && (rd_ptr < src_len) && !idle;
    wire [31:0] cmd_payload = src[rd_ptr];
    wire        resp_ready  = running && !stall;

    accelerator dut (
        .clk(clk), .rst(rst),
        .cmd__valid(cmd_valid), .cmd__ready(cmd_ready), .cmd__payload(cmd_payload),
        .resp__valid(resp_valid), .resp__ready(resp_ready), .resp__payload(resp_payload),
`ifdef ACCEL_AXI
        .m_axi_arid(m_axi_arid), .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen),
        .m_axi_arsize(m_axi_arsize), .m_axi_arburst(m_axi_arburst),
        .m_axi_arvalid(m_axi_arvalid), .m_axi_arready(m_axi_arready), .m_axi_rid(m_axi_rid),
        .m_axi_rdata(m_axi_rdata), .m_axi_rresp(m_axi_rresp), .m_axi_rlast(m_axi_rlast),
        .m_axi_rvalid(m_axi_rvalid), .m_axi_rready(m_axi_rready),
`endif
        .errors(dut_errors), .busy(busy)
    );

    initial begin
        if (!$value$plusargs("src=%s", src_file)) src_file = "program.hex";
        if (!$value$plusargs("sink=%s", sink_file)) sink_file = "response.hex";
    end

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            done <= 1'b0;
            timeout <= 1'b0;
            start_q <= 1'b0;
            cycles <= 32'd0;
            now <= 32'd0;
            resp_count <= 32'd0;
            rd_ptr <= 32'd0;
            quiet <= 5'd0;
        end else begin
            start_q <= start;
            if (start && !start_q) begin
                $readmemh(src_file, src);
                running <= 1'b1;
                done <= 1'b0;
                timeout <= 1'b0;
                rng <= seed | 32'd1;
                rd_ptr <= 32'd0;
                resp_count <= 32'd0;
                cycles <= 32'd0;
                now <= 32'd0;
                quiet <= 5'd0;
            end else if (running) begin
                rng <= x3;
                now <= now + 32'd1;
                if ((cmd_valid && cmd_ready) || (resp_valid && resp_ready))
                    cycles <= now + 32'd1;
                if (cmd_valid && cmd_ready)
                    rd_ptr <= rd_ptr + 32'd1;
                if (resp_valid && resp_ready) begin
                    if (resp_count < SINK_DEPTH)
                        sink[resp_count] <= resp_payload;
                    resp_count <= resp_count + 32'd1;
                end
                if (rd_ptr == src_len && !busy && !resp_valid)
                    quiet <= quiet + 5'd1;
                else
                    quiet <= 5'd0;
                if (quiet == 5'd16 || now == max_cycles) begin
                    running <= 1'b0;
                    done <= 1'b1;
                    timeout <= (quiet != 5'd16);
                    if (resp_count != 0)
                        $writememh(sink_file, sink, 0, resp_count - 1);
                end
            end
        end
    end
endmodule

`default_nettype wire
