//! Makes a model's batch dimension symbolic so the batcher can run several images at once:
//! the first dimension of every graph input and output, when fixed to 1, becomes the named
//! dimension `batch`; for a fully convolutional model whose spatial size is fixed only in the
//! file (u2netp), the two spatial dimensions can become `height` and `width` too. The rewrite works on the protobuf wire format and keeps every other byte
//! as it was (ModelProto.graph → GraphProto.input/output → ValueInfoProto.type →
//! TypeProto.tensor_type → Tensor.shape → TensorShapeProto.dim[0]).

/// Field numbers along the path, from onnx.proto.
const MODEL_GRAPH: u64 = 7;
const GRAPH_INPUT: u64 = 11;
const GRAPH_OUTPUT: u64 = 12;
const VALUE_INFO_TYPE: u64 = 2;
const TYPE_TENSOR: u64 = 1;
const TENSOR_SHAPE: u64 = 2;
const SHAPE_DIM: u64 = 1;
const DIM_VALUE: u64 = 1;
const DIM_PARAM: u64 = 2;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH: u64 = 2;
const FIXED32: u64 = 5;

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// One field of a message: its number, wire type, raw bytes and (length-delimited) payload.
struct Field<'a> {
    number: u64,
    wire: u64,
    raw: &'a [u8],
    payload: &'a [u8],
}

fn fields(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = read_varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        let payload_start;
        match wire {
            VARINT => {
                payload_start = pos;
                read_varint(buf, &mut pos)?;
            }
            FIXED64 => {
                payload_start = pos;
                pos += 8;
            }
            LENGTH => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).ok()?;
                payload_start = pos;
                pos = pos.checked_add(len)?;
            }
            FIXED32 => {
                payload_start = pos;
                pos += 4;
            }
            _ => return None,
        }
        if pos > buf.len() {
            return None;
        }
        out.push(Field {
            number,
            wire,
            raw: &buf[start..pos],
            payload: &buf[payload_start..pos],
        });
    }
    Some(out)
}

