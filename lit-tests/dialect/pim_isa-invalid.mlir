// RUN: pim-opt %s --split-input-file --verify-diagnostics

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {addr = 0 : i64, name = "v", size = 16 : i64} : () -> index
    affine.for %arg0 = 0 to 5 {
      %1 = affine.apply affine_map<(d0)[s0] -> (d0 * 4 + s0)>(%arg0)[%0]
      // expected-error@+2 {{core 0: vrelu destination (4 bytes at offsets 0..16) is outside buffer '@v' of 16 bytes}}
      // expected-error@+1 {{core 0: vrelu source (4 bytes at offsets 0..16) is outside buffer '@v' of 16 bytes}}
      "pim_isa.vrelu"(%1, %1) {len = 2 : i64} : (index, index) -> ()
    }
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {name = "v", size = 16 : i64} : () -> index
    // expected-error@+1 {{array group 2 is not in this core's table (0 groups)}}
    "pim_isa.mvmul"(%0, %0) {group = 2 : i64, mbiw = 0 : i64, relu = false} : (index, index) -> ()
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {name = "v", size = 16 : i64} : () -> index
    affine.for %arg0 = 0 to 4 {
      // expected-error@+1 {{address must be a linear function of loop counters (no mod/div/products)}}
      %1 = affine.apply affine_map<(d0)[s0] -> (d0 mod 2 + s0)>(%arg0)[%0]
      "pim_isa.vrelu"(%1, %1) {len = 1 : i64} : (index, index) -> ()
    }
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    // expected-error@+1 {{unknown global buffer 'nowhere'}}
    %0 = "pim_isa.global_addr"() {name = "nowhere"} : () -> index
    return
  }
}

// -----

module {
  // expected-error@+1 {{core 500 does not exist: the architecture has 144 cores}}
  func.func @core500() attributes {pim.core = 500 : i64} {
    return
  }
}

// -----

module {
  // expected-error@+1 {{a function in a pim_isa module must be a core (attribute 'pim.core = N')}}
  func.func @helper() {
    return
  }
  func.func @core0() attributes {pim.core = 0 : i64} {
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {name = "v", size = 16 : i64} : () -> index
    // expected-error@+1 {{core 0: send names core 7, which has no program}}
    "pim_isa.send"(%0) {core = 7 : i64, size = 16 : i64} : (index) -> ()
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    // expected-error@+1 {{op attribute "size" is expected but not provided}}
    %0 = "pim_isa.buffer"() {name = "v"} : () -> index
    return
  }
}

// -----

module {
  // expected-error@+1 {{fc layer 'fc' has rows=100, but hwc=4x4x4 makes 64}}
  "pim_isa.layer"() {cols = 10 : i64, hwc = array<i64: 4, 4, 4>, kind = "fc", name = "fc", rows = 100 : i64, transposed = true, weight = "w"} : () -> ()
  func.func @core0() attributes {pim.core = 0 : i64} {
    return
  }
}

// -----

module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {name = "v", size = 16 : i64} : () -> index
    %1 = affine.apply affine_map<()[s0] -> (s0 + 3)>()[%0]
    // expected-error@+1 {{core 0: vrelu destination address is not a multiple of the element size 2}}
    "pim_isa.vrelu"(%1, %0) {len = 2 : i64} : (index, index) -> ()
    return
  }
}

// -----

// Operands are in the memory the instruction table says, as in the .pim reader.
module {
  func.func @core0() attributes {pim.core = 0 : i64} {
    %0 = "pim_isa.buffer"() {name = "v", size = 16 : i64} : () -> index
    // expected-error@+1 {{the global source of 'pim_isa.ld' must be in a global buffer (pim_isa.global_addr), not in a local one}}
    "pim_isa.ld"(%0, %0) {size = 8 : i64} : (index, index) -> ()
    return
  }
}


// -----

module {
  // expected-error@+1 {{core 0: a core function takes no arguments and returns nothing}}
  func.func @core0(%arg: index) attributes {pim.core = 0 : i64} {
    return
  }
}
