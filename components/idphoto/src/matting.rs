//! From source pixels to the output's pixels: the warp that levels, scales and crops colour and
//! matte together, foreground colour estimation (so no halo of the old background survives at
//! soft edges), and compositing onto the new background.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, RgbImage, RgbaImage};

use crate::options::Render;

/// Colour and matte at the output's size, as floats in 0..1.
pub struct Layer {
    pub width: u32,
    pub height: u32,
    /// RGB, interleaved.
    pub rgb: Vec<f32>,
    pub alpha: Vec<f32>,
}

/// The four pixels around a pixel-centre position in a `w`×`h` image, with their bilinear
/// weights: `clamped` reads the nearest edge pixel outside the image (for colour), `inside`
/// gives positions outside the image no weight (for the matte, which is background there).
struct Taps {
    index: [usize; 4],
    clamped: [f32; 4],
    inside: [f32; 4],
}

impl Taps {
    fn at(p: [f32; 2], w: usize, h: usize) -> Taps {
        let (x0, y0) = (p[0].floor(), p[1].floor());
        let (fx, fy) = (p[0] - x0, p[1] - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let mut taps = Taps {
            index: [0; 4],
            clamped: [0.0; 4],
            inside: [0.0; 4],
        };
        for (k, (dx, dy)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
            let (x, y) = (x0 + dx, y0 + dy);
            let weight =
                (if dx == 0 { 1.0 - fx } else { fx }) * (if dy == 0 { 1.0 - fy } else { fy });
            let outside = x < 0 || y < 0 || x >= w as i64 || y >= h as i64;
            taps.index[k] =
                y.clamp(0, h as i64 - 1) as usize * w + x.clamp(0, w as i64 - 1) as usize;
            taps.clamped[k] = weight;
            taps.inside[k] = if outside { 0.0 } else { weight };
        }
        taps
    }
}

/// The `crop` rectangle of a packed image resampled to `to` (a plain copy at the same size),
/// with a linear filter whose support widens with the shrink factor, so nothing aliases.
fn shrink(
    pixels: &[u8],
    (width, height): (u32, u32),
    pixel_type: PixelType,
    (x, y, w, h): (u32, u32, u32, u32),
    to: (u32, u32),
) -> Vec<u8> {
    let src = ImageRef::new(width, height, pixels, pixel_type).expect("buffer matches its size");
    let mut dst = Image::new(to.0, to.1, pixel_type);
    let options = ResizeOptions::new()
        .crop(f64::from(x), f64::from(y), f64::from(w), f64::from(h))
        .resize_alg(if (w, h) == to {
            ResizeAlg::Nearest
        } else {
            ResizeAlg::Convolution(FilterType::Bilinear)
        });
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type, crop inside the image");
    dst.into_vec()
}

/// The source rectangle (`[min x, min y, max x, max y]`, unclamped) that a `width`×`height`
/// output reads when output pixel centre `(x, y)` reads the source at `to_source(x, y)`.
pub fn source_bounds(
    width: u32,
    height: u32,
    to_source: impl Fn(f32, f32) -> [f32; 2],
) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    let corners =
        [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)].map(|(x, y)| to_source(x - 0.5, y - 0.5));
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MAX, f32::min);
    let hi = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MIN, f32::max);
    [lo(0), lo(1), hi(0), hi(1)]
}

