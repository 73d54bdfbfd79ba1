//! Crossbar layers in the formats that put kernel positions into columns (`i_ok2_1`,
//! `ik_ok_1`): one product per input pixel (`i_ok2_1`: the pixel's channels) or per input
//! row and output column (`ik_ok_1`: a kernel row of pixels), whose columns hold what the
//! input contributes to every window it falls in. The owner adds each kernel position's
//! slice into that window's accumulator. So every input element is loaded once per replica
//! (the windows' overlap is in the columns, not in the loads), and a window of a K x K kernel
//! over `I` channels costs ceil(I / rows) products instead of ceil(K^2 I / rows), for as many
//! crossbars; the price is K^2 (or K) vector adds per product.
//!
//! The accumulators are a ring of output rows: row `oh` opens (zeros) before the first input
//! row that reaches it and closes (bias, activation, store) after the last, and `R` slots
//! hold every row open at once. Input rows go in blocks of `stride x R` rows, so that a
//! block is the previous one shifted and the rows are one loop; the products of a row go in
//! blocks of the column stride (`i_ok2_1`) for the same reason. Helpers (cores with other
//! row groups of the unit) keep a ring of their own and, as each output row closes, send its
//! windows to the owner, which adds them before the bias: one transfer of an output row per
//! helper, instead of one of every product's K^2 partial sums (ResNet-18's 512-channel layers
//! sent 9x the bytes, and their owners waited on it: 46 us a window against 5 us of product).

use super::crossbar::{add_groups, owner_setup, LayerSetup, OwnerSetup, Products};
use super::{inst, repeat, Emitter};
use crate::graph::NodeId;
use crate::isa::{Addr, Inst, Stmt, VecOp};
use crate::sched::tasks::Task;
use crate::sched::SchedError;
use crate::unfold::{clip, push_segment, Format, Segment};

/// The first and last input rows that reach an output row (None: only padding does).
type Span = Option<(i64, i64)>;

/// What a product adds to one window: the unit's columns from `col` (one output vector)
/// into window (`oh`, `ow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    col: i64,
    oh: i64,
    ow: i64,
}

/// The walk of one task: the layer's geometry and the windows `[w0, w1)` of its replica.
#[derive(Debug, Clone, Copy)]
struct Walk {
    format: Format,
    kernel: [i64; 2],
    strides: [i64; 2],
    pads: [i64; 2],
    dilations: [i64; 2],
    /// Input height, width and channels (all groups).
    h: i64,
    w: i64,
    c: i64,
    /// Output rows and windows per row.
    oh_n: i64,
    ow_n: i64,
    /// Output channels of the unit, and its input channels.
    o_u: i64,
    c_first: i64,
    c_count: i64,
    w0: i64,
    w1: i64,
    /// The windows products add into: the task's (`w0..w1`), or the whole layer's when it
    /// streams a stripe (see [`Task::Layer::stream`]).
    cover: (i64, i64),
    /// The output columns of its windows (a stripe's, or every column).
    cols: (i64, i64),
}

impl Walk {
    fn covered(&self, oh: i64, ow: i64) -> bool {
        (self.cover.0..self.cover.1).contains(&(oh * self.ow_n + ow)) && (self.cols.0..self.cols.1).contains(&ow)
    }

    /// The output position that input position `x` reaches through kernel tap `k` on axis
    /// `a` (0 rows, 1 columns), if any.
    fn out(&self, a: usize, x: i64, k: i64) -> Option<i64> {
        let n = x + self.pads[a] - k * self.dilations[a];
        let s = self.strides[a].max(1);
        let limit = if a == 0 { self.oh_n } else { self.ow_n };
        (n >= 0 && n % s == 0 && n / s < limit).then_some(n / s)
    }

    /// Products per input row: its pixels (`i_ok2_1`), or the output columns (`ik_ok_1`).
    fn products_per_row(&self) -> i64 {
        match self.format {
            Format::I_OK2_1 => self.w,
            _ => self.ow_n,
        }
    }

    /// Products per block of a row: consecutive blocks reach the same taps, shifted.
    fn block(&self) -> i64 {
        match self.format {
            Format::I_OK2_1 => self.strides[1].max(1),
            _ => 1,
        }
    }

