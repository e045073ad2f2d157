//! Segmentation pre- and post-processing, as rembg does it for the u2net family:
//! resize to the model's input (Lanczos; the configured size, or a smaller one for `segment-at`), scale (by the image's max value or a constant),
//! normalise per channel, lay out NCHW or NHWC; afterwards take the output channel, stretch it
//! min–max when configured, quantise to 8 bits (truncating, like rembg) and resize back to the
//! image's size (Lanczos; linear for `segment-at`, whose caller traded detail for speed: a
//! third of the taps, and the matte is mostly enlarged there).

use image::RgbImage;

use super::models::{InputSpec, Layout, Normalize};
use super::resize::{resize, Filter};

/// Builds one image's input tensor data (without the batch dimension) at `(w, h)`.
pub fn preprocess(image: &RgbImage, input: &InputSpec, (w, h): (u32, u32)) -> Vec<f32> {
    let resized = resize(
        image.as_raw(),
        image.dimensions(),
        (w, h),
        3,
        Filter::Lanczos3,
    );
    let divisor = match input.scale.as_str() {
        "max" => f32::from(resized.iter().copied().max().unwrap_or(1).max(1)),
        other => other.parse::<f32>().unwrap_or(255.0),
    };
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0f32; w * h * 3];
    for (i, px) in resized.chunks_exact(3).enumerate() {
        for c in 0..3 {
            let v = (f32::from(px[c]) / divisor - input.mean[c]) / input.std[c];
            match input.layout {
                Layout::Nchw => data[c * w * h + i] = v,
                Layout::Nhwc => data[i * 3 + c] = v,
            }
        }
    }
    data
}

/// Turns one model output plane (`model_size`) into a matte of `size`, resized with `filter`.
pub fn postprocess(
    plane: &[f32],
    model_size: (u32, u32),
    normalize: Normalize,
    size: (u32, u32),
    filter: Filter,
) -> Vec<u8> {
    let (lo, hi) = match normalize {
        Normalize::Minmax => plane
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v))),
        Normalize::None => (0.0, 1.0),
    };
    let range = if hi > lo { hi - lo } else { 1.0 };
    let bytes: Vec<u8> = plane
        .iter()
        .map(|&v| (((v - lo) / range).clamp(0.0, 1.0) * 255.0) as u8)
        .collect();
    resize(&bytes, model_size, size, 1, filter)
}
