// Behavioural model of the Lattice ECP5 sysMEM block RAM DP16KD, for simulating Verilog
// that instantiates it (the engine exported for the ECP5 stand-in). Written from the
// ECP5 memory usage guide (Lattice TN1264) for the one form the engine uses, the
// 512 x 36 pseudo-dual port: port A writes, port B reads, both DATA_WIDTH 36.
//   A word is {DIB, DIA} and {DOB, DOA}; ADA[13:5] and ADB[13:5] address it; ADA[3:0]
//   enable its four 9-bit bytes on a write ({DIB[17:9], DIB[8:0], DIA[17:9], DIA[8:0]}).
//   Port B latches the word at its clock edge. With REGMODE "OUTREG" the output
//   registers pass it on at the next edge, so data follows its address by two cycles,
//   else by one; DOA leaves port A's output register (REGMODE_A, OCEA), DOB port B's
//   (REGMODE_B, OCEB), so the two REGMODEs must agree (nextpnr sets both from a
//   PDPW16KD's one REGMODE).
// A read of the word port A writes at the same edge gives x: the block does not promise
// old or new data there, so a design that uses such a word fails its tests on this model.
// Subset: chip selects decoded as 0b000 and held low, no resets, port B never writes,
// all four byte enables equal. Anything else stops the simulation. Initial contents are
// zero (the INITVAL parameters are not read).
module DP16KD(
    input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6,
    input DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
    input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
    output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
    output DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6,
    input DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
    input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
    output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
    output DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter GSR = "ENABLED";

    localparam WORDS = 512;

    initial begin
        if (DATA_WIDTH_A != 36 || DATA_WIDTH_B != 36 || REGMODE_A != REGMODE_B
                || (REGMODE_B != "NOREG" && REGMODE_B != "OUTREG")
                || CSDECODE_A != "0b000" || CSDECODE_B != "0b000") begin
            $display("DP16KD model: unsupported configuration in %m");
            $finish;
        end
    end

    wire [35:0] din = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7,
                       DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
                       DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7,
                       DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [8:0] write_word = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5};
    wire [3:0] byte_enables = {ADA3, ADA2, ADA1, ADA0};
    wire [8:0] read_word = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5};
    wire writing = CEA && WEA && byte_enables == 4'b1111;

    reg [35:0] array [0:WORDS-1];
    reg [35:0] latched = 36'd0, output_register = 36'd0;
    integer i;
    initial for (i = 0; i < WORDS; i = i + 1) array[i] = 36'd0;

    always @(posedge CLKA) begin
        if (CSA0 !== 1'b0 || CSA1 !== 1'b0 || CSA2 !== 1'b0 || RSTA !== 1'b0
                || (byte_enables !== 4'b0000 && byte_enables !== 4'b1111)) begin
            $display("DP16KD model: chip selects, RSTA and partial byte enables not modelled in %m");
            $finish;
        end
        if (writing) array[write_word] <= din;
    end

    always @(posedge CLKB) begin
        if (CSB0 !== 1'b0 || CSB1 !== 1'b0 || CSB2 !== 1'b0 || RSTB !== 1'b0 || WEB !== 1'b0) begin
            $display("DP16KD model: chip selects, RSTB and writes on port B not modelled in %m");
            $finish;
        end
        if (CEB) latched <= writing && write_word == read_word ? 36'bx : array[read_word];
        if (OCEA) output_register[17:0] <= latched[17:0];
        if (OCEB) output_register[35:18] <= latched[35:18];
    end

    wire [35:0] dout = REGMODE_B == "OUTREG" ? output_register : latched;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5,
            DOB4, DOB3, DOB2, DOB1, DOB0,
            DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5,
            DOA4, DOA3, DOA2, DOA1, DOA0} = dout;
endmodule