    /// Where product `j` of input row `ih` goes, in the task's windows.
    fn targets(&self, ih: i64, j: i64) -> Vec<Target> {
        let mut t = vec![];
        for kh in 0..self.kernel[0] {
            let Some(oh) = self.out(0, ih, kh) else { continue };
            match self.format {
                Format::I_OK2_1 => {
                    for kw in 0..self.kernel[1] {
                        if let Some(ow) = self.out(1, j, kw).filter(|&ow| self.covered(oh, ow)) {
                            t.push(Target { col: (kh * self.kernel[1] + kw) * self.o_u, oh, ow });
                        }
                    }
                }
                _ => {
                    if self.covered(oh, j) {
                        t.push(Target { col: kh * self.o_u, oh, ow: j });
                    }
                }
            }
        }
        t
    }

    /// The input vector of product `j` of input row `ih`, as segments in matrix rows
    /// (input elements count in the height-width-channel map).
    fn input(&self, ih: i64, j: i64) -> Vec<Segment> {
        let pixel = |iw: i64| (ih * self.w + iw) * self.c + self.c_first;
        match self.format {
            Format::I_OK2_1 => vec![Segment { at: 0, len: self.c_count, src: Some(pixel(j)) }],
            _ => {
                let mut v = vec![];
                for kw in 0..self.kernel[1] {
                    let iw = j * self.strides[1] - self.pads[1] + kw * self.dilations[1];
                    let src = (0..self.w).contains(&iw).then(|| pixel(iw));
                    push_segment(&mut v, Segment { at: kw * self.c_count, len: self.c_count, src });
                }
                v
            }
        }
    }

    /// Input elements from one block of products to the next.
    fn block_shift(&self) -> i64 {
        match self.format {
            Format::I_OK2_1 => self.block() * self.c,
            _ => self.strides[1].max(1) * self.c,
        }
    }

    /// What decides the instructions of block `q` of input row `ih` (its products' targets
    /// and input rows `[lo, hi)`), up to the shift from block to block, and with output rows
    /// counted from `oh_off` and input elements from `src_off`: two blocks with equal
    /// signatures are one another shifted, so a run of them is a loop.
    fn block_sig(&self, ih: i64, q: i64, (lo, hi): (i64, i64), (oh_off, src_off): (i64, i64)) -> Vec<i64> {
        let (n, blk) = (self.products_per_row(), self.block());
        let mut v = vec![];
        for j in q * blk..((q + 1) * blk).min(n) {
            v.push(i64::MIN);
            let t = self.targets(ih, j);
            for x in &t {
                v.extend([x.col, x.oh - oh_off, x.ow - q]);
            }
            if t.is_empty() {
                continue;
            }
            v.push(i64::MIN + 1);
            for sg in clip(&self.input(ih, j), lo, hi) {
                v.extend([sg.at, sg.len, sg.src.map_or(i64::MIN, |x| x - q * self.block_shift() - src_off)]);
            }
        }
        v
    }

    /// The blocks of input row `ih` as runs `(first block, blocks, any product)` of equal
    /// signatures.
    fn block_runs(&self, ih: i64, rows: (i64, i64)) -> Vec<(i64, i64, bool)> {
        let blocks = (self.products_per_row() + self.block() - 1) / self.block();
        let mut runs: Vec<(i64, i64, bool)> = vec![];
        let mut last: Option<Vec<i64>> = None;
        for q in 0..blocks {
            let sig = self.block_sig(ih, q, rows, (0, 0));
            match runs.last_mut() {
                Some(r) if last.as_ref() == Some(&sig) => r.1 += 1,
                _ => {
                    let any = (q * self.block()..((q + 1) * self.block()).min(self.products_per_row()))
                        .any(|j| !self.targets(ih, j).is_empty());
                    runs.push((q, 1, any));
                    last = Some(sig);
                }
            }
        }
        runs
    }

