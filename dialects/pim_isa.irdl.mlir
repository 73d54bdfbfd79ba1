// The `pim_isa` dialect: per-core instruction streams of the PIM ISA (arXiv 2308.06449).
//
// Each core's program is a `func.func @coreN` whose body declares the core's array groups
// (`pim_isa.ag`) and local buffers (`pim_isa.buffer`), then lists instructions. Addresses are
// `index` values: buffer bases, `arith.constant`s and `affine.apply` of enclosing `affine.for`
// counters, so a regular schedule stays a loop instead of a million ops. Crossbar contents
// (`pim_isa.layer`) and global memory (`pim_isa.global`) are declared at module level.
// Vector lengths count elements; memory and transfer sizes count bytes. Documented in
// pim_isa.md; the same program as text is the `.pim` format (docs/pim-text.md).
irdl.dialect @pim_isa {
  irdl.operation @layer {
    %name_attr = irdl.base "#builtin.string"
    %kind_attr = irdl.base "#builtin.string"
    %weight_attr = irdl.base "#builtin.string"
    %rows_attr = irdl.base "#builtin.integer"
    %cols_attr = irdl.base "#builtin.integer"
    irdl.attributes {"name" = %name_attr, "kind" = %kind_attr, "weight" = %weight_attr, "rows" = %rows_attr, "cols" = %cols_attr}
  }
  irdl.operation @global {
    %name_attr = irdl.base "#builtin.string"
    %size_attr = irdl.base "#builtin.integer"
    irdl.attributes {"name" = %name_attr, "size" = %size_attr}
  }
  irdl.operation @ag {
    %index_attr = irdl.base "#builtin.integer"
    %layer_attr = irdl.base "#builtin.string"
    %replica_attr = irdl.base "#builtin.integer"
    %row_begin_attr = irdl.base "#builtin.integer"
    %rows_attr = irdl.base "#builtin.integer"
    %xbars_attr = irdl.base "#builtin.integer"
    irdl.attributes {"index" = %index_attr, "layer" = %layer_attr, "replica" = %replica_attr, "row_begin" = %row_begin_attr, "rows" = %rows_attr, "xbars" = %xbars_attr}
  }
  irdl.operation @buffer {
    %addr = irdl.is index
    %name_attr = irdl.base "#builtin.string"
    %size_attr = irdl.base "#builtin.integer"
    irdl.results(addr: %addr)
    irdl.attributes {"name" = %name_attr, "size" = %size_attr}
  }
  irdl.operation @global_addr {
    %addr = irdl.is index
    %name_attr = irdl.base "#builtin.string"
    irdl.results(addr: %addr)
    irdl.attributes {"name" = %name_attr}
  }
  irdl.operation @nop {
  }
  irdl.operation @task {
    %op_attr = irdl.base "#builtin.string"
    irdl.attributes {"op" = %op_attr}
  }
  irdl.operation @comment {
    %text_attr = irdl.base "#builtin.string"
    %trailing_attr = irdl.base "#builtin.integer"
    irdl.attributes {"text" = %text_attr, "trailing" = %trailing_attr}
  }
  irdl.operation @setbw {
    %ibiw_attr = irdl.base "#builtin.integer"
    %obiw_attr = irdl.base "#builtin.integer"
    irdl.attributes {"ibiw" = %ibiw_attr, "obiw" = %obiw_attr}
  }
  irdl.operation @sldi {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @sld {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @sadd {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @ssub {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @smul {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @saddi {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @smuli {
    %rd_attr = irdl.base "#builtin.integer"
    %rs1_attr = irdl.base "#builtin.integer"
    %rs2_attr = irdl.base "#builtin.integer"
    %imm_attr = irdl.base "#builtin.integer"
    irdl.attributes {"rd" = %rd_attr, "rs1" = %rs1_attr, "rs2" = %rs2_attr, "imm" = %imm_attr}
  }
  irdl.operation @mvmul {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %group_attr = irdl.base "#builtin.integer"
    %relu_attr = irdl.base "#builtin.integer"
    %mbiw_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"group" = %group_attr, "relu" = %relu_attr, "mbiw" = %mbiw_attr}
  }
  irdl.operation @vvadd {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvsub {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvmul {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvdmul {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvmax {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvsll {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvsra {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vavg {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vrelu {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vtanh {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vsigm {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vrsu {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vrsl {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vvdiv {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %rs2 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1, rs2: %rs2)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vexp {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vlog {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr}
  }
  irdl.operation @vmv {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %len_attr = irdl.base "#builtin.integer"
    %stride_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"len" = %len_attr, "stride" = %stride_attr}
  }
  irdl.operation @ld {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %size_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"size" = %size_attr}
  }
  irdl.operation @st {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %size_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"size" = %size_attr}
  }
  irdl.operation @lmv {
    %rd = irdl.is index
    %rs1 = irdl.is index
    %size_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd, rs1: %rs1)
    irdl.attributes {"size" = %size_attr}
  }
  irdl.operation @lldi {
    %rd = irdl.is index
    %size_attr = irdl.base "#builtin.integer"
    %value_attr = irdl.base "#builtin.float"
    irdl.operands(rd: %rd)
    irdl.attributes {"size" = %size_attr, "value" = %value_attr}
  }
  irdl.operation @send {
    %rs1 = irdl.is index
    %core_attr = irdl.base "#builtin.integer"
    %size_attr = irdl.base "#builtin.integer"
    irdl.operands(rs1: %rs1)
    irdl.attributes {"core" = %core_attr, "size" = %size_attr}
  }
  irdl.operation @recv {
    %rd = irdl.is index
    %core_attr = irdl.base "#builtin.integer"
    %size_attr = irdl.base "#builtin.integer"
    irdl.operands(rd: %rd)
    irdl.attributes {"core" = %core_attr, "size" = %size_attr}
  }
  irdl.operation @wait {
    %event_attr = irdl.base "#builtin.integer"
    %value_attr = irdl.base "#builtin.integer"
    irdl.attributes {"event" = %event_attr, "value" = %value_attr}
  }
  irdl.operation @sync {
    %event_attr = irdl.base "#builtin.integer"
    %core_attr = irdl.base "#builtin.integer"
    irdl.attributes {"event" = %event_attr, "core" = %core_attr}
  }
}
