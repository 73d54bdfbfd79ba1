//! Reading ONNX model files: memory-mapped, decoded without copying tensor data.

pub mod proto;

use crate::diag::{Error, Result};
use bytes::Bytes;
use prost::Message;
use proto::{data_type, ModelProto, TensorProto};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An opened ONNX model. Initializer payloads stay in the mapped file until asked for.
pub struct OnnxModel {
    /// Memory-mapped external data files, by path (weights stored beside the model).
    external: std::sync::Mutex<HashMap<PathBuf, Bytes>>,
    pub path: PathBuf,
    pub model: ModelProto,
    initializers: HashMap<String, usize>,
    /// Tensors of `Constant` nodes, by output name (payloads shared, not copied).
    constants: HashMap<String, TensorProto>,
}

impl OnnxModel {
    pub fn open(path: &Path) -> Result<OnnxModel> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::new(format!("cannot open ONNX model: {e}")).in_file(&shown))?;
        // SAFETY: the mapping is read-only; a file truncated underneath us would fault, which
        // is the same risk every mmap-based model loader (onnxruntime included) accepts.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::new(format!("cannot map ONNX model: {e}")).in_file(&shown))?;
        Self::from_bytes(Bytes::from_owner(map), path)
    }

    pub fn from_bytes(bytes: Bytes, path: &Path) -> Result<OnnxModel> {
        let shown = path.display().to_string();
        if bytes.is_empty() {
            return Err(Error::new("not an ONNX model: the file is empty").in_file(&shown));
        }
        let model = ModelProto::decode(bytes).map_err(|e| {
            Error::new(format!("not a valid ONNX model (protobuf decoding failed: {e}); is the file truncated?"))
                .in_file(&shown)
        })?;
        if model.graph.is_none() {
            return Err(Error::new("not a valid ONNX model: it has no graph").in_file(&shown));
        }
        let g = model.graph.as_ref().expect("checked above");
        let initializers = g.initializer.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let mut constants = HashMap::new();
        for n in g.node.iter().filter(|n| n.op_type == "Constant" && n.domain.is_empty()) {
            let value = n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
            if let (Some(t), Some(out)) = (value, n.output.first()) {
                let mut t = t.clone();
                t.name = out.clone();
                constants.insert(out.clone(), t);
            }
        }
        Ok(OnnxModel { external: Default::default(), path: path.to_path_buf(), model, initializers, constants })
    }

    pub fn graph(&self) -> &proto::GraphProto {
        self.model.graph.as_ref().expect("checked in from_bytes")
    }

    /// The default-domain opset version the model imports.
    pub fn opset(&self) -> i64 {
        self.model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0)
    }

    /// A named constant tensor: an initializer, or the value of a `Constant` node.
    pub fn initializer(&self, name: &str) -> Option<&TensorProto> {
        self.initializers.get(name).map(|&i| &self.graph().initializer[i]).or_else(|| self.constants.get(name))
    }
}

impl OnnxModel {
    /// A tensor's values as f32, reading external data files (mapped, not copied) if the
    /// tensor keeps its payload outside the model.
    pub fn tensor_f32(&self, t: &TensorProto) -> Result<Vec<f32>> {
        if t.external_data.is_empty() && t.data_location != 1 {
            return tensor_to_f32(t);
        }
        let mut inline = t.clone();
        inline.raw_data = self.external_bytes(t)?;
        inline.external_data.clear();
        inline.data_location = 0;
        tensor_to_f32(&inline)
    }

    /// Checks that a float tensor's payload holds exactly what its shape needs, without
    /// decoding it (external data is mapped and its location checked): a model with a short
    /// or long weight is rejected when it is compiled, not first when it is simulated.
    pub fn check_payload(&self, t: &TensorProto) -> Result<()> {
        let n = element_count(&t.dims)
            .ok_or_else(|| Error::new(format!("tensor '{}' has a negative or too large shape {:?}", t.name, t.dims)))?;
        let size = match t.data_type {
            data_type::FLOAT => 4,
            data_type::DOUBLE => 8,
            _ => return Ok(()),
        };
        let bytes = n.checked_mul(size).ok_or_else(|| Error::new(format!("tensor '{}' is too large", t.name)))?;
        let (got, want, unit) = if !t.external_data.is_empty() || t.data_location == 1 {
            (self.external_bytes(t)?.len(), bytes, "bytes")
        } else if !t.raw_data.is_empty() {
            (t.raw_data.len(), bytes, "bytes")
        } else if t.data_type == data_type::FLOAT {
            (t.float_data.len(), n, "values")
        } else {
            (t.double_data.len(), n, "values")
        };
        if got != want {
            return Err(Error::new(format!(
                "tensor '{}' holds {got} {unit} but its shape {:?} needs {want}",
                t.name, t.dims
            )));
        }
        Ok(())
    }

