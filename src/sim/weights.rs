//! Weights for simulation: named tensors from a store (an ONNX file), and the layer matrices
//! the crossbars hold, built from them as the program's layer table describes.

use crate::diag::{Error, Result};
use crate::isa::{BnRef, MatrixSource, Program};
use crate::onnx::OnnxModel;
use std::collections::HashMap;
use std::path::Path;

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
        let shape: Vec<i64> = npy.shape().iter().map(|&d| d as i64).collect();
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
        let n: i64 = shape.iter().product();
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

/// A layer's matrix: rows, columns and row-major data.
pub type Matrix = (usize, usize, Vec<f32>);

/// Every layer's matrix, as its array groups slice it.
pub fn layer_matrices(p: &Program, w: &dyn WeightStore) -> Result<HashMap<String, Matrix>> {
    let mut out = HashMap::new();
    for l in &p.layers {
        let (rows, cols) = (l.rows as usize, l.cols as usize);
        let expected: Vec<i64> = match &l.source {
            MatrixSource::Conv { kernel, in_channels, .. } => vec![cols as i64, *in_channels, kernel[0], kernel[1]],
            MatrixSource::Fc { transposed: true, .. } => vec![cols as i64, rows as i64],
            MatrixSource::Fc { transposed: false, .. } => vec![rows as i64, cols as i64],
        };
        let t = w.tensor(l.source.weight(), &expected)?;
        let mut m = vec![0.0f32; rows * cols];
        let bad = |want: String| {
            Error::new(format!(
                "layer '{}': weight '{}' has shape {:?}, expected {want}",
                l.name,
                l.source.weight(),
                t.shape
            ))
        };
        match &l.source {
            MatrixSource::Conv { kernel, in_channels, .. } => {
                let (kh, kw, c) = (kernel[0] as usize, kernel[1] as usize, *in_channels as usize);
                if t.shape != [cols as i64, c as i64, kh as i64, kw as i64] || kh * kw * c != rows {
                    return Err(bad(format!("[{cols}, {c}, {kh}, {kw}] (OIHW)")));
                }
                for o in 0..cols {
                    for ci in 0..c {
                        for y in 0..kh {
                            for x in 0..kw {
                                m[((y * kw + x) * c + ci) * cols + o] = t.data[((o * c + ci) * kh + y) * kw + x];
                            }
                        }
                    }
                }
            }
            MatrixSource::Fc { transposed, hwc, .. } => {
                let want = if *transposed { [cols as i64, rows as i64] } else { [rows as i64, cols as i64] };
                if t.shape != want {
                    return Err(bad(format!("{want:?}")));
                }
                if let Some([c, h, w]) = hwc {
                    if c * h * w != rows as i64 {
                        return Err(Error::new(format!(
                            "layer '{}': hwc {c}x{h}x{w} does not make its {rows} rows",
                            l.name
                        )));
                    }
                }
                for r in 0..rows {
                    // The ONNX feature this matrix row multiplies.
                    let f = match hwc {
                        Some([c, h, wd]) => {
                            let (c, h, wd) = (*c as usize, *h as usize, *wd as usize);
                            let (pix, ch) = (r / c, r % c);
                            let (y, x) = (pix / wd, pix % wd);
                            (ch * h + y) * wd + x
                        }
                        None => r,
                    };
                    for o in 0..cols {
                        m[r * cols + o] = if *transposed { t.data[o * rows + f] } else { t.data[f * cols + o] };
                    }
                }
            }
        }
        if let Some(bn) = &l.scale {
            let (scale, _) = bn_scale_shift(w, bn, cols)?;
            for r in 0..rows {
                for (o, s) in scale.iter().enumerate() {
                    m[r * cols + o] *= s;
                }
            }
        }
        out.insert(l.name.clone(), (rows, cols, m));
    }
    Ok(out)
}