/// Resamples `rgb` and `alpha` (same size) into a `width`×`height` layer, output pixel centre
/// `(x, y)` reading the source at `to_source(x, y)`. When the output is much smaller than the
/// source region it reads, that region is first shrunk with a filter so nothing aliases.
pub fn warp(
    rgb: &RgbImage,
    alpha: &GrayImage,
    width: u32,
    height: u32,
    scale: f32,
    to_source: impl Fn(f32, f32) -> [f32; 2],
) -> Layer {
    let (sw, sh) = rgb.dimensions();
    // The source rectangle the output reads, padded, inside the image.
    let [lo_x, lo_y, hi_x, hi_y] = source_bounds(width, height, &to_source);
    let x0 = (lo_x.floor() as i64 - 2).clamp(0, sw as i64 - 1) as u32;
    let y0 = (lo_y.floor() as i64 - 2).clamp(0, sh as i64 - 1) as u32;
    let x1 = (hi_x.ceil() as i64 + 2).clamp(x0 as i64 + 1, sw as i64) as u32;
    let y1 = (hi_y.ceil() as i64 + 2).clamp(y0 as i64 + 1, sh as i64) as u32;
    let (cw, ch) = (x1 - x0, y1 - y0);
    let (tw, th) = if scale < 0.75 {
        (
            ((cw as f32 * scale).round() as u32).max(1),
            ((ch as f32 * scale).round() as u32).max(1),
        )
    } else {
        (cw, ch)
    };
    let src_rgb = shrink(
        rgb.as_raw(),
        (sw, sh),
        PixelType::U8x3,
        (x0, y0, cw, ch),
        (tw, th),
    );
    let src_alpha = shrink(
        alpha.as_raw(),
        (sw, sh),
        PixelType::U8,
        (x0, y0, cw, ch),
        (tw, th),
    );
    let (fx, fy) = (tw as f32 / cw as f32, th as f32 / ch as f32);
    let n = (width * height) as usize;
    let mut layer = Layer {
        width,
        height,
        rgb: vec![0.0; 3 * n],
        alpha: vec![0.0; n],
    };
    const BYTE: f32 = 1.0 / 255.0;
    for y in 0..height {
        for x in 0..width {
            let p = to_source(x as f32, y as f32);
            let q = [
                (p[0] + 0.5 - x0 as f32) * fx - 0.5,
                (p[1] + 0.5 - y0 as f32) * fy - 0.5,
            ];
            let taps = Taps::at(q, tw as usize, th as usize);
            let i = (y * width + x) as usize;
            // Past the photo's bottom and sides the person continues as its last rows and
            // columns show them (clothing extended, never a visible edge); above its top is
            // background (hair that ran off the edge is not stretched upwards).
            let alpha_weights = if q[1] < 0.0 {
                &taps.inside
            } else {
                &taps.clamped
            };
            let (mut rgb, mut a) = ([0f32; 3], 0f32);
            for ((&j, &weight), &alpha_weight) in
                taps.index.iter().zip(&taps.clamped).zip(alpha_weights)
            {
                for (c, v) in rgb.iter_mut().enumerate() {
                    *v += weight * f32::from(src_rgb[3 * j + c]);
                }
                a += alpha_weight * f32::from(src_alpha[j]);
            }
            layer.rgb[3 * i..3 * i + 3].copy_from_slice(&rgb.map(|v| v * BYTE));
            layer.alpha[i] = a * BYTE;
        }
    }
    layer
}

/// Mean over a (2r+1)² window, clamped at the edges, of an image of `C` interleaved channels:
/// a running sum along each row, then running sums down all columns at once (row-major, so
/// both passes stream memory).
fn box_blur<const C: usize>(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let stride = w * C;
    let mut rows = vec![0f32; plane.len()];
    for (src, dst) in plane
        .chunks_exact(stride)
        .zip(rows.chunks_exact_mut(stride))
    {
        let (mut sum, mut count) = ([0f32; C], 0f32);
        for px in src[..(r.min(w - 1) + 1) * C].chunks_exact(C) {
            sum.iter_mut().zip(px).for_each(|(s, v)| *s += v);
            count += 1.0;
        }
        for k in 0..w {
            let inv = 1.0 / count;
            for c in 0..C {
                dst[k * C + c] = sum[c] * inv;
            }
            if k + r + 1 < w {
                let add = &src[(k + r + 1) * C..(k + r + 2) * C];
                sum.iter_mut().zip(add).for_each(|(s, v)| *s += v);
                count += 1.0;
            }
            if k >= r {
                let sub = &src[(k - r) * C..(k - r + 1) * C];
                sum.iter_mut().zip(sub).for_each(|(s, v)| *s -= v);
                count -= 1.0;
            }
        }
    }
    let mut out = vec![0f32; plane.len()];
    let mut sums = vec![0f32; stride];
    let mut count = 0f32;
    for row in rows.chunks_exact(stride).take(r.min(h - 1) + 1) {
        sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        count += 1.0;
    }
    for k in 0..h {
        let inv = 1.0 / count;
        let dst = &mut out[k * stride..(k + 1) * stride];
        dst.iter_mut().zip(&sums).for_each(|(d, s)| *d = s * inv);
        if k + r + 1 < h {
            let add = &rows[(k + r + 1) * stride..(k + r + 2) * stride];
            sums.iter_mut().zip(add).for_each(|(s, v)| *s += v);
            count += 1.0;
        }
        if k >= r {
            let sub = &rows[(k - r) * stride..(k - r + 1) * stride];
            sums.iter_mut().zip(sub).for_each(|(s, v)| *s -= v);
            count -= 1.0;
        }
    }
    out
}

