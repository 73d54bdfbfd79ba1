//! Bit-accurate crossbars (`pim-sim --numerics=bit-accurate`): what an analog array computes
//! from quantized weights and bit-serial inputs, as the architecture's precisions allow.
//!
//! - Weights: quantized symmetrically per layer to `weight_bits` (`q = round(w / s)`, `s` =
//!   the layer's largest magnitude over `2^(weight_bits-1) - 1`); the positive and negative
//!   parts go to separate arrays; each magnitude is sliced into cells of `cell_bits`, lowest
//!   slice first.
//! - Inputs: quantized the same way per input vector to `input_bits` (the program's `setbw`
//!   width, else the architecture's activation width); positive and negative parts are driven
//!   separately, each magnitude bit-serially through DACs of `dac_bits`.
//! - Per crossbar (`xbar_rows` rows of the group), per DAC step, per weight slice and array:
//!   a column's current, the sum of input slice times cell value, is read by an ADC of
//!   `adc_bits`, which clips it to `2^adc_bits - 1`; the shift-adder weighs it by
//!   `2^(dac step * dac_bits + slice * cell_bits)` and the signs of array and input, and
//!   adds. The result is scaled back to a real value (`s_x * s_w`).
//!
//! Without clipping this is exactly the integer dot product of the quantized values; the ADC
//! is where precision is lost beyond quantization.

use crate::arch::Arch;
use crate::diag::{Error, Result};

/// The precisions of the crossbars and their converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Precision {
    pub weight_bits: u32,
    /// Input width when the program sets none (`setbw`).
    pub input_bits: u32,
    /// Input width whatever the program sets (to study narrower inputs).
    pub input_override: Option<u32>,
    pub cell_bits: u32,
    pub dac_bits: u32,
    pub adc_bits: u32,
    /// Rows of one crossbar: each is read by its own ADCs.
    pub xbar_rows: usize,
}

impl Precision {
    pub fn of(arch: &Arch) -> Precision {
        let m = &arch.core.matrix;
        Precision {
            weight_bits: arch.weight_bits,
            input_bits: arch.activation_bits,
            input_override: None,
            cell_bits: m.cell_precision,
            dac_bits: m.dac_resolution,
            adc_bits: m.adc_resolution,
            xbar_rows: m.xbar_size[0] as usize,
        }
    }

    /// The widths this model computes with (two's magnitudes of at most 31 bits).
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: u32, range: &str| {
            Err(Error::new(format!("bit-accurate numerics: {what} is {v}; expected {range}")))
        };
        if !(2..=24).contains(&self.weight_bits) {
            return bad("the weight width", self.weight_bits, "2..24 bits");
        }
        if !(2..=24).contains(&self.input_bits) {
            return bad("the input width", self.input_bits, "2..24 bits");
        }
        if let Some(b) = self.input_override.filter(|b| !(2..=24).contains(b)) {
            return bad("the input width", b, "2..24 bits");
        }
        if !(1..=8).contains(&self.cell_bits) {
            return bad("cell_precision", self.cell_bits, "1..8 bits");
        }
        if !(1..=8).contains(&self.dac_bits) {
            return bad("dac_resolution", self.dac_bits, "1..8 bits");
        }
        if !(1..=24).contains(&self.adc_bits) {
            return bad("adc_resolution", self.adc_bits, "1..24 bits");
        }
        if self.xbar_rows == 0 {
            return bad("the crossbar's rows", 0, "at least 1");
        }
        // A column current (32 bits here) of a whole crossbar.
        let current = (self.xbar_rows as u128) * ((1u128 << self.dac_bits) - 1) * ((1u128 << self.cell_bits) - 1);
        if current > u128::from(u32::MAX) {
            return Err(Error::new(format!(
                "bit-accurate numerics: a crossbar of {} rows with {}-bit DACs and {}-bit cells can sum {current} in a column, beyond the 32 bits modelled",
                self.xbar_rows, self.dac_bits, self.cell_bits
            )));
        }
        Ok(())
    }

    /// Array groups of `rows` rows keep their sums within the 64-bit accumulator: at most
    /// `rows * (2^(weight_bits-1) - 1) * (2^(input_bits-1) - 1)` in magnitude.
    pub fn check_rows(&self, rows: u64) -> Result<()> {
        // The program's setbw may ask for up to 24 bits unless the width is forced.
        let input = self.input_override.unwrap_or(24);
        let most = u128::from(rows) * ((1u128 << (self.weight_bits - 1)) - 1) * ((1u128 << (input - 1)) - 1);
        if most >= 1u128 << 62 {
            return Err(Error::new(format!(
                "bit-accurate numerics: array groups of {rows} rows at {}-bit weights and {input}-bit inputs overflow the 64-bit accumulator",
                self.weight_bits
            )));
        }
        Ok(())
    }

    /// Weight slices per array.
    pub fn weight_slices(&self) -> usize {
        (self.weight_bits - 1).div_ceil(self.cell_bits) as usize
    }
}

