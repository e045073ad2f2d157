//! YuNet face detection: pre-processing (BGR, 0..255, padded to multiples of 32), decoding of the
//! 12 stride outputs into boxes, scores and five landmarks, and non-maximum suppression.
//! Large images are shrunk so the longer side is at most [`MAX_SIDE`] before detection.

use image::RgbImage;

use super::resize::{resize, Filter};

/// Longer side, in pixels, of the image the detector sees.
pub const MAX_SIDE: u32 = 640;
const SCORE_THRESHOLD: f32 = 0.6;
const NMS_IOU: f32 = 0.3;
const STRIDES: [usize; 3] = [8, 16, 32];

/// A detection in original-image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub landmarks: [[f32; 2]; 5],
    pub score: f32,
}

/// The detector's input: NCHW data, its padded size, and the factor back to the original.
pub struct Prepared {
    pub data: Vec<f32>,
    pub width: usize,
    pub height: usize,
    pub scale: f32,
}

pub fn preprocess(image: &RgbImage) -> Prepared {
    let (w, h) = image.dimensions();
    let scale = (MAX_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (iw, ih) = if scale < 1.0 {
        (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        )
    } else {
        (w, h)
    };
    let resized;
    let pixels = if scale < 1.0 {
        resized = resize(image.as_raw(), (w, h), (iw, ih), 3, Filter::Bilinear);
        &resized[..]
    } else {
        image.as_raw()
    };
    let (iw, ih) = (iw as usize, ih as usize);
    let (pw, ph) = (iw.div_ceil(32) * 32, ih.div_ceil(32) * 32);
    let mut data = vec![0f32; 3 * pw * ph];
    for (k, px) in pixels.chunks_exact(3).enumerate() {
        let i = (k / iw) * pw + k % iw;
        // BGR order.
        data[i] = f32::from(px[2]);
        data[pw * ph + i] = f32::from(px[1]);
        data[2 * pw * ph + i] = f32::from(px[0]);
    }
    Prepared {
        data,
        width: pw,
        height: ph,
        scale,
    }
}

/// Outputs in the model's order: cls_8 cls_16 cls_32 obj_8 obj_16 obj_32 bbox_8 … kps_32.
pub fn decode(outputs: &[Vec<f32>; 12], prepared: &Prepared) -> Vec<Detection> {
    let mut found = Vec::new();
    for (level, &stride) in STRIDES.iter().enumerate() {
        let cols = prepared.width / stride;
        let rows = prepared.height / stride;
        let (cls, obj, bbox, kps) = (
            &outputs[level],
            &outputs[3 + level],
            &outputs[6 + level],
            &outputs[9 + level],
        );
        for i in 0..(rows * cols).min(cls.len()) {
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            if score < SCORE_THRESHOLD {
                continue;
            }
            let (row, col) = ((i / cols) as f32, (i % cols) as f32);
            let s = stride as f32;
            let b = &bbox[i * 4..i * 4 + 4];
            let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let k = &kps[i * 10..i * 10 + 10];
            let landmarks = std::array::from_fn(|j| {
                [
                    (col + k[2 * j]) * s / prepared.scale,
                    (row + k[2 * j + 1]) * s / prepared.scale,
                ]
            });
            found.push(Detection {
                x: (cx - w / 2.0) / prepared.scale,
                y: (cy - h / 2.0) / prepared.scale,
                width: w / prepared.scale,
                height: h / prepared.scale,
                landmarks,
                score,
            });
        }
    }
    non_maximum_suppression(found)
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a.width * a.height + b.width * b.height - inter).max(f32::EPSILON)
}

fn non_maximum_suppression(mut found: Vec<Detection>) -> Vec<Detection> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in found {
        if kept.iter().all(|k| iou(k, &d) <= NMS_IOU) {
            kept.push(d);
        }
    }
    kept
}
