//! Weights for simulation: named tensors from a store (an ONNX file), and the layer matrices
//! the crossbars hold, built from them as the program's layer table describes.

use crate::diag::{Error, Result};
use crate::isa::{BnRef, Layer, Program, WeightLayout};
use crate::onnx::OnnxModel;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A dense f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

/// Reads the header of a `.npy` file, checks its shape against pimlir's limits and returns
/// the header and exactly the data bytes it announces: never more (a `/dev/zero` or a huge
/// file is not read whole), never a shape whose size overflows.
fn read_npy_bytes(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut head = [0u8; 12];
    f.read_exact(&mut head[..10]).map_err(|_| "not a .npy file: too short".to_string())?;
    if &head[..6] != b"\x93NUMPY" {
        return Err("not a .npy file: bad magic".into());
    }
    let (fixed, hlen) = match head[6] {
        1 => (10usize, u16::from_le_bytes([head[8], head[9]]) as usize),
        2 | 3 => {
            f.read_exact(&mut head[10..12]).map_err(|_| "not a .npy file: too short".to_string())?;
            (12, u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize)
        }
        v => return Err(format!("not a .npy file: unknown format version {v}")),
    };
    if hlen > 1 << 20 {
        return Err(format!("not a .npy file: header of {hlen} bytes"));
    }
    let mut header = vec![0u8; hlen];
    f.read_exact(&mut header).map_err(|_| "not a .npy file: truncated header".to_string())?;
    let text = String::from_utf8_lossy(&header);
    let shape = npy_shape(&text).ok_or("not a .npy file: no readable 'shape' in the header")?;
    let n = crate::limits::elements(&shape)?;
    let size = npy_item_size(&text).unwrap_or(4);
    let data = u64::try_from(n).ok().and_then(|n| n.checked_mul(size)).ok_or("array too large")?;
    let mut bytes = head[..fixed].to_vec();
    bytes.extend_from_slice(&header);
    let before = bytes.len();
    f.take(data).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if ((bytes.len() - before) as u64) < data {
        return Err(format!("bad .npy data: {} bytes for shape {shape:?}, which needs {data}", bytes.len() - before));
    }
    Ok(bytes)
}

/// The `'shape': (a, b, ...)` of a `.npy` header.
fn npy_shape(header: &str) -> Option<Vec<i64>> {
    let at = header.find("'shape'")?;
    let rest = &header[at + 7..];
    let open = rest.find('(')?;
    let close = rest[open..].find(')')? + open;
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<i64>().ok().filter(|&d| d >= 0))
        .collect()
}

/// The element size of the header's `'descr': '<f4'` (the digits after the type letter).
fn npy_item_size(header: &str) -> Option<u64> {
    let at = header.find("'descr'")?;
    let rest = &header[at + 7..];
    let q = rest.find('\'')?;
    let descr: String = rest[q + 1..].chars().take_while(|&c| c != '\'').collect();
    descr.trim_start_matches(['<', '>', '|', '=']).get(1..)?.parse().ok()
}

impl Tensor {
    pub fn read_npy(path: &Path) -> Result<Tensor> {
        let shown = path.display().to_string();
        let bytes = read_npy_bytes(path).map_err(|e| Error::new(e).in_file(&shown))?;
        let npy =
            npyz::NpyFile::new(&bytes[..]).map_err(|e| Error::new(format!("not a .npy file: {e}")).in_file(&shown))?;
        let shape: Vec<i64> = npy.shape().iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
        let n = crate::limits::elements(&shape).map_err(|e| Error::new(e).in_file(&shown))?;
        let fortran = npy.order() == npyz::Order::Fortran;
        let data: Vec<f32> = match npy.dtype() {
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
                npy.into_vec::<f32>().map_err(|e| Error::new(format!("bad .npy data: {e}")).in_file(&shown))?
            }
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => npy
                .into_vec::<f64>()
                .map_err(|e| Error::new(format!("bad .npy data: {e}")).in_file(&shown))?
                .into_iter()
                .map(|x| x as f32)
                .collect(),
            d => return Err(Error::new(format!("expected a float32 array, got dtype {}", d.descr())).in_file(&shown)),
        };
        if data.len() as i64 != n {
            return Err(Error::new(format!("holds {} values for shape {shape:?}", data.len())).in_file(&shown));
        }
        // Column-major (Fortran-order) files: reorder to row-major, as the shape reads.
        let data = if fortran && shape.len() > 1 { fortran_to_c(&shape, &data) } else { data };
        Ok(Tensor { shape, data })
    }

    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let shape: Vec<u64> = self.shape.iter().map(|&d| d as u64).collect();
        let file = std::fs::File::create(path).map_err(|e| Error::new(format!("cannot write: {e}")).in_file(&shown))?;
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(|e| Error::new(format!("cannot write: {e}")).in_file(&shown))?;
        w.extend(self.data.iter().copied()).map_err(|e| Error::new(format!("cannot write: {e}")).in_file(&shown))?;
        w.finish().map_err(|e| Error::new(format!("cannot write: {e}")).in_file(&shown))?;
        Ok(())
    }
}