/// An array group's weights as cells: for each row, for each (slice, array), the cells of
/// every column (`cells[(row * planes + plane) * cols + col]`, plane = slice * 2 + array,
/// array 0 positive, 1 negative).
#[derive(Debug, Clone)]
pub struct Quantized {
    pub rows: usize,
    pub cols: usize,
    pub precision: Precision,
    /// The step compiled for this group's shape (`--engine=jit`), else the interpreter's.
    pub jit: Option<StepFn>,
    /// Real value of one weight step.
    pub scale: f32,
    planes: usize,
    cells: Vec<u8>,
}

/// The step of symmetric quantization to `bits` for values up to `max_abs`.
pub fn step(max_abs: f32, bits: u32) -> f32 {
    let levels = ((1u64 << (bits - 1)) - 1) as f32;
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / levels
    } else {
        1.0
    }
}

/// Quantizes `rows` x `cols` weights `w` (row-major) with step `scale`.
pub fn quantize(w: &[f32], rows: usize, cols: usize, scale: f32, p: &Precision) -> Quantized {
    let slices = p.weight_slices();
    let planes = slices * 2;
    let max = ((1i64 << (p.weight_bits - 1)) - 1) as f32;
    let mask = (1u32 << p.cell_bits) - 1;
    let mut cells = vec![0u8; rows * planes * cols];
    for r in 0..rows {
        for c in 0..cols {
            let q = (w[r * cols + c] / scale).round().clamp(-max, max) as i64;
            let (array, mag) = if q < 0 { (1, (-q) as u32) } else { (0, q as u32) };
            for s in 0..slices {
                let cell = (mag >> (s as u32 * p.cell_bits)) & mask;
                cells[(r * planes + s * 2 + array) * cols + c] = cell as u8;
            }
        }
    }
    Quantized { rows, cols, precision: *p, jit: None, scale, planes, cells }
}

/// One crossbar's step, compiled for one array group's shape and the precisions
/// ([`super::jit`]): `(cells, digits, rows, acc, shift, sign, scratch)` adds to `acc[c]`,
/// for every plane, `sign_plane * min(sum_r digits[r] * cells[r][plane][c], adc_max) <<
/// (shift + plane's slice * cell_bits)`, as [`step_interpreted`] does; `scratch` holds the
/// currents (`planes * cols` of 32 bits, 4-byte aligned).
pub type StepFn = unsafe extern "C" fn(*const u8, *const u32, u32, *mut i64, u32, i64, *mut u8);

