// Behavioural model of the Lattice ECP5 sysDSP MULT18X18D, for simulating Verilog that
// instantiates it (the engine exported for the ECP5 stand-in). Written from the ECP5
// sysDSP usage guide (Lattice TN1267): P = A * B, each operand signed when its SIGNED
// input is high; A, B and P each registered or not by their REG_*_CLK parameter.
// Subset: registers on CLK0 only, no pipeline register, no cascade or shift chains
// (SOURCEA/SOURCEB must be 0), reset not used. Anything else stops the simulation, so
// a netlist this model does not describe cannot pass a test by accident.
module MULT18X18D(
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
    output P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
    output P1, P0
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [3:0] ce = {CE3, CE2, CE1, CE0};

    function integer ce_index(input [8*4-1:0] name);
        ce_index = name == "CE0" ? 0 : name == "CE1" ? 1 : name == "CE2" ? 2 : name == "CE3" ? 3 : -1;
    endfunction

    initial begin
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
                || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
                || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0")
                || REG_PIPELINE_CLK != "NONE" || MULT_BYPASS != "DISABLED"
                || ce_index(REG_INPUTA_CE) < 0 || ce_index(REG_INPUTB_CE) < 0
                || ce_index(REG_OUTPUT_CE) < 0) begin
            $display("MULT18X18D model: unsupported configuration in %m");
            $finish;
        end
    end

    reg [17:0] a_reg = 18'd0, b_reg = 18'd0;
    reg [35:0] p_reg = 36'd0;
    wire [17:0] a_in = REG_INPUTA_CLK == "CLK0" ? a_reg : a;
    wire [17:0] b_in = REG_INPUTB_CLK == "CLK0" ? b_reg : b;
    wire [35:0] a_ext = {{18{SIGNEDA & a_in[17]}}, a_in};
    wire [35:0] b_ext = {{18{SIGNEDB & b_in[17]}}, b_in};
    wire [35:0] product = a_ext * b_ext;   // the low 36 bits of the extended product
    wire [35:0] p = REG_OUTPUT_CLK == "CLK0" ? p_reg : product;

    always @(posedge CLK0) begin
        if (SOURCEA !== 1'b0 || SOURCEB !== 1'b0 || RST0 !== 1'b0) begin
            $display("MULT18X18D model: SOURCEA/SOURCEB/RST0 must be 0 in %m");
            $finish;
        end
        if (ce[ce_index(REG_INPUTA_CE)]) a_reg <= a;
        if (ce[ce_index(REG_INPUTB_CE)]) b_reg <= b;
        if (ce[ce_index(REG_OUTPUT_CE)]) p_reg <= product;
    end

    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
            P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
            P1, P0} = p;
endmodule
