//! Shape inference for graph ops (NCHW activations, batch 1).
//!
//! Crossbar layers take their output-channel count from outside (the weight tensor when
//! importing, the declared result type when verifying IR), so structure-only IR verifies
//! without the weights at hand.

use super::{Op, Pool};

/// Output spatial size of a sliding window, or an error if the window does not fit.
pub fn window_out(
    input: i64,
    kernel: i64,
    stride: i64,
    pad_begin: i64,
    pad_end: i64,
    dilation: i64,
) -> Result<i64, String> {
    if kernel <= 0 || stride <= 0 || dilation <= 0 || pad_begin < 0 || pad_end < 0 {
        return Err(format!(
            "kernel {kernel}, stride {stride}, dilation {dilation} must be positive and pads {pad_begin},{pad_end} non-negative"
        ));
    }
    let too_large = || format!("kernel {kernel}, dilation {dilation} and pads {pad_begin},{pad_end} are too large");
    let span = (kernel - 1).checked_mul(dilation).and_then(|x| x.checked_add(1)).ok_or_else(too_large)?;
    let padded = input.checked_add(pad_begin).and_then(|x| x.checked_add(pad_end)).ok_or_else(too_large)?;
    if padded < span {
        return Err(format!("window of extent {span} does not fit in input of size {input} (padded {padded})"));
    }
    Ok((padded - span) / stride + 1)
}

fn rank4(what: &str, s: &[i64]) -> Result<[i64; 4], String> {
    match s {
        [n, c, h, w] => {
            if *n != 1 {
                return Err(format!("{what} has batch size {n}; pimlir compiles batch-1 inference"));
            }
            Ok([*n, *c, *h, *w])
        }
        _ => Err(format!("{what} must be a 4-D NCHW tensor, got shape {s:?}")),
    }
}

fn pool_shape(x: &[i64], p: &Pool) -> Result<Vec<i64>, String> {
    let [n, c, h, w] = rank4("pooling input", x)?;
    let oh = window_out(h, p.kernel[0], p.strides[0], p.pads[0], p.pads[2], 1)?;
    let ow = window_out(w, p.kernel[1], p.strides[1], p.pads[1], p.pads[3], 1)?;
    Ok(vec![n, c, oh, ow])
}

/// Numpy broadcasting of two shapes.
pub fn broadcast(a: &[i64], b: &[i64]) -> Result<Vec<i64>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let y = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

pub use crate::limits::{checked_product, elements, MAX_ELEMENTS};

/// Infers the result shape of `op` from its input shapes; every shape involved is checked to
/// be of a size pimlir handles ([`elements`]).
pub fn infer(op: &Op, inputs: &[&[i64]], out_channels: Option<i64>) -> Result<Vec<i64>, String> {
    for s in inputs {
        elements(s)?;
    }
    let out = infer_unchecked(op, inputs, out_channels)?;
    elements(&out)?;
    Ok(out)
}

