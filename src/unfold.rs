//! How a crossbar layer's weights become crossbar matrices ("unfolding", PIMCOMP TCAD'24
//! Table IV), and how a window's input becomes a matrix's input vector.
//!
//! A convolution with `I` input channels, `O` output channels and a `KH x KW` kernel is
//! unfolded into `P` matrices of `H x W` with `H * W * P = I * O * KH * KW`. The five formats
//! differ in which of the kernel's axes go into rows, columns or separate matrices:
//!
//! | format    | matrices | rows (H)      | columns (W)   |
//! |-----------|----------|---------------|---------------|
//! | `IK2_O_1` | 1        | (kh, kw, ci)  | o             |
//! | `IK_O_K`  | KH       | (kw, ci)      | o             |
//! | `IK_OK_1` | 1        | (kw, ci)      | (kh, o)       |
//! | `I_O_K2`  | KH * KW  | ci            | o             |
//! | `I_OK2_1` | 1        | ci            | (kh, kw, o)   |
//!
//! Grouped convolutions are packed block-diagonally: `pack` consecutive groups share one set
//! of matrices, as if they were one dense convolution of `pack * I_g` inputs and
//! `pack * O_g` outputs whose weight is zero between different groups; a depthwise
//! convolution thus never becomes a dense zero-padded matrix. (The last pack may hold fewer
//! groups; its matrices are smaller.) A fully connected layer is `IK2_O_1` with a 1x1 kernel,
//! or, when it reads a flattened `[C, H, W]` feature map stored height-width-channel, with
//! an `H x W` kernel over `C` channels (the flattened map is one window of that kernel).
//!
//! [`Unfolding::tap`] is the weight reshaping (matrix element -> logical weight), and
//! [`WeightLayout`] maps the logical weight to the stored tensor; the simulator builds the
//! crossbar contents from the two, and the scheduler gathers input patches with
//! [`Unfolding::patch`].

use std::fmt;

/// One of the five unfolding formats.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// (I K^2, O, 1): one matrix, a window's whole patch per matrix-vector product.
    IK2_O_1,
    /// (I K, O, K): one matrix per kernel row.
    IK_O_K,
    /// (I K, O K, 1): kernel columns in rows, kernel rows in columns.
    IK_OK_1,
    /// (I, O, K^2): one matrix per kernel position.
    I_O_K2,
    /// (I, O K^2, 1): kernel positions in columns.
    I_OK2_1,
}

impl Format {
    pub const ALL: [Format; 5] = [Format::IK2_O_1, Format::IK_O_K, Format::IK_OK_1, Format::I_O_K2, Format::I_OK2_1];

    /// The name in IR and text (`ik2_o_1`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::IK2_O_1 => "ik2_o_1",
            Format::IK_O_K => "ik_o_k",
            Format::IK_OK_1 => "ik_ok_1",
            Format::I_O_K2 => "i_o_k2",
            Format::I_OK2_1 => "i_ok2_1",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Whether the kernel's axes all go into rows or separate matrices, so that every matrix
    /// of a pack computes the same outputs from a slice of one window's patch: the matrices
    /// of a pack sum into one product, like the row groups of one `IK2_O_1` matrix. (The
    /// other two formats put kernel positions into columns: one product per input pixel,
    /// added into several windows.)
    pub fn sums_matrices(self) -> bool {
        matches!(self, Format::IK2_O_1 | Format::IK_O_K | Format::I_O_K2)
    }

    /// The names, for messages.
    pub fn names() -> String {
        Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A logical weight: output channel `o` (over all groups), input channel `ci` within its
/// group, kernel position (`kh`, `kw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tap {
    pub o: u32,
    pub ci: u32,
    pub kh: u32,
    pub kw: u32,
}

/// Where a logical weight is in the stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// A convolution weight `[O, I_g, KH, KW]`.
    Oihw,
    /// A fully connected weight `[in, out]` (`transposed`: `[out, in]`); input feature
    /// `(ci * KH + kh) * KW + kw` (a flattened `[C, H, W]` map when the kernel is `H x W`).
    Fc { transposed: bool },
}

