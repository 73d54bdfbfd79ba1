//! Import-time evaluation of small integer subgraphs: the shape arithmetic exporters emit
//! around Reshape (Shape -> Gather -> Unsqueeze -> Concat, Slice, Cast, ...). Their values are
//! known from static shapes, so they become constants and never reach the graph.

use super::onnx_import::{Importer, Sym};
use crate::diag::{Error, Result};
use crate::onnx::proto::{data_type, NodeProto, TensorProto};
use crate::onnx::tensor_to_i64;

/// An integer constant: a scalar or a 1-D vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Ints {
    pub values: Vec<i64>,
    pub scalar: bool,
}

impl Ints {
    pub fn vector(values: Vec<i64>) -> Self {
        Ints { values, scalar: false }
    }
    pub fn from_tensor(t: &TensorProto) -> Result<Ints> {
        let values = tensor_to_i64(t)?;
        if t.dims.len() > 1 {
            return Err(Error::new(format!(
                "integer constant '{}' has shape {:?}; only scalars and vectors are supported",
                t.name, t.dims
            )));
        }
        Ok(Ints { values, scalar: t.dims.is_empty() })
    }
    pub fn into_sym(self) -> Sym {
        Sym::Ints(self)
    }
}

/// A `Constant` node: integer values are kept for shape arithmetic; float values stay in the
/// model (the weight store finds Constant nodes by output name).
pub fn constant(imp: &mut Importer, node: &NodeProto) -> Result<()> {
    let a = super::onnx_import::attr(node, "value").ok_or_else(|| {
        Error::new("Constant without a 'value' tensor (value_float, value_ints, ...) is not supported")
    })?;
    let t = a.t.as_ref().ok_or_else(|| Error::new("Constant 'value' must be a tensor"))?;
    let sym = match t.data_type {
        data_type::INT64 | data_type::INT32 => Ints::from_tensor(t)?.into_sym(),
        data_type::FLOAT | data_type::DOUBLE => Sym::Weight { dims: t.dims.clone() },
        other => {
            return Err(Error::new(format!("Constant of element type {} is not supported", data_type::name(other))))
        }
    };
    imp.bind(node, sym)
}

/// Shape, Gather, Unsqueeze, Squeeze, Cast, Slice on integer constants (and Shape of an
/// activation, whose shape is static).
pub fn fold(imp: &mut Importer, node: &NodeProto) -> Result<()> {
    let x = imp.input(node, 0)?;
    let result = match node.op_type.as_str() {
        "Shape" => {
            let dims = match imp.sym(x)? {
                Sym::Value(v) => imp.value_shape(*v),
                Sym::Weight { dims } => dims.clone(),
                Sym::Ints(i) => {
                    if i.scalar {
                        vec![]
                    } else {
                        vec![i.values.len() as i64]
                    }
                }
                _ => return Err(Error::new("Shape of a 5-D view is not supported")),
            };
            let rank = dims.len() as i64;
            let start = imp.int_attr(node, "start", 0)?;
            let end = imp.int_attr(node, "end", rank)?;
            let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
            Ints::vector(dims[clamp(start)..clamp(end).max(clamp(start))].to_vec())
        }
        "Cast" => {
            let v = imp.ints(x)?;
            let to = imp.int_attr(node, "to", data_type::INT64 as i64)? as i32;
            if !matches!(to, data_type::INT64 | data_type::INT32) {
                return Err(Error::new(format!("Cast of a shape to {} is not supported", data_type::name(to))));
            }
            v
        }
        "Gather" => {
            let data = imp.ints(x)?;
            let idx = imp.ints(imp.input(node, 1)?)?;
            if imp.int_attr(node, "axis", 0)? != 0 || data.scalar {
                return Err(Error::new("Gather on shapes supports axis 0 of a vector"));
            }
            let n = data.values.len() as i64;
            let values = idx
                .values
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + n } else { i };
                    data.values
                        .get(j as usize)
                        .copied()
                        .filter(|_| j >= 0)
                        .ok_or_else(|| Error::new(format!("index {i} out of range for {n} values")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ints { values, scalar: idx.scalar }
        }
        "Unsqueeze" => {
            let v = imp.ints(x)?;
            if !v.scalar {
                return Err(Error::new("Unsqueeze of a shape vector (to 2-D) is not supported"));
            }
            Ints::vector(v.values)
        }
        "Squeeze" => {
            let v = imp.ints(x)?;
            if v.values.len() != 1 {
                return Err(Error::new("Squeeze of a shape vector with more than one value is not supported"));
            }
            Ints { values: v.values, scalar: true }
        }
        "Slice" => {
            let v = imp.ints(x)?;
            let (starts, ends) = if imp.model.opset() < 10 && imp.model.opset() != 0 {
                (imp.ints_attr(node, "starts")?.unwrap_or_default(), imp.ints_attr(node, "ends")?.unwrap_or_default())
            } else {
                (imp.ints(imp.input(node, 1)?)?.values, imp.ints(imp.input(node, 2)?)?.values)
            };
            let steps = match imp.opt_input(node, 4) {
                Some(s) => imp.ints(s)?.values,
                None => vec![1],
            };
            if starts.len() != 1 || ends.len() != 1 || steps != [1] {
                return Err(Error::new("Slice of a shape supports one axis with step 1"));
            }
            let n = v.values.len() as i64;
            let clamp = |i: i64| (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
            let (a, b) = (clamp(starts[0]), clamp(ends[0]));
            Ints::vector(v.values[a..b.max(a)].to_vec())
        }
        other => unreachable!("fold called for {other}"),
    };
    imp.bind(node, result.into_sym())
}

/// Concat of integer constants (building a Reshape target).
pub fn concat_ints(imp: &Importer, node: &NodeProto) -> Result<Ints> {
    let mut values = vec![];
    for n in &node.input {
        let v = imp.ints(n)?;
        values.extend(v.values);
    }
    Ok(Ints::vector(values))
}

/// Add / Mul on integer constants (shape arithmetic), with scalar broadcasting.
pub fn arith_ints(imp: &Importer, node: &NodeProto) -> Result<Ints> {
    let a = imp.ints(imp.input(node, 0)?)?;
    let b = imp.ints(imp.input(node, 1)?)?;
    let f = |x: i64, y: i64| {
        if node.op_type == "Add" { x.checked_add(y) } else { x.checked_mul(y) }
            .ok_or_else(|| Error::new(format!("integer {} of {x} and {y} overflows", node.op_type)))
    };
    let values = match (a.values.len(), b.values.len()) {
        (n, m) if n == m => a.values.iter().zip(&b.values).map(|(&x, &y)| f(x, y)).collect::<Result<_>>()?,
        (1, _) => b.values.iter().map(|&y| f(a.values[0], y)).collect::<Result<_>>()?,
        (_, 1) => a.values.iter().map(|&x| f(x, b.values[0])).collect::<Result<_>>()?,
        _ => return Err(Error::new("integer operands do not broadcast")),
    };
    Ok(Ints { values, scalar: a.scalar && b.scalar })
}