/// Blur fusion (Forte and Pitié, "Approximate fast foreground colour estimation", ICIP 2021),
/// first half: local means over a (2r+1)² window of the matte, of the foreground estimate
/// weighted by it and of the background estimate weighted by its complement — seven
/// interleaved channels `[ā, F·α (3), B·(1−α) (3)]`, blurred in one pass.
fn local_means(fg: &[f32], bg: &[f32], alpha: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut weighted = vec![0f32; alpha.len() * MEANS];
    for (i, (&a, px)) in alpha
        .iter()
        .zip(weighted.chunks_exact_mut(MEANS))
        .enumerate()
    {
        px[0] = a;
        for c in 0..3 {
            px[1 + c] = fg[3 * i + c] * a;
            px[4 + c] = bg[3 * i + c] * (1.0 - a);
        }
    }
    box_blur::<MEANS>(&weighted, w, h, r)
}

/// Channels of [`local_means`].
const MEANS: usize = 7;
const EPS: f32 = 1e-5;

/// Blur fusion, second half: the local foreground mean corrected so that the compositing
/// equation reproduces the observed colour.
fn corrected_foreground(image: &[f32], alpha: &[f32], means: &[f32]) -> Vec<f32> {
    let mut fg = vec![0f32; image.len()];
    for (i, (&a, m)) in alpha.iter().zip(means.chunks_exact(MEANS)).enumerate() {
        let (to_fg, to_bg) = (1.0 / (m[0] + EPS), 1.0 / (1.0 - m[0] + EPS));
        for c in 0..3 {
            let k = 3 * i + c;
            let (f, b) = (m[1 + c] * to_fg, m[4 + c] * to_bg);
            let corrected = f + a * (image[k] - a * f - (1.0 - a) * b);
            fg[k] = corrected.clamp(0.0, 1.0);
        }
    }
    fg
}

/// The local background mean of every pixel, from [`local_means`].
fn local_background(means: &[f32]) -> Vec<f32> {
    means
        .chunks_exact(MEANS)
        .flat_map(|m| {
            let to_bg = 1.0 / (1.0 - m[0] + EPS);
            [m[4] * to_bg, m[5] * to_bg, m[6] * to_bg]
        })
        .collect()
}

/// Estimates the foreground colour of every pixel (two blur-fusion passes, coarse then fine).
/// The coarse pass averages over windows ~18% of the photo wide, so it runs at half the
/// resolution (a quarter of the work); the fine pass restores full detail.
pub fn foreground(layer: &Layer) -> Vec<f32> {
    let (w, h) = (layer.width as usize, layer.height as usize);
    let side = w.max(h) as f32;
    let coarse = ((side * 0.045).round() as usize).max(2);
    let fine = ((side * 0.006).round() as usize).max(1);
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let rgb = halve::<3>(&layer.rgb, w, h);
    let alpha = halve::<1>(&layer.alpha, w, h);
    let means = local_means(&rgb, &rgb, &alpha, hw, hh, coarse);
    let (fg, bg) = (
        double::<3>(&corrected_foreground(&rgb, &alpha, &means), hw, hh, w, h),
        double::<3>(&local_background(&means), hw, hh, w, h),
    );
    let means = local_means(&fg, &bg, &layer.alpha, w, h, fine);
    corrected_foreground(&layer.rgb, &layer.alpha, &means)
}

/// Mean of each 2×2 block of a `w`×`h` image of `C` interleaved channels (odd edges repeat
/// the last row or column).
fn halve<const C: usize>(plane: &[f32], w: usize, h: usize) -> Vec<f32> {
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0f32; hw * hh * C];
    for y in 0..hh {
        let (r0, r1) = (2 * y, (2 * y + 1).min(h - 1));
        for x in 0..hw {
            let (c0, c1) = (2 * x, (2 * x + 1).min(w - 1));
            for c in 0..C {
                let at = |r: usize, k: usize| plane[(r * w + k) * C + c];
                out[(y * hw + x) * C + c] =
                    0.25 * (at(r0, c0) + at(r0, c1) + at(r1, c0) + at(r1, c1));
            }
        }
    }
    out
}