/// The geometry of a crossbar layer's matrices. All counts are positive (see [`Unfolding::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unfolding {
    pub format: Format,
    /// Kernel height and width (1x1 for a plain fully connected layer).
    pub kernel: [u32; 2],
    /// Input channels per group.
    pub in_channels: u32,
    /// Output channels per group.
    pub out_channels: u32,
    pub groups: u32,
    /// Groups packed into one set of matrices (1 ..= groups).
    pub pack: u32,
}

/// A piece of a matrix's input vector: `len` rows starting at row `at`, read from input
/// element `src` (None: zero padding). Input elements count in a height-width-channel map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub at: i64,
    pub len: i64,
    pub src: Option<i64>,
}

/// The input a conv layer reads: `channels` (all groups) x `height` x `width`, stored
/// height-width-channel, and the window walk over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    pub strides: [i64; 2],
    /// top, left (bottom and right padding follow from the output size).
    pub pads: [i64; 2],
    pub dilations: [i64; 2],
}

impl Unfolding {
    /// Checks that every count is positive and the packing is possible.
    pub fn new(
        format: Format,
        kernel: [u32; 2],
        in_channels: u32,
        out_channels: u32,
        groups: u32,
        pack: u32,
    ) -> Result<Unfolding, String> {
        if kernel[0] == 0 || kernel[1] == 0 || in_channels == 0 || out_channels == 0 || groups == 0 {
            return Err(format!(
                "kernel {}x{}, {in_channels} input and {out_channels} output channels per group, {groups} groups: all must be positive",
                kernel[0], kernel[1]
            ));
        }
        if pack == 0 || pack > groups {
            return Err(format!("pack = {pack} must be in 1..={groups} (the number of groups)"));
        }
        let u = Unfolding { format, kernel, in_channels, out_channels, groups, pack };
        // Every matrix dimension must be representable.
        let rows = u.kernel_area().checked_mul(u64::from(pack) * u64::from(in_channels));
        let cols = u.kernel_area().checked_mul(u64::from(pack) * u64::from(out_channels));
        if !matches!((rows, cols), (Some(r), Some(c)) if r <= u32::MAX as u64 && c <= u32::MAX as u64) {
            return Err("the layer's matrices are too large".into());
        }
        Ok(u)
    }

    /// A dense layer in today's default format (one matrix, rows (kh, kw, ci)).
    pub fn dense(kernel: [u32; 2], in_channels: u32, out_channels: u32) -> Result<Unfolding, String> {
        Unfolding::new(Format::IK2_O_1, kernel, in_channels, out_channels, 1, 1)
    }

    pub fn kernel_area(&self) -> u64 {
        u64::from(self.kernel[0]) * u64::from(self.kernel[1])
    }

    /// Sets of matrices (one per pack of groups).
    pub fn packs(&self) -> u32 {
        self.groups.div_ceil(self.pack)
    }

    /// Groups in pack `q`.
    pub fn groups_in_pack(&self, q: u32) -> u32 {
        self.pack.min(self.groups - q * self.pack)
    }

    /// Matrices per pack.
    pub fn matrices_per_pack(&self) -> u32 {
        match self.format {
            Format::IK2_O_1 | Format::IK_OK_1 | Format::I_OK2_1 => 1,
            Format::IK_O_K => self.kernel[0],
            Format::I_O_K2 => self.kernel[0] * self.kernel[1],
        }
    }

    /// All matrices of the layer.
    pub fn matrices(&self) -> u32 {
        self.packs() * self.matrices_per_pack()
    }

    /// (pack, matrix within the pack) of matrix `m`.
    fn split(&self, m: u32) -> (u32, u32) {
        (m / self.matrices_per_pack(), m % self.matrices_per_pack())
    }