    /// The first and last input rows that reach output row `oh` (None: only padding does).
    fn span(&self, oh: i64) -> Option<(i64, i64)> {
        let rows = (0..self.kernel[0])
            .map(|kh| oh * self.strides[0] - self.pads[0] + kh * self.dilations[0])
            .filter(|ih| (0..self.h).contains(ih));
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for ih in rows {
            lo = lo.min(ih);
            hi = hi.max(ih);
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// The output rows of the task's windows.
    fn out_rows(&self) -> (i64, i64) {
        if self.w1 <= self.w0 {
            return (0, 0);
        }
        (self.w0 / self.ow_n, (self.w1 - 1) / self.ow_n + 1)
    }

    /// The covered windows of output row `oh`, as a column range.
    fn row_cols(&self, oh: i64) -> (i64, i64) {
        let a = (self.w0 - oh * self.ow_n).clamp(0, self.ow_n).max(self.cols.0);
        let b = (self.w1 - oh * self.ow_n).clamp(0, self.ow_n).min(self.cols.1);
        (a, b.max(a))
    }
}

impl Emitter<'_> {
    /// One task of a layer in a column format (see the module).
    pub(crate) fn scatter_task(&mut self, i: NodeId, s: &LayerSetup, task: &Task) -> Result<(), SchedError> {
        let Task::Layer { core, replica, unit, groups, windows, owner, helpers, stream } = task else {
            return Err(SchedError::at(i, "not a layer task"));
        };
        let Some(win) = s.window else {
            return Err(SchedError::at(i, "a fully connected layer has no kernel positions to put in columns"));
        };
        let crate::graph::Op::Conv2d(conv) = &self.g.nodes[i].op else {
            return Err(SchedError::at(i, "not a convolution"));
        };
        let eb = self.eb;
        let u = s.unfolding;
        let m = u.first_matrix(*unit);
        let (rows, cols) = u.shape(m);
        let (rows, cols) = (i64::from(rows), i64::from(cols));
        let (col0, o_u) = u.output_channels_of(m);
        let (c_first, c_count) = u.input_channels_of(m);
        let out_cols = i64::from(u.groups) * i64::from(u.out_channels);
        let walk = Walk {
            format: u.format,
            kernel: conv.kernel,
            strides: win.strides,
            pads: win.pads,
            dilations: win.dilations,
            h: win.height,
            w: win.width,
            c: win.channels,
            oh_n: s.out_hw.0,
            ow_n: s.out_hw.1,
            o_u: i64::from(o_u),
            c_first: i64::from(c_first),
            c_count: i64::from(c_count),
            w0: windows.0 as i64,
            w1: windows.1 as i64,
            cover: if stream.is_some() { (0, s.out_hw.0 * s.out_hw.1) } else { (windows.0 as i64, windows.1 as i64) },
            cols: stream.map_or((0, s.out_hw.1), |(a, b)| (a as i64, b as i64)),
        };
        // A streamed band goes on from the input row its stripe's previous band reached,
        // when that band ended where this one starts.
        let key = (*core, i, *replica, *unit);
        let resume = stream
            .and_then(|st| self.streams.get(&key).filter(|p| p.cover == st && p.end == windows.0).map(|p| p.next_ih));
        let (col0, o_u) = (i64::from(col0), i64::from(o_u));
        let l = &self.m.layers[&i];
        let specs = l.groups();
        let is_owner = core == owner;
        let name = s.name.clone();
        let cb = self.core(*core);
        let ag_ids = add_groups(cb, s, *replica, &specs, groups);
        let first = specs[groups[0]];
        let last = specs[*groups.last().expect("a task holds a group")];
        let (lo, hi) = (i64::from(first.row_begin), i64::from(last.row_begin + last.rows));
        let group_rows: Vec<i64> = groups.iter().map(|&gi| i64::from(specs[gi].row_begin)).collect();
        let patch = cb.buf(&format!("{name}.patch"), rows * eb);
        let prod = cb.buf(&format!("{name}.acc"), cols * eb);
        let partials: Vec<u32> = (1..groups.len()).map(|k| cb.buf(&format!("{name}.psum{k}"), cols * eb)).collect();

        // Output rows, the input rows that reach them, and the ring's size.
        let (oh0, oh1) = walk.out_rows();
        let own: Vec<Option<(i64, i64)>> = (oh0..oh1).map(|oh| walk.span(oh)).collect();
        let (ih0, ih1) = own.iter().flatten().fold((i64::MAX, i64::MIN), |(a, b), &(x, y)| (a.min(x), b.max(y)));
        // The input rows this task multiplies: from where its stripe's previous band stopped.
        let ih_s = resume.map_or(ih0, |n| n.max(ih0));
        // The rows it works on: (row, span, its own) -- its own, and when it streams, the
        // rows ahead that its input rows reach (the stripe's next bands close them).
        let mut rows: Vec<(i64, Span, bool)> =
            own.iter().enumerate().map(|(k, &sp)| (oh0 + k as i64, sp, true)).collect();
        let row_bytes = walk.ow_n * o_u * eb;
        let (acc, ring) = if stream.is_some() {
            if ih0 <= ih1 {
                rows.extend(
                    (oh1..walk.oh_n)
                        .filter_map(|oh| walk.span(oh).filter(|&(a, _)| a <= ih1).map(|sp| (oh, Some(sp), false))),
                );
            }
            // One ring for the whole stripe, outside the band's scope: the rows open at
            // once anywhere in it.
            let spans: Vec<(i64, i64)> = (0..walk.oh_n).filter_map(|oh| walk.span(oh)).collect();
            let ring = (0..walk.h)
                .map(|ih| spans.iter().filter(|&&(a, z)| a <= ih && ih <= z).count() as i64)
                .max()
                .unwrap_or(1)
                .max(1);
            let scope = cb.scope.take();
            let acc = cb.buf(&format!("{name}.r{replica}.u{unit}.stream"), ring * row_bytes);
            cb.scope = scope;
            (acc, ring)
        } else {
            let ring = (ih0..=ih1)
                .map(|ih| own.iter().flatten().filter(|&&(a, b)| a <= ih && ih <= b).count() as i64)
                .max()
                .unwrap_or(0)
                .max(1);
            // Every core of the unit adds its products into a ring of its own.
            (cb.buf(&format!("{name}.rows"), ring * row_bytes), ring)
        };
        let recv = (is_owner && !helpers.is_empty()).then(|| cb.buf(&format!("{name}.recv"), row_bytes));
        let setup = if is_owner {
            owner_setup(cb, s, col0, o_u, eb)
        } else {
            OwnerSetup { bias: None, act: None, residual: None }
        };
        // A fused residual goes in by rows when the unit has every channel (a row's windows
        // are then contiguous in the output, and in the ring).
        let row_residual = setup.residual.is_some() && o_u == out_cols;
        if row_residual {
            // (The owner's residual buffer, grown to a row.)
            self.core(*core).buf(&format!("{name}.res"), row_bytes);
        }
        let slot = |oh: i64| oh.rem_euclid(ring) * row_bytes;
        let vec_op = |op: VecOp, rd: Addr, rs1: Addr, rs2: Option<Addr>, len: i64| {
            inst(Inst::Vec { op, rd, rs1, rs2, len: len as u32 })
        };

        // Row `oh` opens: zeros in its slot.
        let open = |oh: i64| -> Vec<Stmt> {
            vec![inst(Inst::Lldi { rd: Addr::local(acc, slot(oh)), size: row_bytes as u32, value: 0.0 })]
        };
        // Row `oh` closes: a helper sends its windows to the owner (when some product
        // reached the row); the owner adds the helpers' and then, per window, the bias and
        // activation, and stores the row.
        let close = |oh: i64, d: u8, reached: bool| -> Vec<Stmt> {
            let (c0, c1) = walk.row_cols(oh);
            let at = |ow: i64| slot(oh) + ow * o_u * eb;
            let (mine, len) = (Addr::local(acc, at(c0)), (c1 - c0) * o_u);
            let mut b = vec![];
            if reached && len > 0 {
                if !is_owner {
                    return vec![inst(Inst::Send { rs1: mine, core: *owner, size: (len * eb) as u32 })];
                }
                for h in helpers {
                    let rb = Addr::local(recv.expect("an owner with helpers has a receive buffer"), 0);
                    b.push(inst(Inst::Recv { rd: rb.clone(), core: *h, size: (len * eb) as u32 }));
                    b.push(vec_op(VecOp::Vvadd, mine.clone(), mine.clone(), Some(rb), len));
                }
            }
            if !is_owner {
                return vec![];
            }
            // A fused residual: the row's windows in one load when they are contiguous.
            if row_residual && len > 0 {
                b.extend(setup.add_residual(mine.clone(), (oh * walk.ow_n + c0) * out_cols + col0, len, eb));
            }
            b.extend(repeat(d, c1 - c0, &|k, _| {
                let x = Addr::local(acc, at(c0 + k));
                let mut v = vec![];
                if let Some(bb) = setup.bias {
                    v.push(vec_op(VecOp::Vvadd, x.clone(), x.clone(), Some(Addr::local(bb, 0)), o_u));
                }
                if !row_residual {
                    v.extend(setup.add_residual(x.clone(), (oh * walk.ow_n + c0 + k) * out_cols + col0, o_u, eb));
                }
                if let Some((prog, bufs)) = &setup.act {
                    v.extend(prog.apply_at(bufs, acc, at(c0 + k), o_u as u32));
                }
                if let Some(op) = s.act_prog.as_ref().and_then(|p| p.single()) {
                    v.push(vec_op(op, x.clone(), x, None, o_u));
                }
                v
            }));
            let store = |ow: i64, n: i64| {
                inst(Inst::St {
                    rd: Addr::global(s.out_g, ((oh * walk.ow_n + ow) * out_cols + col0) * eb),
                    rs1: Addr::local(acc, at(ow)),
                    size: (n * o_u * eb) as u32,
                })
            };
            if o_u == out_cols {
                // The unit has every channel: the row's windows are contiguous.
                if c1 > c0 {
                    b.push(store(c0, c1 - c0));
                }
            } else {
                b.extend(repeat(d, c1 - c0, &|k, _| vec![store(c0 + k, 1)]));
            }
            b
        };
        // Product `j` of input row `ih`: the loads, the products, their partial sums, and
        // the adds into the windows.
        let product = |ih: i64, j: i64| -> Vec<Stmt> {
            let targets = walk.targets(ih, j);
            if targets.is_empty() {
                return vec![];
            }
            let mut b = vec![];
            for sg in clip(&walk.input(ih, j), lo, hi) {
                let rd = Addr::local(patch, sg.at * eb);
                let size = (sg.len * eb) as u32;
                b.push(inst(match sg.src {
                    Some(src) => Inst::Ld { rd, rs1: Addr::global(s.in_g, src * eb), size },
                    None => Inst::Lldi { rd, size, value: 0.0 },
                }));
            }
            let groups = Products { patch, group_rows: &group_rows, ag_ids: &ag_ids, sum: prod, partials: &partials };
            b.extend(groups.emit(cols, eb, false, self.arch.weight_bits));
            for t in targets {
                let dst = Addr::local(acc, slot(t.oh) + t.ow * o_u * eb);
                b.push(vec_op(VecOp::Vvadd, dst.clone(), dst, Some(Addr::local(prod, t.col * eb)), o_u));
            }
            b
        };
        // Input row `ih`: the rows it opens, its products in blocks, the (own) rows it closes.
        let input_row = |ih: i64, d: u8| -> Vec<Stmt> {
            let mut b = vec![];
            for &(oh, sp, _) in &rows {
                if sp.is_some_and(|(a, _)| a == ih) {
                    b.extend(open(oh));
                }
            }
            let blk = walk.block();
            for (q0, len, any) in walk.block_runs(ih, (lo, hi)) {
                if any {
                    b.extend(repeat(d, len, &|k, _| {
                        let q = q0 + k;
                        (q * blk..((q + 1) * blk).min(walk.products_per_row())).flat_map(|j| product(ih, j)).collect()
                    }));
                }
            }
            for &(oh, sp, mine) in &rows {
                if mine && sp.is_some_and(|(_, z)| z == ih) {
                    b.extend(close(oh, d, true));
                }
            }
            b
        };
        let mut out = vec![];
        for &(oh, sp, mine) in &rows {
            match sp {
                // Rows that only padding reaches are their bias and activation.
                None if mine => {
                    out.extend(open(oh));
                    out.extend(close(oh, 0, false));
                }
                // Own rows whose input earlier bands of the stripe multiplied are complete.
                Some((_, z)) if mine && z < ih_s => out.extend(close(oh, 0, true)),
                _ => {}
            }
        }
        if ih_s <= ih1 {
            // Blocks of `stride x ring` input rows: the next block reaches rows `ring` further,
            // which are in the same slots. Runs of blocks with equal signatures are loops.
            let period = walk.strides[0].max(1) * ring;
            let blocks = (ih1 - ih_s + period) / period;
            let rows_of = |q: i64| ih_s + q * period..(ih_s + (q + 1) * period).min(ih1 + 1);
            let row_sig = |q: i64| -> Vec<i64> {
                let (oh_off, src_off) = (q * ring, q * period * walk.w * walk.c);
                let mut v = vec![];
                for ih in rows_of(q) {
                    v.push(i64::MIN);
                    for &(oh, sp, mine) in &rows {
                        if let Some((a, z)) = sp {
                            let (c0, c1) = walk.row_cols(oh);
                            let closes = mine && z == ih;
                            if a == ih || closes {
                                v.extend([oh - oh_off, i64::from(a == ih), i64::from(closes), c0, c1]);
                            }
                        }
                    }
                    v.push(i64::MIN + 1);
                    for (q0, len, _) in walk.block_runs(ih, (lo, hi)) {
                        v.extend([q0, len]);
                        v.extend(walk.block_sig(ih, q0, (lo, hi), (oh_off, src_off)));
                    }
                }
                v
            };
            let mut q = 0;
            while q < blocks {
                let sig = row_sig(q);
                let mut len = 1;
                while q + len < blocks && row_sig(q + len) == sig {
                    len += 1;
                }
                let q0 = q;
                out.extend(repeat(0, len, &|k, d| rows_of(q0 + k).flat_map(|ih| input_row(ih, d)).collect()));
                q += len;
            }
        }
        self.core(*core).emit(out);
        if let Some(st) = *stream {
            let next_ih = if ih0 <= ih1 { ih_s.max(ih1 + 1) } else { resume.unwrap_or(0) };
            self.streams.insert(key, Stream { cover: st, end: windows.1, next_ih });
        }
        Ok(())
    }
}

/// Where a core's stream of a stripe stands (see [`Task::Layer::stream`]): its stripe's
/// columns, the end of the last band it computed, and the first input row it has not
/// multiplied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    cover: (u64, u64),
    end: u64,
    next_ih: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(format: Format, stride: i64) -> Walk {
        // 3x3, pad 1, over 6x6 with 2 channels: 6x6 outputs at stride 1, 3x3 at stride 2.
        let o = (6 + 2 - 3) / stride + 1;
        Walk {
            format,
            kernel: [3, 3],
            strides: [stride; 2],
            pads: [1, 1],
            dilations: [1, 1],
            h: 6,
            w: 6,
            c: 2,
            oh_n: o,
            ow_n: o,
            o_u: 4,
            c_first: 0,
            c_count: 2,
            w0: 0,
            w1: o * o,
            cover: (0, o * o),
            cols: (0, o),
        }
    }