/// A half-resolution `hw`×`hh` image back to `w`×`h`, bilinear between block centres.
fn double<const C: usize>(small: &[f32], hw: usize, hh: usize, w: usize, h: usize) -> Vec<f32> {
    // Output pixel centre x + 0.5 sits at x/2 - 0.25 in block-centre coordinates.
    let axis = |n: usize, len: usize| -> Vec<(usize, usize, f32)> {
        (0..n)
            .map(|i| {
                let p = (i as f32 * 0.5 - 0.25).clamp(0.0, (len - 1) as f32);
                let i0 = p as usize;
                (i0, (i0 + 1).min(len - 1), p - i0 as f32)
            })
            .collect()
    };
    let (xs, ys) = (axis(w, hw), axis(h, hh));
    let mut out = vec![0f32; w * h * C];
    for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
        for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
            for c in 0..C {
                let at = |r: usize, k: usize| small[(r * hw + k) * C + c];
                let top = at(y0, x0) + fx * (at(y0, x1) - at(y0, x0));
                let bottom = at(y1, x0) + fx * (at(y1, x1) - at(y1, x0));
                out[(y * w + x) * C + c] = top + fy * (bottom - top);
            }
        }
    }
    out
}

/// The background colour of row `y` of `height`.
pub fn background_at(colour: [u8; 3], render: Render, y: u32, height: u32) -> [f32; 3] {
    let t = match render {
        Render::Solid => 0.0,
        // Fades to a tint halfway to white at the bottom edge.
        Render::Gradient => 0.5 * y as f32 / (height.max(2) - 1) as f32,
    };
    colour.map(|c| f32::from(c) * (1.0 - t) + 255.0 * t)
}

/// A 0..=255 value (rounded, saturating) as a byte. `f32::round` is a libm call in wasm;
/// adding a half and truncating is one instruction for the non-negative values here.
pub fn byte(v: f32) -> u8 {
    (v + 0.5) as u8
}

/// Foreground over the background colour.
pub fn composite(layer: &Layer, fg: &[f32], colour: [u8; 3], render: Render) -> RgbImage {
    let (w, h) = (layer.width, layer.height);
    let mut out = RgbImage::new(w, h);
    for y in 0..h {
        let bg = background_at(colour, render, y, h);
        for x in 0..w {
            let i = (y * w + x) as usize;
            let a = layer.alpha[i];
            let px = std::array::from_fn(|c| byte(fg[3 * i + c] * 255.0 * a + bg[c] * (1.0 - a)));
            out.put_pixel(x, y, image::Rgb(px));
        }
    }
    out
}