    /// Rows and columns of matrix `m`.
    pub fn shape(&self, m: u32) -> (u32, u32) {
        let (q, _) = self.split(m);
        let g = self.groups_in_pack(q);
        let (i, o) = (g * self.in_channels, g * self.out_channels);
        let [kh, kw] = self.kernel;
        match self.format {
            Format::IK2_O_1 => (kh * kw * i, o),
            Format::IK_O_K => (kw * i, o),
            Format::IK_OK_1 => (kw * i, kh * o),
            Format::I_O_K2 => (i, o),
            Format::I_OK2_1 => (i, kh * kw * o),
        }
    }

    /// Rows and columns of the largest matrix (the first).
    pub fn max_shape(&self) -> (u32, u32) {
        self.shape(0)
    }

    /// Weights the layer holds (nonzero positions over all matrices).
    pub fn weights(&self) -> u64 {
        u64::from(self.groups) * u64::from(self.in_channels) * u64::from(self.out_channels) * self.kernel_area()
    }

    /// The logical weight at row `r`, column `c` of matrix `m`; None where the matrix holds a
    /// zero (between the groups of a pack). Rows and columns outside the matrix give None.
    pub fn tap(&self, m: u32, r: u32, c: u32) -> Option<Tap> {
        let (rows, cols) = self.shape(m);
        if m >= self.matrices() || r >= rows || c >= cols {
            return None;
        }
        let (q, p) = self.split(m);
        let g_in = self.groups_in_pack(q);
        let (ci_pack, co_pack) = (g_in * self.in_channels, g_in * self.out_channels);
        let [_, kw_n] = self.kernel;
        // (input channel within the pack, kh, kw) of the row; (output within the pack) of the
        // column, with the kernel positions the format puts there.
        let (c_in, kh_r, kw_r) = match self.format {
            Format::IK2_O_1 => (r % ci_pack, Some(r / (kw_n * ci_pack)), Some((r / ci_pack) % kw_n)),
            Format::IK_O_K => (r % ci_pack, Some(p), Some(r / ci_pack)),
            Format::IK_OK_1 => (r % ci_pack, None, Some(r / ci_pack)),
            Format::I_O_K2 => (r, Some(p / kw_n), Some(p % kw_n)),
            Format::I_OK2_1 => (r, None, None),
        };
        let (c_out, kh_c, kw_c) = match self.format {
            Format::IK2_O_1 | Format::IK_O_K | Format::I_O_K2 => (c, None, None),
            Format::IK_OK_1 => (c % co_pack, Some(c / co_pack), None),
            Format::I_OK2_1 => (c % co_pack, Some(c / (kw_n * co_pack)), Some((c / co_pack) % kw_n)),
        };
        let (gi, go) = (c_in / self.in_channels, c_out / self.out_channels);
        if gi != go {
            return None;
        }
        let group = q * self.pack + gi;
        Some(Tap {
            o: group * self.out_channels + c_out % self.out_channels,
            ci: c_in % self.in_channels,
            kh: kh_r.or(kh_c).unwrap_or(0),
            kw: kw_r.or(kw_c).unwrap_or(0),
        })
    }

    /// Units of work: the sets of matrices whose products add into one output vector. A pack
    /// in the formats that sum matrices ([`Format::sums_matrices`]), else each matrix.
    pub fn units(&self) -> u32 {
        if self.format.sums_matrices() {
            self.packs()
        } else {
            self.matrices()
        }
    }

    /// The unit of matrix `m`.
    pub fn unit_of(&self, m: u32) -> u32 {
        if self.format.sums_matrices() {
            self.split(m).0
        } else {
            m
        }
    }

    /// The first matrix of unit `u` (its channels are the unit's).
    pub fn first_matrix(&self, u: u32) -> u32 {
        if self.format.sums_matrices() {
            u * self.matrices_per_pack()
        } else {
            u
        }
    }

    /// Rows and columns of unit `u`: in the formats that sum matrices, its matrices stacked
    /// in row order, which is `IK2_O_1`'s (kh, kw, channel) order; else the matrix's.
    pub fn unit_shape(&self, u: u32) -> (u32, u32) {
        if !self.format.sums_matrices() {
            return self.shape(u);
        }
        let g = self.groups_in_pack(u);
        (self.kernel[0] * self.kernel[1] * g * self.in_channels, g * self.out_channels)
    }

