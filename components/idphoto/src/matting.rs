//! From source pixels to the output's pixels: the warp that levels, scales and crops colour and
//! matte together, foreground colour estimation (so no halo of the old background survives at
//! soft edges), and compositing onto the new background.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{RgbImage, RgbaImage};

use crate::geometry::Matte;

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

/// Where the warp reads the photo's colour: the photo may stay in the host, which then crops
/// and shrinks it natively, and only the pixels the output needs cross into the component.
pub trait Source {
    /// The photo's width and height.
    fn dimensions(&self) -> (u32, u32);
    /// The rectangle `(x, y, width, height)`, which lies inside the photo, resampled to `to`
    /// without aliasing (a plain copy when `to` is its own size): packed RGB, rows top down.
    fn read(&self, rect: (u32, u32, u32, u32), to: (u32, u32)) -> Result<Vec<u8>, String>;
}

impl Source for RgbImage {
    fn dimensions(&self) -> (u32, u32) {
        RgbImage::dimensions(self)
    }

    fn read(&self, rect: (u32, u32, u32, u32), to: (u32, u32)) -> Result<Vec<u8>, String> {
        Ok(shrink(
            self.as_raw(),
            RgbImage::dimensions(self),
            PixelType::U8x3,
            rect,
            to,
        ))
    }
}

/// Resamples the photo's colour (from `source`) and its `matte` into a
/// `width`×`height` layer, output pixel centre `(x, y)` reading the photo at `to_source(x, y)`,
/// which must be affine (levelling, scaling and cropping are).
/// When the output is much smaller than the region it reads, that region is first shrunk with
/// a filter so nothing aliases. Fails only when the source cannot be read.
pub fn warp(
    source: &impl Source,
    matte: &Matte,
    width: u32,
    height: u32,
    scale: f32,
    to_source: impl Fn(f32, f32) -> [f32; 2],
) -> Result<Layer, String> {
    let (sw, sh) = source.dimensions();
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
    let src_rgb = source.read((x0, y0, cw, ch), (tw, th))?;
    if src_rgb.len() != tw as usize * th as usize * 3 {
        return Err(format!(
            "the photo's {tw}×{th} pixels came with {} bytes",
            src_rgb.len()
        ));
    }
    let alpha = matte.cut((x0, y0, cw, ch));
    let src_alpha = shrink(&alpha, (cw, ch), PixelType::U8, (0, 0, cw, ch), (tw, th));
    let (fx, fy) = (tw as f32 / cw as f32, th as f32 / ch as f32);
    // Where output pixel (x, y) reads the shrunk rectangle: `to_source` is affine, so that
    // position is `origin + x·step_x + y·step_y`.
    let shrunk = |p: [f32; 2]| {
        [
            (p[0] + 0.5 - x0 as f32) * fx - 0.5,
            (p[1] + 0.5 - y0 as f32) * fy - 0.5,
        ]
    };
    let origin = shrunk(to_source(0.0, 0.0));
    let along = |p: [f32; 2]| [p[0] - origin[0], p[1] - origin[1]];
    let (step_x, step_y) = (
        along(shrunk(to_source(1.0, 0.0))),
        along(shrunk(to_source(0.0, 1.0))),
    );
    let n = (width * height) as usize;
    let (mut rgb_out, mut alpha_out) = (Vec::with_capacity(3 * n), Vec::with_capacity(n));
    const BYTE: f32 = 1.0 / 255.0;
    let (stride, last_x, last_y) = (tw as usize, tw as i64 - 1, th as i64 - 1);
    for y in 0..height {
        let row = [
            origin[0] + y as f32 * step_y[0],
            origin[1] + y as f32 * step_y[1],
        ];
        for x in 0..width {
            let q = [row[0] + x as f32 * step_x[0], row[1] + x as f32 * step_x[1]];
            let (qx, qy) = (q[0].floor(), q[1].floor());
            let (ix, iy) = (qx as i64, qy as i64);
            let (rgb, a) = if ix >= 0 && iy >= 0 && ix < last_x && iy < last_y {
                // All four neighbours inside: the common case, without clamping.
                let (ax, ay) = (q[0] - qx, q[1] - qy);
                let j = iy as usize * stride + ix as usize;
                let taps = [j, j + 1, j + stride, j + stride + 1];
                let weights = [
                    (1.0 - ax) * (1.0 - ay),
                    ax * (1.0 - ay),
                    (1.0 - ax) * ay,
                    ax * ay,
                ];
                let (mut rgb, mut a) = ([0f32; 3], 0f32);
                for (&j, &weight) in taps.iter().zip(&weights) {
                    let px: &[u8; 3] = src_rgb[3 * j..3 * j + 3].try_into().expect("RGB");
                    rgb[0] += weight * f32::from(px[0]);
                    rgb[1] += weight * f32::from(px[1]);
                    rgb[2] += weight * f32::from(px[2]);
                    a += weight * f32::from(src_alpha[j]);
                }
                (rgb, a)
            } else {
                edge_sample(&src_rgb, &src_alpha, q, (tw, th))
            };
            rgb_out.extend(rgb.map(|v| v * BYTE));
            alpha_out.push(a * BYTE);
        }
    }
    Ok(Layer {
        width,
        height,
        rgb: rgb_out,
        alpha: alpha_out,
    })
}