/// The transparent cut-out: foreground colours with the matte as alpha.
pub fn cutout(layer: &Layer, fg: &[f32]) -> RgbaImage {
    let (w, h) = (layer.width, layer.height);
    RgbaImage::from_fn(w, h, |x, y| {
        let i = (y * w + x) as usize;
        let c = |k: usize| byte(fg[3 * i + k] * 255.0);
        image::Rgba([c(0), c(1), c(2), byte(layer.alpha[i] * 255.0)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_is_a_clamped_mean() {
        let plane: Vec<f32> = (0..25).map(|i| i as f32).collect();
        let out = box_blur::<1>(&plane, 5, 5, 1);
        // Centre: mean of the 3x3 around 12.
        assert!((out[12] - 12.0).abs() < 1e-4);
        // Corner: mean of 0,1,5,6.
        assert!((out[0] - 3.0).abs() < 1e-4);
        let flat = box_blur::<1>(&[7.0; 100], 10, 10, 30);
        assert!(flat.iter().all(|v| (v - 7.0).abs() < 1e-4));
    }

    #[test]
    fn halving_then_doubling_keeps_smooth_images() {
        let (w, h) = (9, 6);
        let ramp: Vec<f32> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                [x, y, 2.0 * x + y]
            })
            .collect();
        let small = halve::<3>(&ramp, w, h);
        assert_eq!(small.len(), 5 * 3 * 3);
        assert!((small[0] - 0.5).abs() < 1e-6 && (small[1] - 0.5).abs() < 1e-6);
        let back = double::<3>(&small, 5, 3, w, h);
        // A linear ramp comes back exactly away from the clamped last column.
        for y in 1..h - 1 {
            for x in 1..w - 2 {
                let i = 3 * (y * w + x);
                assert!((back[i] - ramp[i]).abs() < 1e-4, "{x},{y}: {}", back[i]);
                assert!((back[i + 1] - ramp[i + 1]).abs() < 1e-4);
            }
        }
        let flat = double::<1>(&halve::<1>(&[0.3; 35], 7, 5), 4, 3, 7, 5);
        assert!(flat.iter().all(|v| (v - 0.3).abs() < 1e-6));
    }

    #[test]
    fn bytes_round_and_saturate() {
        assert_eq!(
            [byte(0.4), byte(0.5), byte(254.6), byte(300.0), byte(-3.0)],
            [0, 1, 255, 255, 0]
        );
    }

    #[test]
    fn taps_clamp_colour_and_drop_the_matte_outside() {
        let taps = Taps::at([-0.5, 0.0], 2, 2);
        assert_eq!(taps.index, [0, 0, 2, 2]);
        assert_eq!(taps.clamped, [0.5, 0.5, 0.0, 0.0]);
        assert_eq!(taps.inside, [0.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn interleaved_channels_blur_like_separate_planes() {
        let (w, h) = (7, 5);
        let rgb: Vec<f32> = (0..w * h * 3).map(|i| ((i * 37) % 11) as f32).collect();
        let together = box_blur::<3>(&rgb, w, h, 2);
        for c in 0..3 {
            let plane: Vec<f32> = rgb.iter().skip(c).step_by(3).copied().collect();
            let alone = box_blur::<1>(&plane, w, h, 2);
            for (i, v) in alone.iter().enumerate() {
                assert!((together[3 * i + c] - v).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn decontamination_removes_the_old_background_from_soft_edges() {
        // A red person on a green background with a soft vertical edge, 8 px wide.
        let (w, h) = (128u32, 16u32);
        let mut layer = Layer {
            width: w,
            height: h,
            rgb: vec![],
            alpha: vec![],
        };
        for _y in 0..h {
            for x in 0..w {
                let a = ((x as f32 - 60.0) / 8.0).clamp(0.0, 1.0);
                let observed = [a, 1.0 - a, 0.0];
                layer.rgb.extend_from_slice(&observed);
                layer.alpha.push(a);
            }
        }
        let fg = foreground(&layer);
        // Mid-edge pixel: the observed colour is half green, the estimate is red.
        let i = (8 * w + 64) as usize;
        assert!(
            fg[3 * i] > 0.85 && fg[3 * i + 1] < 0.15,
            "{:?}",
            &fg[3 * i..3 * i + 3]
        );
        let out = composite(&layer, &fg, [0, 0, 255], Render::Solid);
        // Composited on blue, no green survives.
        assert!(out.get_pixel(64, 8).0[1] < 20, "{:?}", out.get_pixel(64, 8));
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 255]);
    }

    #[test]
    fn warp_keeps_pixels_continues_the_person_past_the_bottom_and_sides_not_the_top() {
        let rgb = RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 0]));
        let alpha = GrayImage::from_pixel(8, 8, image::Luma([255]));
        let layer = warp(&rgb, &alpha, 10, 8, 1.0, |x, y| [x, y]);
        assert!((layer.rgb[3 * (2 * 10 + 3)] - 30.0 / 255.0).abs() < 1e-4);
        assert_eq!(layer.alpha[2 * 10 + 3], 1.0);
        // Beyond the right edge: the last column, person and colour.
        assert_eq!(layer.alpha[2 * 10 + 9], 1.0);
        assert!((layer.rgb[3 * (2 * 10 + 9)] - 70.0 / 255.0).abs() < 1e-4);
        // Shifted up by 4 rows: the bottom rows continue the photo's last row.
        let below = warp(&rgb, &alpha, 8, 8, 1.0, |x, y| [x, y + 4.0]);
        assert_eq!(below.alpha[7 * 8 + 4], 1.0);
        assert!((below.rgb[3 * (7 * 8 + 4) + 1] - 70.0 / 255.0).abs() < 1e-4);
        // Shifted down by 4 rows: above the photo's top is background.
        let above = warp(&rgb, &alpha, 8, 8, 1.0, |x, y| [x, y - 4.0]);
        assert_eq!(above.alpha[8 + 4], 0.0);
        assert_eq!(above.alpha[6 * 8 + 4], 1.0);
    }
}