    /// The row of its unit that row `r` of matrix `m` is: matrix `p` of a pack holds kernel
    /// row `p` (`IK_O_K`) or kernel position `p` (`I_O_K2`), contiguous in (kh, kw, channel).
    pub fn unit_row(&self, m: u32, r: u32) -> u32 {
        let (_, p) = self.split(m);
        p * self.shape(m).0 + r
    }

    /// The first input channel (over all groups) that matrix `m` reads, and how many.
    pub fn input_channels_of(&self, m: u32) -> (u32, u32) {
        let (q, _) = self.split(m);
        (q * self.pack * self.in_channels, self.groups_in_pack(q) * self.in_channels)
    }

    /// The first output channel (over all groups) that matrix `m` produces, and how many.
    pub fn output_channels_of(&self, m: u32) -> (u32, u32) {
        let (q, _) = self.split(m);
        (q * self.pack * self.out_channels, self.groups_in_pack(q) * self.out_channels)
    }

    /// The input vector of unit `u` for output window (`oh`, `ow`), as load and zero segments
    /// in the unit's row order ([`Unfolding::unit_shape`]); matrix `m` of the unit reads it
    /// from row [`Unfolding::unit_row`]`(m, 0)`. Only the formats that sum matrices read a
    /// window per product (None for the others, which read an input pixel per product).
    pub fn patch(&self, u: u32, w: &Window, oh: i64, ow: i64) -> Option<Vec<Segment>> {
        if !self.format.sums_matrices() {
            return None;
        }
        let (c0, ch) = self.input_channels_of(self.first_matrix(u));
        let (c0, ch) = (i64::from(c0), i64::from(ch));
        let [kh_n, kw_n] = [i64::from(self.kernel[0]), i64::from(self.kernel[1])];
        let mut out = vec![];
        for kh in 0..kh_n {
            let ih = oh * w.strides[0] - w.pads[0] + kh * w.dilations[0];
            let base = kh * kw_n * ch;
            if ih < 0 || ih >= w.height {
                push_segment(&mut out, Segment { at: base, len: kw_n * ch, src: None });
                continue;
            }
            for kw in 0..kw_n {
                let iw = ow * w.strides[1] - w.pads[1] + kw * w.dilations[1];
                let src = (iw >= 0 && iw < w.width).then_some((ih * w.width + iw) * w.channels + c0);
                push_segment(&mut out, Segment { at: base + kw * ch, len: ch, src });
            }
        }
        Some(out)
    }
}

/// Appends a segment, merging it with the last when both are padding or both read
/// consecutive input elements into consecutive rows.
pub fn push_segment(v: &mut Vec<Segment>, s: Segment) {
    if s.len <= 0 {
        return;
    }
    if let Some(last) = v.last_mut() {
        let contiguous = last.at + last.len == s.at;
        match (last.src, s.src) {
            (None, None) if contiguous => {
                last.len += s.len;
                return;
            }
            (Some(a), Some(b)) if contiguous && a + last.len == b => {
                last.len += s.len;
                return;
            }
            _ => {}
        }
    }
    v.push(s);
}

/// Restricts segments to rows `[lo, hi)`.
pub fn clip(segs: &[Segment], lo: i64, hi: i64) -> Vec<Segment> {
    let mut out = vec![];
    for s in segs {
        let a = s.at.max(lo);
        let b = (s.at + s.len).min(hi);
        if a < b {
            out.push(Segment { at: a, len: b - a, src: s.src.map(|x| x + (a - s.at)) });
        }
    }
    out
}