/// One `mvmul` through the crossbars: `out[c] = sum_r x[r] * w[r][c]`, as the converters
/// compute it, with inputs quantized to `input_bits`; through `jit` when given (the same
/// integers, so the same result to the bit).
pub fn mvmul(q: &Quantized, x: &[f32], input_bits: u32, p: &Precision, out: &mut [f32], jit: Option<StepFn>) {
    let (rows, cols, planes) = (q.rows, q.cols, q.planes);
    let xmax = x[..rows].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let sx = step(xmax, input_bits);
    let imax = ((1i64 << (input_bits - 1)) - 1) as f32;
    let xq: Vec<i32> = x[..rows].iter().map(|v| (v / sx).round().clamp(-imax, imax) as i32).collect();
    let in_slices = (input_bits - 1).div_ceil(p.dac_bits);
    let dac_mask = (1u32 << p.dac_bits) - 1;
    let mut acc = vec![0i64; cols];
    let mut current = vec![0u32; planes * cols];
    let mut digits = vec![0u32; p.xbar_rows.min(rows)];
    for chunk in (0..rows).step_by(p.xbar_rows) {
        let end = (chunk + p.xbar_rows).min(rows);
        let cells = &q.cells[chunk * planes * cols..end * planes * cols];
        for polarity in [1i64, -1] {
            let mag = |r: usize| -> u32 {
                let v = xq[r];
                if (v > 0 && polarity > 0) || (v < 0 && polarity < 0) {
                    v.unsigned_abs()
                } else {
                    0
                }
            };
            if (chunk..end).all(|r| mag(r) == 0) {
                continue;
            }
            for step in 0..in_slices {
                for (d, r) in digits.iter_mut().zip(chunk..end) {
                    *d = (mag(r) >> (step * p.dac_bits)) & dac_mask;
                }
                let n = end - chunk;
                let shift = step * p.dac_bits;
                match jit {
                    // SAFETY: the kernel was compiled for this group's columns and planes and
                    // reads `n` digits, `n` rows of cells and writes `cols` accumulators and
                    // `planes * cols` currents, the lengths of these slices.
                    Some(f) => unsafe {
                        f(
                            cells.as_ptr(),
                            digits.as_ptr(),
                            n as u32,
                            acc.as_mut_ptr(),
                            shift,
                            polarity,
                            current.as_mut_ptr().cast::<u8>(),
                        )
                    },
                    None => step_interpreted(q, p, cells, &digits[..n], &mut current, &mut acc, shift, polarity),
                }
            }
        }
    }
    let s = sx * q.scale;
    for (o, &a) in out.iter_mut().zip(&acc) {
        *o = a as f32 * s;
    }
}

/// One DAC step of one crossbar: the column currents of every plane from the rows' input
/// digits, read by the ADC (clipped), shifted and added with the plane's sign.
#[allow(clippy::too_many_arguments)]
fn step_interpreted(
    q: &Quantized,
    p: &Precision,
    cells: &[u8],
    digits: &[u32],
    current: &mut [u32],
    acc: &mut [i64],
    shift: u32,
    polarity: i64,
) {
    let (cols, planes) = (q.cols, q.planes);
    let adc_max = adc_max(p);
    current.iter_mut().for_each(|v| *v = 0);
    for (r, &d) in digits.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let row = &cells[r * planes * cols..(r + 1) * planes * cols];
        for (i, &cell) in current.iter_mut().zip(row) {
            *i += d * u32::from(cell);
        }
    }
    for plane in 0..planes {
        let (slice, array) = (plane / 2, plane % 2);
        let shift = shift + slice as u32 * p.cell_bits;
        let sign = if array == 0 { polarity } else { -polarity };
        for (a, &i) in acc.iter_mut().zip(&current[plane * cols..(plane + 1) * cols]) {
            *a += sign * (i64::from(i.min(adc_max)) << shift);
        }
    }
}

/// The largest reading of the ADC.
pub fn adc_max(p: &Precision) -> u32 {
    if p.adc_bits >= 31 {
        u32::MAX
    } else {
        (1u32 << p.adc_bits) - 1
    }
}

/// The same cells (whichever engine computes with them).
impl PartialEq for Quantized {
    fn eq(&self, o: &Quantized) -> bool {
        (self.rows, self.cols, self.precision, self.scale, self.planes)
            == (o.rows, o.cols, o.precision, o.scale, o.planes)
            && self.cells == o.cells
    }
}

/// Planes of a quantized group: (weight slice, array) pairs.
impl Quantized {
    pub fn planes(&self) -> usize {
        self.planes
    }
}

/// How far bit-accurate outputs are from reference ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    pub max_abs: f32,
    /// `max_abs` over the largest reference magnitude.
    pub max_rel: f32,
    /// `||got - want|| / ||want||`.
    pub rel_l2: f32,
    /// Both have their largest element at the same index.
    pub same_argmax: bool,
}

impl Deviation {
    pub fn between(got: &[f32], want: &[f32]) -> Deviation {
        let mut max_abs = 0.0f32;
        let (mut d2, mut w2, mut wmax) = (0.0f64, 0.0f64, 0.0f32);
        for (&g, &w) in got.iter().zip(want) {
            let d = (g - w).abs();
            max_abs = max_abs.max(d);
            d2 += f64::from(d) * f64::from(d);
            w2 += f64::from(w) * f64::from(w);
            wmax = wmax.max(w.abs());
        }
        let argmax = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        Deviation {
            max_abs,
            max_rel: if wmax > 0.0 { max_abs / wmax } else { max_abs },
            rel_l2: if w2 > 0.0 { (d2 / w2).sqrt() as f32 } else { d2.sqrt() as f32 },
            same_argmax: argmax(got) == argmax(want),
        }
    }
}