/// A bilinear sample at `q` near or beyond the edge of a `(tw, th)` image: past the photo's
/// bottom and sides the person continues as its last rows and columns show them (clothing
/// extended, never a visible edge); above its top is background (hair that ran off the edge
/// is not stretched upwards).
fn edge_sample(rgb: &[u8], alpha: &[u8], q: [f32; 2], (tw, th): (u32, u32)) -> ([f32; 3], f32) {
    let taps = Taps::at(q, tw as usize, th as usize);
    let alpha_weights = if q[1] < 0.0 {
        &taps.inside
    } else {
        &taps.clamped
    };
    let (mut sum, mut a) = ([0f32; 3], 0f32);
    for ((&j, &weight), &alpha_weight) in taps.index.iter().zip(&taps.clamped).zip(alpha_weights) {
        for (c, v) in sum.iter_mut().enumerate() {
            *v += weight * f32::from(rgb[3 * j + c]);
        }
        a += alpha_weight * f32::from(alpha[j]);
    }
    (sum, a)
}

/// Mean over a (2r+1)² window, clamped at the edges, of an image of `C` interleaved channels:
/// a running sum along each row, then running sums down all columns at once (row-major, so
/// both passes stream memory).
fn box_blur<const C: usize>(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let stride = w * C;
    let mut rows = vec![0f32; plane.len()];
    // Pixels as arrays, so the channel loops have no bounds checks and vectorise.
    let pixel = |row: &[f32], k: usize| -> [f32; C] {
        row[k * C..(k + 1) * C].try_into().expect("C channels")
    };
    for (src, dst) in plane
        .chunks_exact(stride)
        .zip(rows.chunks_exact_mut(stride))
    {
        let (mut sum, mut count) = ([0f32; C], 0f32);
        for k in 0..=r.min(w - 1) {
            let px = pixel(src, k);
            (0..C).for_each(|c| sum[c] += px[c]);
            count += 1.0;
        }
        for (k, out) in dst.chunks_exact_mut(C).enumerate() {
            let inv = 1.0 / count;
            out.iter_mut().zip(&sum).for_each(|(o, s)| *o = s * inv);
            if k + r + 1 < w {
                let px = pixel(src, k + r + 1);
                (0..C).for_each(|c| sum[c] += px[c]);
                count += 1.0;
            }
            if k >= r {
                let px = pixel(src, k - r);
                (0..C).for_each(|c| sum[c] -= px[c]);
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
        // px[7] stays 0: the eighth channel pads each pixel to two SIMD vectors.
    }
    box_blur::<MEANS>(&weighted, w, h, r)
}

/// Channels of [`local_means`]: its seven and one of padding.
const MEANS: usize = 8;
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

/// Side of the square tiles the fine pass works in.
const TILE: usize = 32;
/// A matte value within this of 0 or 1 is background or person, not a soft edge. Models leave
/// a few levels of noise in both (u2netp's person is mostly 253–254 of 255, its background
/// 0–4), which a stricter bound would take for edges everywhere.
const SOFT: f32 = 0.02;

/// Estimates the foreground colour of every pixel (two blur-fusion passes, coarse then fine).
/// The coarse pass averages over windows ~18% of the photo wide, so it runs at half the
/// resolution (a quarter of the work). The fine pass restores full detail where the matte is
/// soft, tile by tile: where it is 1 the estimate is the observed colour, and where it is 0 no
/// colour shows, so a tile whose matte stays within [`SOFT`] of 0 or 1 keeps the observed
/// colour (once composited, at most 2·[`SOFT`] from the whole-image pass; 2/255 at most on
/// fr_obama). On the other tiles the result is the whole-image pass's, since each tile is
/// blurred with a margin of the window's radius.
pub fn foreground(layer: &Layer) -> Vec<f32> {
    let (w, h) = (layer.width as usize, layer.height as usize);
    let Coarse {
        fg: coarse_fg,
        bg: coarse_bg,
        half: (hw, hh),
        fine,
    } = Coarse::of(layer);
    let mut out = layer.rgb.clone();
    for ty in (0..h).step_by(TILE) {
        for tx in (0..w).step_by(TILE) {
            let (tw, th) = (TILE.min(w - tx), TILE.min(h - ty));
            let soft = (ty..ty + th).any(|y| {
                layer.alpha[y * w + tx..y * w + tx + tw]
                    .iter()
                    .any(|&a| a > SOFT && a < 1.0 - SOFT)
            });
            if !soft {
                continue;
            }
            let (x0, y0) = (tx.saturating_sub(fine), ty.saturating_sub(fine));
            let (rw, rh) = ((tx + tw + fine).min(w) - x0, (ty + th + fine).min(h) - y0);
            let rect = Rect { x0, y0, rw, rh };
            let fg = double::<3>(&coarse_fg, (hw, hh), (w, h), rect);
            let bg = double::<3>(&coarse_bg, (hw, hh), (w, h), rect);
            let image = rect.cut::<3>(&layer.rgb, w);
            let alpha = rect.cut::<1>(&layer.alpha, w);
            let means = local_means(&fg, &bg, &alpha, rw, rh, fine);
            let corrected = corrected_foreground(&image, &alpha, &means);
            for y in ty..ty + th {
                let from = 3 * ((y - y0) * rw + tx - x0);
                out[3 * (y * w + tx)..3 * (y * w + tx + tw)]
                    .copy_from_slice(&corrected[from..from + 3 * tw]);
            }
        }
    }
    out
}

/// Blur fusion's coarse pass, at half resolution, and the fine pass's window radius.
struct Coarse {
    /// Foreground and background estimates, `half` in size, RGB interleaved.
    fg: Vec<f32>,
    bg: Vec<f32>,
    half: (usize, usize),
    fine: usize,
}

impl Coarse {
    fn of(layer: &Layer) -> Coarse {
        let (w, h) = (layer.width as usize, layer.height as usize);
        let side = w.max(h) as f32;
        let coarse = ((side * 0.045).round() as usize).max(2);
        let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
        let rgb = halve::<3>(&layer.rgb, w, h);
        let alpha = halve::<1>(&layer.alpha, w, h);
        let means = local_means(&rgb, &rgb, &alpha, hw, hh, coarse);
        Coarse {
            fg: corrected_foreground(&rgb, &alpha, &means),
            bg: local_background(&means),
            half: (hw, hh),
            fine: ((side * 0.006).round() as usize).max(1),
        }
    }
}

/// A rectangle of a full-resolution image: `rw`×`rh` from (`x0`, `y0`).
#[derive(Clone, Copy)]
struct Rect {
    x0: usize,
    y0: usize,
    rw: usize,
    rh: usize,
}

impl Rect {
    /// The rectangle's pixels of a `w`-wide image of `C` interleaved channels.
    fn cut<const C: usize>(&self, plane: &[f32], w: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rw * self.rh * C);
        for y in self.y0..self.y0 + self.rh {
            out.extend_from_slice(&plane[(y * w + self.x0) * C..(y * w + self.x0 + self.rw) * C]);
        }
        out
    }
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

/// The `rect` of a half-resolution `hw`×`hh` image brought back to `w`×`h`, bilinear between
/// block centres.
fn double<const C: usize>(
    small: &[f32],
    (hw, hh): (usize, usize),
    (w, h): (usize, usize),
    rect: Rect,
) -> Vec<f32> {
    // Output pixel centre x + 0.5 sits at x/2 - 0.25 in block-centre coordinates.
    let axis = |from: usize, n: usize, len: usize| -> Vec<(usize, usize, f32)> {
        (from..from + n)
            .map(|i| {
                let p = (i as f32 * 0.5 - 0.25).clamp(0.0, (len - 1) as f32);
                let i0 = p as usize;
                (i0, (i0 + 1).min(len - 1), p - i0 as f32)
            })
            .collect()
    };
    debug_assert!(rect.x0 + rect.rw <= w && rect.y0 + rect.rh <= h);
    let (xs, ys) = (axis(rect.x0, rect.rw, hw), axis(rect.y0, rect.rh, hh));
    // The small image's columns the rectangle reads, `lo..=hi`; each output row is the two
    // small rows around it blended (one pass over those columns), then read across.
    let (lo, hi) = (xs[0].0, xs[xs.len() - 1].1);
    let mut line = vec![0f32; (hi - lo + 1) * C];
    let mut out = Vec::with_capacity(rect.rw * rect.rh * C);
    for &(y0, y1, fy) in &ys {
        let above = &small[(y0 * hw + lo) * C..(y0 * hw + hi + 1) * C];
        let below = &small[(y1 * hw + lo) * C..(y1 * hw + hi + 1) * C];
        for ((l, &p), &q) in line.iter_mut().zip(above).zip(below) {
            *l = p + fy * (q - p);
        }
        for &(x0, x1, fx) in &xs {
            let p: &[f32; C] = line[(x0 - lo) * C..(x0 - lo + 1) * C]
                .try_into()
                .expect("C channels");
            let q: &[f32; C] = line[(x1 - lo) * C..(x1 - lo + 1) * C]
                .try_into()
                .expect("C channels");
            out.extend((0..C).map(|c| p[c] + fx * (q[c] - p[c])));
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
    let mut out = Vec::with_capacity(3 * w as usize * h as usize);
    for (y, (alpha, fg)) in layer
        .alpha
        .chunks_exact(w as usize)
        .zip(fg.chunks_exact(3 * w as usize))
        .enumerate()
    {
        let bg = background_at(colour, render, y as u32, h);
        for (&a, px) in alpha.iter().zip(fg.chunks_exact(3)) {
            out.extend((0..3).map(|c| byte(px[c] * 255.0 * a + bg[c] * (1.0 - a))));
        }
    }
    RgbImage::from_raw(w, h, out).expect("sized to the layer")
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
        let whole = |w, h| Rect {
            x0: 0,
            y0: 0,
            rw: w,
            rh: h,
        };
        let back = double::<3>(&small, (5, 3), (w, h), whole(w, h));
        // A linear ramp comes back exactly away from the clamped last column.
        for y in 1..h - 1 {
            for x in 1..w - 2 {
                let i = 3 * (y * w + x);
                assert!((back[i] - ramp[i]).abs() < 1e-4, "{x},{y}: {}", back[i]);
                assert!((back[i + 1] - ramp[i + 1]).abs() < 1e-4);
            }
        }
        let flat = double::<1>(&halve::<1>(&[0.3; 35], 7, 5), (4, 3), (7, 5), whole(7, 5));
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

    /// The fine pass over the whole image, as it ran before it went tile by tile.
    fn whole_image_foreground(layer: &Layer) -> Vec<f32> {
        let (w, h) = (layer.width as usize, layer.height as usize);
        let coarse = Coarse::of(layer);
        let all = Rect {
            x0: 0,
            y0: 0,
            rw: w,
            rh: h,
        };
        let fg = double::<3>(&coarse.fg, coarse.half, (w, h), all);
        let bg = double::<3>(&coarse.bg, coarse.half, (w, h), all);
        let means = local_means(&fg, &bg, &layer.alpha, w, h, coarse.fine);
        corrected_foreground(&layer.rgb, &layer.alpha, &means)
    }

    #[test]
    fn the_tiled_fine_pass_matches_the_whole_image_pass_wherever_colour_shows() {
        // A head-like disc with a soft rim several pixels wide, on a textured background, in an
        // image whose sides are not multiples of the tile.
        let (w, h) = (301u32, 413u32);
        let mut layer = Layer {
            width: w,
            height: h,
            rgb: Vec::new(),
            alpha: Vec::new(),
        };
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - 150.0).powi(2) + (y as f32 - 180.0).powi(2)).sqrt();
                let a = ((120.0 - d) / 6.0).clamp(0.0, 1.0);
                let bg = [((x * 7 + y * 3) % 50) as f32 / 255.0, 0.8, 0.3];
                let fg = [0.9, 0.5 + (y % 9) as f32 / 90.0, 0.2];
                layer
                    .rgb
                    .extend((0..3).map(|c| a * fg[c] + (1.0 - a) * bg[c]));
                layer.alpha.push(a);
            }
        }
        let tiled = foreground(&layer);
        let whole = whole_image_foreground(&layer);
        let (mut soft, mut worst) = (0, 0f32);
        for (i, &a) in layer.alpha.iter().enumerate() {
            if a > SOFT && a < 1.0 - SOFT {
                soft += 1;
                for k in 3 * i..3 * i + 3 {
                    worst = worst.max((tiled[k] - whole[k]).abs());
                }
            }
        }
        // Elsewhere the observed colour stands in: at most 2·SOFT off once composited.
        let on_blue = |fg: &[f32]| composite(&layer, fg, [0, 0, 255], Render::Solid);
        let (a, b) = (on_blue(&tiled), on_blue(&whole));
        let off = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(p, q)| p.abs_diff(*q))
            .max();
        assert!(off <= Some((2.0 * SOFT * 255.0).ceil() as u8), "{off:?}");
        assert!(soft > 2_000, "the rim is soft: {soft} pixels");
        assert!(worst < 1e-5, "soft pixels differ by {worst}");
    }

    #[test]
    fn warp_keeps_pixels_continues_the_person_past_the_bottom_and_sides_not_the_top() {
        let rgb = RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 0]));
        let alpha = [255; 64];
        let alpha = Matte::whole(&alpha, 8, 8);
        let layer = warp(&rgb, &alpha, 10, 8, 1.0, |x, y| [x, y]).unwrap();
        assert!((layer.rgb[3 * (2 * 10 + 3)] - 30.0 / 255.0).abs() < 1e-4);
        assert_eq!(layer.alpha[2 * 10 + 3], 1.0);
        // Beyond the right edge: the last column, person and colour.
        assert_eq!(layer.alpha[2 * 10 + 9], 1.0);
        assert!((layer.rgb[3 * (2 * 10 + 9)] - 70.0 / 255.0).abs() < 1e-4);
        // Shifted up by 4 rows: the bottom rows continue the photo's last row.
        let below = warp(&rgb, &alpha, 8, 8, 1.0, |x, y| [x, y + 4.0]).unwrap();
        assert_eq!(below.alpha[7 * 8 + 4], 1.0);
        assert!((below.rgb[3 * (7 * 8 + 4) + 1] - 70.0 / 255.0).abs() < 1e-4);
        // Shifted down by 4 rows: above the photo's top is background.
        let above = warp(&rgb, &alpha, 8, 8, 1.0, |x, y| [x, y - 4.0]).unwrap();
        assert_eq!(above.alpha[8 + 4], 0.0);
        assert_eq!(above.alpha[6 * 8 + 4], 1.0);
    }
}