impl WeightLayout {
    /// The element of the stored tensor holding `t`, for a layer unfolded by `u`; the tensor's
    /// expected shape is [`WeightLayout::shape`].
    pub fn offset(self, u: &Unfolding, t: Tap) -> usize {
        let [kh_n, kw_n] = [u.kernel[0] as usize, u.kernel[1] as usize];
        let (ci_n, o_n) = (u.in_channels as usize, (u.out_channels * u.groups) as usize);
        let (o, ci, kh, kw) = (t.o as usize, t.ci as usize, t.kh as usize, t.kw as usize);
        match self {
            WeightLayout::Oihw => ((o * ci_n + ci) * kh_n + kh) * kw_n + kw,
            WeightLayout::Fc { transposed } => {
                let feature = (ci * kh_n + kh) * kw_n + kw;
                let features = ci_n * kh_n * kw_n;
                if transposed {
                    o * features + feature
                } else {
                    feature * o_n + o
                }
            }
        }
    }

    /// The shape the stored tensor must have.
    pub fn shape(self, u: &Unfolding) -> Vec<i64> {
        let o = i64::from(u.out_channels) * i64::from(u.groups);
        let [kh, kw] = [i64::from(u.kernel[0]), i64::from(u.kernel[1])];
        let i = i64::from(u.in_channels);
        match self {
            WeightLayout::Oihw => vec![o, i, kh, kw],
            WeightLayout::Fc { transposed: false } => vec![i * kh * kw, o],
            WeightLayout::Fc { transposed: true } => vec![o, i * kh * kw],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every logical weight lands exactly once over all matrices, for every format and packing.
    #[test]
    fn every_weight_is_placed_once() {
        for format in Format::ALL {
            for (kernel, ci, co, groups, pack) in [
                ([3, 3], 4, 5, 1, 1),
                ([3, 2], 2, 3, 1, 1),
                ([3, 3], 1, 1, 7, 3),
                ([1, 1], 3, 2, 4, 4),
                ([2, 3], 2, 2, 5, 2),
            ] {
                let u = Unfolding::new(format, kernel, ci, co, groups, pack).unwrap();
                let mut seen = HashSet::new();
                let mut cells = 0u64;
                for m in 0..u.matrices() {
                    let (rows, cols) = u.shape(m);
                    cells += u64::from(rows) * u64::from(cols);
                    for r in 0..rows {
                        for c in 0..cols {
                            if let Some(t) = u.tap(m, r, c) {
                                assert!(t.o < co * groups && t.ci < ci && t.kh < kernel[0] && t.kw < kernel[1]);
                                assert!(seen.insert(t), "{format} {t:?} twice");
                            }
                        }
                    }
                }
                assert_eq!(seen.len() as u64, u.weights(), "{format} {kernel:?} g{groups} p{pack}");
                // Dense layers fill their matrices; packed ones hold zeros only between groups.
                let per_pack_zero = u64::from(pack.min(groups)) > 1;
                assert!(per_pack_zero || cells == u.weights(), "{format}: {cells} cells");
                assert_eq!(u.tap(0, u.shape(0).0, 0), None);
            }
        }
    }

    #[test]
    fn today_s_format_has_rows_kernel_row_column_channel() {
        let u = Unfolding::dense([3, 3], 4, 8).unwrap();
        assert_eq!(u.shape(0), (36, 8));
        // Row (kh * 3 + kw) * 4 + ci.
        assert_eq!(u.tap(0, (2 * 3 + 1) * 4 + 3, 5), Some(Tap { o: 5, ci: 3, kh: 2, kw: 1 }));
        let t = Tap { o: 5, ci: 3, kh: 2, kw: 1 };
        assert_eq!(WeightLayout::Oihw.offset(&u, t), ((5 * 4 + 3) * 3 + 2) * 3 + 1);
    }

    #[test]
    fn a_depthwise_conv_packs_without_dense_padding() {
        // 32 channels, 3x3: 14 groups per matrix of 126 x 14 instead of 288 x 32 dense.
        let u = Unfolding::new(Format::IK2_O_1, [3, 3], 1, 1, 32, 14).unwrap();
        assert_eq!((u.matrices(), u.shape(0), u.shape(2)), (3, (126, 14), (36, 4)));
        // Row order (kh, kw, channel of the pack): a pixel's channels are contiguous.
        assert_eq!(u.tap(0, 9 * 14 - 1, 13), Some(Tap { o: 13, ci: 0, kh: 2, kw: 2 }));
        assert_eq!(u.tap(0, 9 * 14 - 1, 12), None);
        assert_eq!(u.tap(1, 0, 0).map(|t| t.o), Some(14));
    }

    #[test]
    fn patches_cover_padding_with_zero_segments() {
        let u = Unfolding::dense([3, 3], 2, 4).unwrap();
        let w = Window { channels: 2, height: 4, width: 4, strides: [1, 1], pads: [1, 1], dilations: [1, 1] };
        let segs = u.patch(0, &w, 0, 0).unwrap();
        // Top row padding (6 rows), then for each of two kernel rows: 2 zero rows, 4 loaded.
        assert_eq!(
            segs,
            vec![
                Segment { at: 0, len: 8, src: None },
                Segment { at: 8, len: 4, src: Some(0) },
                Segment { at: 12, len: 2, src: None },
                Segment { at: 14, len: 4, src: Some(8) },
            ]
        );
        let u2 = Unfolding::new(Format::I_OK2_1, [3, 3], 2, 4, 1, 1).unwrap();
        assert_eq!(u2.patch(0, &w, 0, 0), None);
    }

    /// In the formats that sum matrices, a unit's rows are `IK2_O_1`'s: the same patch, and
    /// every matrix row is the unit row whose tap it holds.
    #[test]
    fn units_stack_matrices_in_patch_order() {
        let w = Window { channels: 6, height: 5, width: 5, strides: [1, 1], pads: [1, 1], dilations: [1, 1] };
        let dense = Unfolding::new(Format::IK2_O_1, [3, 2], 2, 2, 3, 2).unwrap();
        for f in [Format::IK2_O_1, Format::IK_O_K, Format::I_O_K2] {
            let u = Unfolding::new(f, [3, 2], 2, 2, 3, 2).unwrap();
            assert_eq!(u.units(), 2);
            for unit in 0..u.units() {
                assert_eq!(u.unit_shape(unit), dense.shape(unit), "{f}");
                assert_eq!(u.patch(unit, &w, 1, 2), dense.patch(unit, &w, 1, 2), "{f}");
            }
            for m in 0..u.matrices() {
                let unit = u.unit_of(m);
                assert_eq!(u.input_channels_of(m), dense.input_channels_of(unit));
                let (rows, cols) = u.shape(m);
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(u.tap(m, r, c), dense.tap(unit, u.unit_row(m, r), c), "{f} m{m} r{r} c{c}");
                    }
                }
            }
        }
        let cols = Unfolding::new(Format::IK_OK_1, [3, 3], 2, 4, 1, 1).unwrap();
        assert_eq!((cols.units(), cols.unit_of(0), cols.unit_shape(0)), (1, 0, (6, 12)));
    }