    fn external_bytes(&self, t: &TensorProto) -> Result<Bytes> {
        let key = |k: &str| t.external_data.iter().find(|e| e.key == k).map(|e| e.value.as_str());
        let location = key("location")
            .ok_or_else(|| Error::new(format!("tensor '{}' has external data without a location", t.name)))?;
        let number = |k: &str| -> Result<Option<usize>> {
            key(k)
                .map(|v| v.parse().map_err(|_| Error::new(format!("tensor '{}': bad external-data {k} '{v}'", t.name))))
                .transpose()
        };
        let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // External data lives beside the model: a location that is absolute or climbs out of
        // the model's folder (also through a symbolic link) is refused, as onnx does, so a
        // model cannot make pimlir read any file on the machine.
        let outside = || {
            Error::new(format!(
                "tensor '{}': external data location '{location}' is not inside the model's folder; \
                 pimlir reads external data only from files beside the model",
                t.name
            ))
            .in_file(&self.path.display().to_string())
        };
        let rel = Path::new(location);
        if location.is_empty()
            || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
        {
            return Err(outside());
        }
        let file = dir.join(rel);
        if let (Ok(d), Ok(f)) = (dir.canonicalize(), file.canonicalize()) {
            if !f.starts_with(&d) {
                return Err(outside());
            }
        }
        let mut cache = self.external.lock().map_err(|_| Error::new("external data cache poisoned"))?;
        if !cache.contains_key(&file) {
            let shown = file.display().to_string();
            let f = std::fs::File::open(&file).map_err(|e| {
                Error::new(format!("cannot open external data of tensor '{}': {e}", t.name)).in_file(&shown)
            })?;
            // SAFETY: read-only mapping of a file we do not modify (see `open`).
            let map = unsafe { memmap2::Mmap::map(&f) }
                .map_err(|e| Error::new(format!("cannot map external data: {e}")).in_file(&shown))?;
            cache.insert(file.clone(), Bytes::from_owner(map));
        }
        let all = &cache[&file];
        let end = match length {
            Some(l) => offset.saturating_add(l),
            None => all.len(),
        };
        if offset > end || end > all.len() {
            return Err(Error::new(format!(
                "external data of tensor '{}' ({offset}..{end}) is outside {} ({} bytes)",
                t.name,
                file.display(),
                all.len()
            )));
        }
        Ok(all.slice(offset..end))
    }
}

/// Element count of a shape, or an error for negative dimensions.
pub fn element_count(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| if d < 0 { None } else { acc.checked_mul(d as usize) })
}

/// Decodes a tensor's payload as f32 (from float32, float64 or integer storage).
pub fn tensor_to_f32(t: &TensorProto) -> Result<Vec<f32>> {
    let n =
        element_count(&t.dims).ok_or_else(|| Error::new(format!("tensor '{}' has a negative dimension", t.name)))?;
    if !t.external_data.is_empty() || t.data_location == 1 {
        return Err(Error::new(format!(
            "tensor '{}' keeps its data in an external file; read it through OnnxModel::tensor_f32",
            t.name
        )));
    }
    let raw = &t.raw_data;
    let out: Vec<f32> = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => {
            check_len(t, raw.len(), n * 4)?;
            raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        data_type::FLOAT => t.float_data.clone(),
        data_type::DOUBLE if !raw.is_empty() => {
            check_len(t, raw.len(), n * 8)?;
            raw.chunks_exact(8).map(|c| f64::from_le_bytes(bytes8(c)) as f32).collect()
        }
        data_type::DOUBLE => t.double_data.iter().map(|&x| x as f32).collect(),
        data_type::INT64 | data_type::INT32 => tensor_to_i64(t)?.into_iter().map(|x| x as f32).collect(),
        other => {
            return Err(Error::new(format!(
                "tensor '{}' has element type {}, but pimlir reads weights as float32 or float64",
                t.name,
                data_type::name(other)
            )))
        }
    };
    check_len(t, out.len(), n)?;
    Ok(out)
}

/// Decodes an integer tensor (int64, int32; e.g. Reshape shapes).
pub fn tensor_to_i64(t: &TensorProto) -> Result<Vec<i64>> {
    let n =
        element_count(&t.dims).ok_or_else(|| Error::new(format!("tensor '{}' has a negative dimension", t.name)))?;
    let raw = &t.raw_data;
    let out: Vec<i64> = match t.data_type {
        data_type::INT64 if !raw.is_empty() => {
            check_len(t, raw.len(), n * 8)?;
            raw.chunks_exact(8).map(|c| i64::from_le_bytes(bytes8(c))).collect()
        }
        data_type::INT64 => t.int64_data.clone(),
        data_type::INT32 if !raw.is_empty() => {
            check_len(t, raw.len(), n * 4)?;
            raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect()
        }
        data_type::INT32 => t.int32_data.iter().map(|&x| x as i64).collect(),
        other => {
            return Err(Error::new(format!(
                "tensor '{}' has element type {}, expected an integer tensor",
                t.name,
                data_type::name(other)
            )))
        }
    };
    check_len(t, out.len(), n)?;
    Ok(out)
}

/// The 8 bytes of a `chunks_exact(8)` chunk.
fn bytes8(c: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(c);
    b
}

fn check_len(t: &TensorProto, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::new(format!(
            "tensor '{}' holds {got} {} but its shape {:?} needs {want}",
            t.name,
            if t.raw_data.is_empty() { "values" } else { "bytes" },
            t.dims
        )));
    }
    Ok(())
}