    /// Every (window, kernel tap) whose tap lies in the input is reached by exactly one
    /// product, at the tap's columns.
    #[test]
    fn products_reach_every_window_tap_once() {
        for format in [Format::I_OK2_1, Format::IK_OK_1] {
            for stride in [1, 2] {
                let w = walk(format, stride);
                let mut seen = std::collections::BTreeMap::new();
                for ih in 0..w.h {
                    for j in 0..w.products_per_row() {
                        for t in w.targets(ih, j) {
                            *seen.entry((t.oh, t.ow, t.col)).or_insert(0) += 1;
                        }
                    }
                }
                let mut want = 0;
                for oh in 0..w.oh_n {
                    for ow in 0..w.ow_n {
                        for kh in 0..3 {
                            let ih = oh * stride - 1 + kh;
                            for kw in 0..3 {
                                let iw = ow * stride - 1 + kw;
                                let inside = (0..6).contains(&ih) && (0..6).contains(&iw);
                                if format == Format::I_OK2_1 && inside {
                                    want += 1;
                                    assert_eq!(seen.get(&(oh, ow, (kh * 3 + kw) * 4)), Some(&1), "{format} s{stride}");
                                }
                            }
                            if format == Format::IK_OK_1 && (0..6).contains(&ih) {
                                want += 1;
                                assert_eq!(seen.get(&(oh, ow, kh * 4)), Some(&1), "{format} s{stride}");
                            }
                        }
                    }
                }
                assert_eq!(seen.len(), want);
            }
        }
    }

    #[test]
    fn a_kernel_row_product_reads_zeros_for_padding() {
        let w = walk(Format::IK_OK_1, 1);
        // Output column 0 of input row 2: kw 0 is padding, kw 1..2 pixels 0..1.
        assert_eq!(
            w.input(2, 0),
            vec![Segment { at: 0, len: 2, src: None }, Segment { at: 2, len: 4, src: Some(2 * 6 * 2) }]
        );
        assert_eq!(w.span(0), Some((0, 1)));
        assert_eq!(w.row_cols(1), (0, 6));
    }
}