    #[test]
    fn fc_over_a_flattened_map_reads_features_channel_major() {
        // fc over a flattened [2, 3, 3] map: kernel 3x3 over 2 channels, rows in HWC order.
        let u = Unfolding::dense([3, 3], 2, 5).unwrap();
        let (h, w, c) = (1, 2, 1);
        let row = (h * 3 + w) * 2 + c;
        let t = u.tap(0, row, 4).unwrap();
        assert_eq!((t.ci, t.kh, t.kw), (1, 1, 2));
        // ONNX feature c * H * W + h * W + w = 9 + 3 + 2 = 14, in an [in, out] weight.
        assert_eq!(WeightLayout::Fc { transposed: false }.offset(&u, t), 14 * 5 + 4);
        assert_eq!(WeightLayout::Fc { transposed: true }.offset(&u, t), 4 * 18 + 14);
    }

    #[test]
    fn bad_geometry_is_an_error() {
        assert!(Unfolding::new(Format::IK2_O_1, [0, 3], 1, 1, 1, 1).is_err());
        assert!(Unfolding::new(Format::IK2_O_1, [3, 3], 1, 1, 2, 3).unwrap_err().contains("pack = 3"));
        assert!(Unfolding::new(Format::IK2_O_1, [65536, 65536], 65536, 1, 1, 1).is_err());
    }
}