fn infer_unchecked(op: &Op, inputs: &[&[i64]], out_channels: Option<i64>) -> Result<Vec<i64>, String> {
    let arity = |n: usize| -> Result<(), String> {
        if inputs.len() != n {
            Err(format!("expects {n} operand(s), got {}", inputs.len()))
        } else {
            Ok(())
        }
    };
    match op {
        Op::Conv2d(c) => {
            arity(1)?;
            let [n, ci, h, w] = rank4("conv2d input", inputs[0])?;
            let o = out_channels.ok_or("conv2d needs its output-channel count")?;
            if c.group <= 0 || ci % c.group != 0 || o % c.group != 0 {
                return Err(format!("group {} must divide input channels {ci} and output channels {o}", c.group));
            }
            let oh = window_out(h, c.kernel[0], c.strides[0], c.pads[0], c.pads[2], c.dilations[0])?;
            let ow = window_out(w, c.kernel[1], c.strides[1], c.pads[1], c.pads[3], c.dilations[1])?;
            Ok(vec![n, o, oh, ow])
        }
        Op::Fc(_) => {
            arity(1)?;
            let x = inputs[0];
            if x.len() != 2 || x[0] != 1 {
                return Err(format!("fc input must be a [1, features] matrix, got shape {x:?}"));
            }
            let o = out_channels.ok_or("fc needs its output-feature count")?;
            Ok(vec![1, o])
        }
        Op::Act(_) | Op::Lrn(_) => {
            arity(1)?;
            Ok(inputs[0].to_vec())
        }
        Op::BatchNorm(_) => {
            arity(1)?;
            if inputs[0].len() < 2 {
                return Err(format!("batchnorm input must have a channel axis, got shape {:?}", inputs[0]));
            }
            Ok(inputs[0].to_vec())
        }
        Op::ChannelShuffle { groups } => {
            arity(1)?;
            let [n, c, h, w] = rank4("channel_shuffle input", inputs[0])?;
            if *groups <= 0 || c % groups != 0 {
                return Err(format!("{groups} groups do not divide {c} channels"));
            }
            Ok(vec![n, c, h, w])
        }
        Op::Pad { pads, .. } => {
            arity(1)?;
            let [n, c, h, w] = rank4("pad input", inputs[0])?;
            if pads.iter().any(|&p| p < 0) {
                return Err(format!("negative pads {pads:?} (cropping) are not supported"));
            }
            let (oh, ow) = (
                h.checked_add(pads[0]).and_then(|x| x.checked_add(pads[2])),
                w.checked_add(pads[1]).and_then(|x| x.checked_add(pads[3])),
            );
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok(vec![n, c, oh, ow]),
                _ => Err(format!("pads {pads:?} are too large")),
            }
        }
        Op::Constant { shape, .. } => {
            arity(0)?;
            Ok(shape.clone())
        }
        Op::Mul => {
            arity(2)?;
            broadcast(inputs[0], inputs[1])
        }
        Op::MaxPool(p) | Op::AvgPool(p) => {
            arity(1)?;
            pool_shape(inputs[0], p)
        }
        Op::GlobalAvgPool => {
            arity(1)?;
            let [n, c, _, _] = rank4("global_avgpool input", inputs[0])?;
            Ok(vec![n, c, 1, 1])
        }
        Op::Add => {
            arity(2)?;
            broadcast(inputs[0], inputs[1])
        }
        Op::Concat { axis } => {
            if inputs.is_empty() {
                return Err("concat needs at least one operand".into());
            }
            let rank = inputs[0].len() as i64;
            let ax = if *axis < 0 { axis + rank } else { *axis };
            if ax < 0 || ax >= rank {
                return Err(format!("concat axis {axis} is out of range for rank {rank}"));
            }
            let mut out = inputs[0].to_vec();
            out[ax as usize] = 0;
            for s in inputs {
                if s.len() as i64 != rank {
                    return Err(format!("concat operands must have equal rank, got {:?} and {:?}", inputs[0], s));
                }
                for (d, (&a, &b)) in inputs[0].iter().zip(s.iter()).enumerate() {
                    if d as i64 != ax && a != b {
                        return Err(format!("concat operands differ outside axis {ax}: {:?} vs {:?}", inputs[0], s));
                    }
                }
                out[ax as usize] = out[ax as usize].checked_add(s[ax as usize]).ok_or("concat result is too large")?;
            }
            Ok(out)
        }
        Op::Flatten { axis } => {
            arity(1)?;
            let s = inputs[0];
            let rank = s.len() as i64;
            let ax = if *axis < 0 { axis + rank } else { *axis };
            if ax < 0 || ax > rank {
                return Err(format!("flatten axis {axis} is out of range for rank {rank}"));
            }
            let (a, b) = s.split_at(ax as usize);
            Ok(vec![elements(a)?, elements(b)?])
        }
        Op::Softmax { axis } => {
            arity(1)?;
            let rank = inputs[0].len() as i64;
            if *axis < -rank || *axis >= rank {
                return Err(format!("softmax axis {axis} is out of range for rank {rank}"));
            }
            Ok(inputs[0].to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Conv2d;

    fn conv(k: i64, s: i64, p: i64) -> Op {
        Op::Conv2d(Conv2d {
            name: "c".into(),
            weight: "w".into(),
            bias: None,
            kernel: [k, k],
            strides: [s, s],
            pads: [p; 4],
            dilations: [1, 1],
            group: 1,
            bn: None,
            act: None,
        })
    }

    #[test]
    fn conv_shapes() {
        assert_eq!(infer(&conv(5, 1, 0), &[&[1, 1, 28, 28]], Some(6)).unwrap(), vec![1, 6, 24, 24]);
        assert_eq!(infer(&conv(7, 2, 3), &[&[1, 3, 224, 224]], Some(64)).unwrap(), vec![1, 64, 112, 112]);
        assert!(infer(&conv(5, 1, 0), &[&[1, 1, 3, 3]], Some(6)).unwrap_err().contains("does not fit"));
        assert!(infer(&conv(3, 1, 1), &[&[2, 1, 8, 8]], Some(6)).unwrap_err().contains("batch size 2"));
    }

    #[test]
    fn flatten_and_concat() {
        assert_eq!(infer(&Op::Flatten { axis: 1 }, &[&[1, 16, 4, 4]], None).unwrap(), vec![1, 256]);
        let a: &[i64] = &[1, 3, 4, 4];
        let b: &[i64] = &[1, 5, 4, 4];
        assert_eq!(infer(&Op::Concat { axis: 1 }, &[a, b], None).unwrap(), vec![1, 8, 4, 4]);
        assert!(infer(&Op::Concat { axis: 2 }, &[a, b], None).is_err());
    }
}
