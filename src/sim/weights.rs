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

impl Tensor {
    pub fn read_npy(path: &Path) -> Result<Tensor> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(&shown))?;
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

impl WeightStore for SeededWeights {
    fn tensor(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        // FNV-1a of the name, mixed with the seed.
        let mut state = name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64 ^ self.seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let n = crate::limits::elements(shape).map_err(Error::new)?;
        let mut uniform = || (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
        let data = if shape.len() >= 2 {
            let fan_in: i64 = shape[1..].iter().product();
            let std = (2.0 / fan_in.max(1) as f64).sqrt();
            (0..n)
                .map(|_| {
                    let (u1, u2) = (uniform().max(f64::MIN_POSITIVE), uniform());
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
                })
                .collect()
        } else {
            (0..n).map(|_| ((uniform() * 2.0 - 1.0) * 0.05) as f32).collect()
        };
        Ok(Tensor { shape: shape.to_vec(), data })
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
}

/// The crossbar contents of every core (`p.cores` order), group by group. Array groups that
/// hold the same slice of the same layer (replicas) share one block. Each weight is read
/// through the layer's unfolding (matrix element -> logical weight) and weight layout
/// (logical weight -> stored tensor), with a folded batch normalization's scale applied to
/// its output channel.
pub fn crossbars(p: &Program, w: &dyn WeightStore) -> Result<Vec<Vec<Arc<Block>>>> {
    struct Source {
        data: Vec<f32>,
        scale: Option<Vec<f32>>,
    }
    let mut sources: HashMap<&str, Source> = HashMap::new();
    // (layer, matrix, row_begin, rows, col_begin, cols)
    type Slice<'a> = (&'a str, u32, i64, i64, i64, i64);
    let mut blocks: HashMap<Slice, Arc<Block>> = HashMap::new();
    let mut out = Vec::with_capacity(p.cores.len());
    for c in &p.cores {
        let mut core = Vec::with_capacity(c.ags.len());
        for ag in &c.ags {
            let l = p
                .layer(&ag.layer)
                .ok_or_else(|| Error::new(format!("core {}: array group of unknown layer '{}'", c.id, ag.layer)))?;
            let key = (l.name.as_str(), ag.matrix, ag.row_begin, ag.rows, ag.col_begin, ag.cols);
            if let Some(b) = blocks.get(&key) {
                core.push(b.clone());
                continue;
            }
            if !sources.contains_key(l.name.as_str()) {
                sources.insert(&l.name, layer_source(l, w).map(|(data, scale)| Source { data, scale })?);
            }
            let src = &sources[l.name.as_str()];
            let (rows, cols) = (ag.rows.max(0) as usize, ag.cols.max(0) as usize);
            let mut data = vec![0.0f32; rows * cols];
            for r in 0..rows {
                for k in 0..cols {
                    let (mr, mc) = ((ag.row_begin as usize + r) as u32, (ag.col_begin as usize + k) as u32);
                    if let Some(t) = l.unfolding.tap(ag.matrix, mr, mc) {
                        let v = src.data[l.layout.offset(&l.unfolding, t)];
                        data[r * cols + k] = src.scale.as_ref().map_or(v, |s| v * s[t.o as usize]);
                    }
                }
            }
            let finite = data.iter().all(|v| v.is_finite());
            let b = Arc::new(Block { rows, cols, w: data, finite });
            blocks.insert(key, b.clone());
            core.push(b);
        }
        out.push(core);
    }
    Ok(out)
}

/// A layer's stored weights (checked against the shape its unfolding needs) and the
/// per-output-channel scale of its folded batch normalization.
fn layer_source(l: &Layer, w: &dyn WeightStore) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let expected = l.layout.shape(&l.unfolding);
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
    let outs = (l.unfolding.out_channels * l.unfolding.groups) as usize;
    let scale = match &l.scale {
        Some(bn) => Some(bn_scale_shift(w, bn, outs)?.0),
        None => None,
    };
    Ok((t.data, scale))
}