/// Re-encodes `buf`, replacing the payload of length-delimited fields for which `edit` returns
/// a new one; `None` when `buf` is not a well-formed message.
fn rewrite(
    buf: &[u8],
    mut edit: impl FnMut(u64, usize, &[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(buf.len() + 16);
    let mut seen = std::collections::HashMap::<u64, usize>::new();
    for f in fields(buf)? {
        let index = seen.entry(f.number).or_default();
        let replaced = if f.wire == LENGTH {
            edit(f.number, *index, f.payload)
        } else {
            None
        };
        *index += 1;
        match replaced {
            Some(payload) => {
                write_varint(&mut out, (f.number << 3) | LENGTH);
                write_varint(&mut out, payload.len() as u64);
                out.extend_from_slice(&payload);
            }
            None => out.extend_from_slice(f.raw),
        }
    }
    Some(out)
}

/// A fixed dimension becomes the named one (`only_one`: only when it is fixed to 1).
fn dimension(buf: &[u8], name: &str, only_one: bool) -> Option<Vec<u8>> {
    let fixed = fields(buf)?
        .iter()
        .any(|f| f.number == DIM_VALUE && f.wire == VARINT && (!only_one || f.payload == [1]));
    if !fixed {
        return Some(buf.to_vec());
    }
    let mut out = Vec::new();
    for f in fields(buf)? {
        if f.number == DIM_VALUE {
            write_varint(&mut out, (DIM_PARAM << 3) | LENGTH);
            write_varint(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Some(out)
}

fn value_info(buf: &[u8], spatial: Option<[usize; 2]>) -> Option<Vec<u8>> {
    let shape = |b: &[u8]| {
        rewrite(b, |n, i, p| {
            if n != SHAPE_DIM {
                return None;
            }
            match spatial {
                _ if i == 0 => dimension(p, "batch", true),
                Some([h, _]) if i == h => dimension(p, "height", false),
                Some([_, w]) if i == w => dimension(p, "width", false),
                _ => None,
            }
        })
    };
    let tensor = |b: &[u8]| rewrite(b, |n, _, p| (n == TENSOR_SHAPE).then(|| shape(p)).flatten());
    let ty = |b: &[u8]| rewrite(b, |n, _, p| (n == TYPE_TENSOR).then(|| tensor(p)).flatten());
    rewrite(buf, |n, _, p| {
        (n == VALUE_INFO_TYPE).then(|| ty(p)).flatten()
    })
}

/// The model with a symbolic batch dimension (and, with `spatial` = the indices of height and
/// width, symbolic spatial dimensions), or `None` when the bytes do not parse as a protobuf
/// message (the caller keeps the original).
pub fn symbolic_dims(model: &[u8], spatial: Option<[usize; 2]>) -> Option<Vec<u8>> {
    let mut ok = true;
    let out = rewrite(model, |n, _, graph| {
        if n != MODEL_GRAPH {
            return None;
        }
        let rewritten = rewrite(graph, |n, _, info| {
            (n == GRAPH_INPUT || n == GRAPH_OUTPUT)
                .then(|| value_info(info, spatial))
                .flatten()
        });
        ok &= rewritten.is_some();
        rewritten
    })?;
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(fields: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, payload) in fields {
            write_varint(&mut out, (n << 3) | LENGTH);
            write_varint(&mut out, payload.len() as u64);
            out.extend_from_slice(payload);
        }
        out
    }

    fn dim_value(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, DIM_VALUE << 3);
        write_varint(&mut out, v);
        out
    }

    /// A model whose one input has shape [1, 3, 320, 320] and name "x".
    fn model() -> Vec<u8> {
        let shape = message(&[
            (SHAPE_DIM, dim_value(1)),
            (SHAPE_DIM, dim_value(3)),
            (SHAPE_DIM, dim_value(320)),
            (SHAPE_DIM, dim_value(320)),
        ]);
        let tensor = message(&[(TENSOR_SHAPE, shape)]);
        let ty = message(&[(TYPE_TENSOR, tensor)]);
        let info = message(&[(1, b"x".to_vec()), (VALUE_INFO_TYPE, ty)]);
        let graph = message(&[(1, b"node".to_vec()), (GRAPH_INPUT, info)]);
        let mut model = Vec::new();
        write_varint(&mut model, 1 << 3); // ir_version = 8 (a varint field, kept as is)
        write_varint(&mut model, 8);
        model.extend(message(&[(MODEL_GRAPH, graph)]));
        model
    }

    #[test]
    fn first_dimension_becomes_batch_and_the_rest_is_kept() {
        let out = symbolic_dims(&model(), None).unwrap();
        assert!(out.windows(5).any(|w| w == b"batch"));
        assert!(out.starts_with(&[0x08, 8]), "ir_version kept");
        assert!(out.windows(4).any(|w| w == b"node"));
        // 3 and 320 are still fixed.
        let dims = out.windows(3).filter(|w| *w == [0x08, 0xc0, 0x02]).count();
        assert_eq!(dims, 2);
        // Idempotent.
        assert_eq!(symbolic_dims(&out, None).unwrap(), out);
    }

    #[test]
    fn spatial_dimensions_become_height_and_width() {
        let out = symbolic_dims(&model(), Some([2, 3])).unwrap();
        for name in [&b"batch"[..], b"height", b"width"] {
            assert!(out.windows(name.len()).any(|w| w == name));
        }
        // The channel count (3) stays fixed; 320 is gone.
        assert!(out.windows(2).any(|w| w == [0x08, 0x03]));
        assert!(!out.windows(3).any(|w| w == [0x08, 0xc0, 0x02]));
    }

    #[test]
    fn garbage_is_not_a_model() {
        assert!(symbolic_dims(&[0xff, 0xff, 0xff], None).is_none());
    }
}