/// Reorders a column-major array of `shape` into row-major order.
fn fortran_to_c(shape: &[i64], data: &[f32]) -> Vec<f32> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0usize; dims.len()];
    for _ in 0..data.len() {
        // Column-major offset of the row-major index.
        let mut off = 0;
        for k in (0..dims.len()).rev() {
            off = off * dims[k] + index[k];
        }
        out.push(data[off]);
        for k in (0..dims.len()).rev() {
            index[k] += 1;
            if index[k] < dims[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// Where named weight tensors come from. `shape` is what the caller expects: a store that
/// holds the tensor may ignore it (callers check), a generating store needs it.
pub trait WeightStore {
    fn tensor(&self, name: &str, shape: &[i64]) -> Result<Tensor>;
    /// A store that computes each element on its own (generated weights) returns the
    /// function giving element `i` of tensor `name` of `shape`, so that programming the
    /// crossbars touches only the elements array groups hold, not a whole (possibly huge)
    /// layer. Stored weights return None and are read whole.
    fn elements(&self, _name: &str, _shape: &[i64]) -> Option<Box<dyn Fn(usize) -> f32 + Send + Sync>> {
        None
    }
}

/// Opens the weight store a program names: an ONNX file, or `seed:<n>` for generated weights.
pub fn open_store(spec: &str) -> Result<Box<dyn WeightStore>> {
    if let Some(seed) = spec.strip_prefix("seed:") {
        let seed =
            seed.parse().map_err(|_| Error::new(format!("bad weight seed in '{spec}' (expected seed:<integer>)")))?;
        return Ok(Box::new(SeededWeights { seed }));
    }
    Ok(Box::new(OnnxModel::open(Path::new(spec))?))
}

/// Weights generated from a seed, for models imported without weights (PIMCOMP-NN JSON):
/// each tensor depends only on the seed, its name and its shape. Matrices (2 or more axes)
/// are He-normal for their fan-in; vectors (biases) uniform in [-0.05, 0.05].
/// The generator is spelled out here (splitmix64, Box-Muller) so the numbers never change
/// with a dependency's version.
pub struct SeededWeights {
    pub seed: u64,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SeededWeights {
    /// Element `i` of tensor `name` of `shape`. splitmix64 is a counter-based generator (its
    /// `k`-th output mixes `state0 + k * gamma`), so any element is computed directly: a
    /// matrix element takes outputs `2i` and `2i + 1` (Box-Muller), a vector element output `i`.
    fn element_fn(&self, name: &str, shape: &[i64]) -> impl Fn(usize) -> f32 + Send + Sync {
        // FNV-1a of the name, mixed with the seed.
        let state0 = name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64 ^ self.seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let uniform = move |k: u64| {
            let mut s = state0.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            (splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64
        };
        let matrix = shape.len() >= 2;
        let fan_in = shape.get(1..).map_or(1, |d| d.iter().fold(1i64, |a, &x| a.saturating_mul(x)));
        let std = (2.0 / fan_in.max(1) as f64).sqrt();
        move |i: usize| {
            let i = i as u64;
            if matrix {
                let (u1, u2) = (uniform(2 * i).max(f64::MIN_POSITIVE), uniform(2 * i + 1));
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
            } else {
                ((uniform(i) * 2.0 - 1.0) * 0.05) as f32
            }
        }
    }
}

impl WeightStore for SeededWeights {
    fn tensor(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let n = crate::limits::elements(shape).map_err(Error::new)?;
        let at = self.element_fn(name, shape);
        Ok(Tensor { shape: shape.to_vec(), data: (0..n as usize).map(at).collect() })
    }

    fn elements(&self, name: &str, shape: &[i64]) -> Option<Box<dyn Fn(usize) -> f32 + Send + Sync>> {
        Some(Box::new(self.element_fn(name, shape)))
    }
}

impl WeightStore for OnnxModel {
    fn tensor(&self, name: &str, _shape: &[i64]) -> Result<Tensor> {
        let t = self
            .initializer(name)
            .ok_or_else(|| Error::new(format!("weight '{name}' is not in {}", self.path.display())))?;
        Ok(Tensor { shape: t.dims.clone(), data: self.tensor_f32(t)? })
    }
}

/// The store of a program that names no weight file.
pub struct NoWeights;

impl WeightStore for NoWeights {
    fn tensor(&self, name: &str, _shape: &[i64]) -> Result<Tensor> {
        Err(Error::new(format!("weight '{name}' is needed, but the program names no weight file; give --weights")))
    }
}

/// A tensor of exactly `n` elements (any shape), e.g. a bias or normalization parameter.
pub fn vector(w: &dyn WeightStore, name: &str, n: usize) -> Result<Vec<f32>> {
    let t = w.tensor(name, &[n as i64])?;
    if t.data.len() != n {
        return Err(Error::new(format!(
            "weight '{name}' has {} elements, {n} expected (shape {:?})",
            t.data.len(),
            t.shape
        )));
    }
    Ok(t.data)
}

/// Per-channel scale gamma / sqrt(var + eps) and shift beta - mean * scale of a batch
/// normalization over `n` channels.
pub fn bn_scale_shift(w: &dyn WeightStore, bn: &BnRef, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let (gamma, beta) = (vector(w, &bn.gamma, n)?, vector(w, &bn.beta, n)?);
    let (mean, var) = (vector(w, &bn.mean, n)?, vector(w, &bn.var, n)?);
    let scale: Vec<f32> = (0..n).map(|k| gamma[k] / (var[k] + bn.eps).sqrt()).collect();
    let shift = (0..n).map(|k| beta[k] - mean[k] * scale[k]).collect();
    Ok((scale, shift))
}

/// The weights one array group holds: its slice of a layer matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub rows: usize,
    pub cols: usize,
    pub w: Vec<f32>,
    /// Every weight is finite (a zero input then contributes nothing, exactly).
    pub finite: bool,
    /// The cells, under bit-accurate numerics.
    pub quant: Option<super::crossbar::Quantized>,
}

/// The crossbar contents of every core (`p.cores` order), group by group. Array groups that
/// hold the same slice of the same layer (replicas) share one block. Each weight is read
/// through the layer's unfolding (matrix element -> logical weight) and weight layout
/// (logical weight -> stored tensor), with a folded batch normalization's scale applied to
/// its output channel.
pub fn crossbars(p: &Program, w: &dyn WeightStore) -> Result<Vec<Vec<Arc<Block>>>> {
    crossbars_with(p, w, None, &Kernels::new())
}

/// Compiled crossbar steps by (columns, planes) (`--engine=jit`); empty: interpreted.
pub type Kernels = HashMap<(usize, usize), super::crossbar::StepFn>;

/// [`crossbars`], with each block also quantized into cells when `bits` is given (one weight
/// step per layer, from the layer's largest magnitude).
pub fn crossbars_with(
    p: &Program,
    w: &dyn WeightStore,
    bits: Option<&super::crossbar::Precision>,
    kernels: &Kernels,
) -> Result<Vec<Vec<Arc<Block>>>> {
    use rayon::prelude::*;
    struct Source {
        data: Elements,
        scale: Option<Vec<f32>>,
    }
    // (layer, matrix, row_begin, rows, col_begin, cols)
    type Slice<'a> = (&'a str, u32, i64, i64, i64, i64);
    // The distinct slices and the layers they need (weights read once per layer), in order.
    let mut sources: HashMap<&str, Source> = HashMap::new();
    let mut index: HashMap<Slice, usize> = HashMap::new();
    let mut unique: Vec<(Slice, &crate::isa::Layer)> = vec![];
    let mut which: Vec<Vec<usize>> = Vec::with_capacity(p.cores.len());
    for c in &p.cores {
        let mut core = Vec::with_capacity(c.ags.len());
        for ag in &c.ags {
            let l = p
                .layer(&ag.layer)
                .ok_or_else(|| Error::new(format!("core {}: array group of unknown layer '{}'", c.id, ag.layer)))?;
            let key = (l.name.as_str(), ag.matrix, ag.row_begin, ag.rows, ag.col_begin, ag.cols);
            let k = *index.entry(key).or_insert_with(|| {
                unique.push((key, l));
                unique.len() - 1
            });
            if !sources.contains_key(l.name.as_str()) {
                sources.insert(&l.name, layer_source(l, w).map(|(data, scale)| Source { data, scale })?);
            }
            core.push(k);
        }
        which.push(core);
    }
    // Each block on its own (in parallel: a ResNet-18 has thousands).
    let blocks: Vec<(Vec<f32>, usize, usize)> = unique
        .par_iter()
        .map(|&((_, matrix, row_begin, rows, col_begin, cols), l)| {
            let src = &sources[l.name.as_str()];
            let (rows, cols) = (rows.max(0) as usize, cols.max(0) as usize);
            let mut data = vec![0.0f32; rows * cols];
            for r in 0..rows {
                for k in 0..cols {
                    let (mr, mc) = ((row_begin as usize + r) as u32, (col_begin as usize + k) as u32);
                    if let Some(t) = l.unfolding.tap(matrix, mr, mc) {
                        let v = src.data.get(l.layout.offset(&l.unfolding, t));
                        data[r * cols + k] = src.scale.as_ref().map_or(v, |s| v * s[t.o as usize]);
                    }
                }
            }
            (data, rows, cols)
        })
        .collect();
    // One weight step per layer (its blocks together hold all of it).
    let mut layer_max: HashMap<&str, f32> = HashMap::new();
    if bits.is_some() {
        for (((name, ..), _), (data, ..)) in unique.iter().zip(&blocks) {
            let m = data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let e = layer_max.entry(name).or_insert(0.0);
            *e = e.max(m);
        }
    }
    let blocks: Vec<Arc<Block>> = blocks
        .into_par_iter()
        .zip(unique.par_iter())
        .map(|((data, rows, cols), ((name, ..), _))| {
            let finite = data.iter().all(|v| v.is_finite());
            let quant = bits.map(|b| {
                let step = super::crossbar::step(layer_max[name], b.weight_bits);
                let mut q = super::crossbar::quantize(&data, rows, cols, step, b);
                q.jit = kernels.get(&(cols, q.planes())).copied();
                q
            });
            Arc::new(Block { rows, cols, w: data, finite, quant })
        })
        .collect();
    Ok(which.into_iter().map(|core| core.into_iter().map(|k| blocks[k].clone()).collect()).collect())
}

/// A layer's weights: read whole, or computed element by element.
enum Elements {
    Stored(Vec<f32>),
    Computed(Box<dyn Fn(usize) -> f32 + Send + Sync>),
}

impl Elements {
    fn get(&self, i: usize) -> f32 {
        match self {
            Elements::Stored(v) => v[i],
            Elements::Computed(f) => f(i),
        }
    }
}

/// A layer's weights (checked against the shape its unfolding needs) and the
/// per-output-channel scale of its folded batch normalization.
fn layer_source(l: &Layer, w: &dyn WeightStore) -> Result<(Elements, Option<Vec<f32>>)> {
    let expected = l.layout.shape(&l.unfolding);
    let outs = (l.unfolding.out_channels * l.unfolding.groups) as usize;
    let scale = match &l.scale {
        Some(bn) => Some(bn_scale_shift(w, bn, outs)?.0),
        None => None,
    };
    if let Some(f) = w.elements(&l.weight, &expected) {
        crate::limits::elements(&expected).map_err(Error::new)?;
        return Ok((Elements::Computed(f), scale));
    }
    let t = w.tensor(&l.weight, &expected)?;
    if t.shape != expected {
        let what = match l.layout {
            WeightLayout::Oihw => " (OIHW)",
            WeightLayout::Fc { .. } => "",
        };
        return Err(Error::new(format!(
            "layer '{}': weight '{}' has shape {:?}, expected {expected:?}{what}",
            l.name, l.weight, t.shape
        )));
    }
    Ok((Elements::Stored(t.data), scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_elements_are_the_tensors() {
        let s = SeededWeights { seed: 7 };
        for shape in [vec![3, 4, 2, 2], vec![10]] {
            let t = s.tensor("w", &shape).unwrap();
            let f = s.elements("w", &shape).unwrap();
            assert!(t.data.iter().enumerate().all(|(i, &v)| v == f(i)), "shape {shape:?}");
        }
    }

    #[test]
    fn generated_weights_program_only_the_rows_groups_hold() {
        // A 10 M x 128 layer (5 GB if generated whole) of which one group holds 128 rows.
        let text = "weights \"seed:1\"\nlayer L fc weight=\"L\" rows=10000000 cols=128\n\
                    core 0 {\n  ag 0 L replica=0 rows=9999872..10000000 xbars=1\n}\n";
        let p = crate::isa::text::parse(text, "big.pim").unwrap();
        let store = SeededWeights { seed: 1 };
        let x = crossbars(&p, &store).unwrap();
        let b = &x[0][0];
        assert_eq!((b.rows, b.cols), (128, 128));
        // Row r of the block is row 9999872 + r of the (in x out) matrix: element (r, c) of
        // the transposed-free fc weight [rows, cols].
        let f = store.elements("L", &[10_000_000, 128]).unwrap();
        assert_eq!(b.w[5 * 128 + 3], f((9_999_872 + 5) * 128 + 3));
    }
}