impl std::fmt::Display for Deviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "max |error| {:.3e} ({:.2}% of the largest value), relative L2 error {:.3e}, {} argmax",
            self.max_abs,
            100.0 * self.max_rel,
            self.rel_l2,
            if self.same_argmax { "same" } else { "different" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precision(adc_bits: u32) -> Precision {
        Precision {
            weight_bits: 8,
            input_bits: 8,
            input_override: None,
            cell_bits: 2,
            dac_bits: 1,
            adc_bits,
            xbar_rows: 4,
        }
    }

    /// Without clipping the result is the integer dot product of the quantized values.
    #[test]
    fn unclipped_is_the_quantized_dot_product() {
        let p = precision(16);
        let (rows, cols) = (10, 3);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        let x: Vec<f32> = (0..rows).map(|i| ((i * 13 % 11) as f32 - 5.0) / 3.0).collect();
        let wmax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let sw = step(wmax, 8);
        let q = quantize(&w, rows, cols, sw, &p);
        let mut out = vec![0.0; cols];
        mvmul(&q, &x, 8, &p, &mut out, None);
        let sx = step(x.iter().fold(0.0f32, |m, v| m.max(v.abs())), 8);
        for c in 0..cols {
            let dot: i64 =
                (0..rows).map(|r| ((x[r] / sx).round() as i64) * ((w[r * cols + c] / sw).round() as i64)).sum();
            assert_eq!(out[c], dot as f32 * sx * sw, "column {c}");
            let exact: f32 = (0..rows).map(|r| x[r] * w[r * cols + c]).sum();
            assert!((out[c] - exact).abs() < 0.05 * exact.abs().max(1.0), "{} vs {exact}", out[c]);
        }
    }

    /// A narrow ADC clips a crossbar's column current.
    #[test]
    fn the_adc_clips_each_crossbars_current() {
        // 4 rows (one crossbar), all weights 1 (cell 1 after quantization with step 1), all
        // inputs at the top level: a current of 4 per bit, clipped to 3 by a 2-bit ADC.
        let p = Precision {
            weight_bits: 2,
            input_bits: 2,
            input_override: None,
            cell_bits: 1,
            dac_bits: 1,
            adc_bits: 2,
            xbar_rows: 4,
        };
        let q = quantize(&[1.0; 4], 4, 1, 1.0, &p);
        let mut out = [0.0];
        mvmul(&q, &[1.0; 4], 2, &p, &mut out, None);
        assert_eq!(out[0], 3.0);
        // Two crossbars of 2 rows: each current is 2, unclipped.
        let p2 = Precision { xbar_rows: 2, ..p };
        mvmul(&q, &[1.0; 4], 2, &p2, &mut out, None);
        assert_eq!(out[0], 4.0);
    }

    /// Shapes whose sums the model's integers cannot hold are refused, not wrapped.
    #[test]
    fn sums_beyond_the_integers_are_refused() {
        let wide = Precision { dac_bits: 8, cell_bits: 8, xbar_rows: 70_000, ..precision(8) };
        assert!(wide.check().unwrap_err().to_string().contains("beyond the 32 bits"));
        assert!(Precision { xbar_rows: 66_000, ..wide }.check().is_ok());
        let p = Precision { weight_bits: 24, input_override: Some(24), ..precision(8) };
        assert!(p.check_rows(1 << 15).is_ok());
        assert!(p.check_rows(1 << 17).unwrap_err().to_string().contains("overflow"));
    }

    #[test]
    fn negative_weights_and_inputs() {
        let p = precision(16);
        let q = quantize(&[-1.0, 2.0], 2, 1, step(2.0, 8), &p);
        let mut out = [0.0];
        mvmul(&q, &[3.0, -1.0], 8, &p, &mut out, None);
        assert!((out[0] - (-5.0)).abs() < 0.05, "{}", out[0]);
    }
}
