//! Text → QR matrix → PNG or SVG.
//!
//! The matrix comes from [`symbol`](crate::symbol). PNG output is a 2-colour indexed image at 1 bit per
//! pixel, rows Up-filtered (fast to write, tiny to send); SVG output is one path with a horizontal run per
//! subpath, sized in pixels with a viewBox in modules.

use std::time::{Duration, Instant};

use qrcodegen::QrCodeEcc;

use crate::options::{Ecc, Format, Options, ParamError, Rgba, Sizing};
use crate::symbol::Symbol;

/// A rendered code.
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub version: i16,
    pub pixels: u32,
    /// Time spent building the matrix (encoding, error correction, mask choice).
    pub matrix_time: Duration,
}

/// Encodes and renders `options`.
pub fn render(options: &Options) -> Result<Rendered, ParamError> {
    let ecl = match options.ecc {
        Ecc::L => QrCodeEcc::Low,
        Ecc::M => QrCodeEcc::Medium,
        Ecc::Q => QrCodeEcc::Quartile,
        Ecc::H => QrCodeEcc::High,
    };
    let start = Instant::now();
    let code = crate::symbol::encode(&options.text, ecl).map_err(|e| {
        ParamError::new(
            "text",
            format!(
                "{} bytes cannot be encoded at ecc {:?}: {e}",
                options.text.len(),
                options.ecc
            ),
        )
    })?;
    let matrix_time = start.elapsed();
    let modules = code.size as u32;
    let total_modules = modules + 2 * options.border;
    let (scale, pixels) = match options.sizing {
        Sizing::Scale(s) => (s, total_modules * s),
        Sizing::Size(px) => {
            if px < total_modules {
                return Err(ParamError::new("size", format!("{px} px is smaller than the code's {total_modules} modules (border included)")));
            }
            (px / total_modules, px)
        }
    };
    if pixels > crate::options::MAX_SIZE {
        return Err(ParamError::new(
            "scale",
            format!(
                "the image would be {pixels} px wide; the maximum is {}",
                crate::options::MAX_SIZE
            ),
        ));
    }
    // Extra pixels when `size` is not a multiple of the module count go to the quiet zone.
    let offset = (pixels - modules * scale) / 2;
    let bytes = match options.format {
        Format::Png => png_bytes(&code, scale, offset, pixels, options.fg, options.bg),
        Format::Svg => svg_bytes(&code, scale, offset, pixels, options.fg, options.bg).into_bytes(),
    };
    Ok(Rendered {
        bytes,
        content_type: match options.format {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
        },
        version: i16::from(code.version),
        pixels,
        matrix_time,
    })
}

fn png_bytes(code: &Symbol, scale: u32, offset: u32, pixels: u32, fg: Rgba, bg: Rgba) -> Vec<u8> {
    let idat = fdeflate::compress_to_vec(&filtered_scanlines(code, scale, offset, pixels));
    let mut out = Vec::with_capacity(idat.len() + 128);
    let mut encoder = png::Encoder::new(&mut out, pixels, pixels);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_palette(vec![bg[0], bg[1], bg[2], fg[0], fg[1], fg[2]]);
    if bg[3] != 255 || fg[3] != 255 {
        encoder.set_trns(vec![bg[3], fg[3]]);
    }
    let mut writer = encoder.write_header().expect("writing to a Vec");
    writer
        .write_chunk(png::chunk::IDAT, &idat)
        .expect("writing to a Vec");
    writer.finish().expect("writing to a Vec");
    out
}

/// The image's scanlines as PNG stores them, each led by its filter type (PNG §9), palette
/// index 1 (dark) as a set bit. A pixel row that differs from the one above is stored as is
/// (type 0); every repeat (`scale - 1` per module row, and the margins) is type 2, Up, and
/// therefore all zeros, which the compressor turns into runs. Written directly, so no
/// filter has to be computed (measured in the component: png's Up filtering was a quarter of
/// the PNG's cost).
fn filtered_scanlines(code: &Symbol, scale: u32, offset: u32, pixels: u32) -> Vec<u8> {
    const NONE: u8 = 0;
    const UP: u8 = 2;
    let stride = pixels.div_ceil(8) as usize + 1;
    let mut data = vec![0u8; stride * pixels as usize];
    for line in data.chunks_exact_mut(stride) {
        line[0] = UP;
    }
    let (scale, offset) = (scale as usize, offset as usize);
    for y in 0..code.size {
        let line = &mut data[(offset + y * scale) * stride..][..stride];
        line[0] = NONE;
        for run in code.dark_runs(y) {
            set_pixels(
                &mut line[1..],
                offset + run.start * scale,
                offset + run.end * scale,
            );
        }
    }
    // Back to light below the code.
    let below = offset + code.size * scale;
    if below < pixels as usize {
        data[below * stride] = NONE;
    }
    data
}

/// Sets the bits of pixels `start..end` of a packed row (first pixel in the high bit), whole
/// bytes at once.
fn set_pixels(row: &mut [u8], start: usize, end: usize) {
    let (first, last) = (start / 8, (end - 1) / 8);
    let head = 0xffu8 >> (start % 8);
    let tail = 0xffu8 << (7 - (end - 1) % 8);
    if first == last {
        row[first] |= head & tail;
    } else {
        row[first] |= head;
        row[first + 1..last].fill(0xff);
        row[last] |= tail;
    }
}

fn hex(c: Rgba) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn opacity(c: Rgba) -> String {
    if c[3] == 255 {
        String::new()
    } else {
        format!(" fill-opacity=\"{:.3}\"", f32::from(c[3]) / 255.0)
    }
}

fn svg_bytes(grid: &Symbol, scale: u32, offset: u32, pixels: u32, fg: Rgba, bg: Rgba) -> String {
    use std::fmt::Write;
    // Coordinates in modules; the quiet zone is `offset / scale` modules wide (may be fractional).
    let quiet = f64::from(offset) / f64::from(scale);
    let view = f64::from(pixels) / f64::from(scale);
    let mut path = String::new();
    for y in 0..grid.size {
        for run in grid.dark_runs(y) {
            let _ = write!(path, "M{} {}h{}v1h-{}z", run.start, y, run.len(), run.len());
        }
    }
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{px}\" height=\"{px}\" viewBox=\"0 0 {v} {v}\" shape-rendering=\"crispEdges\">",
            "<rect width=\"{v}\" height=\"{v}\" fill=\"{bg}\"{bgo}/>",
            "<path transform=\"translate({q} {q})\" fill=\"{fg}\"{fgo} d=\"{path}\"/></svg>\n"
        ),
        px = pixels,
        v = view,
        q = quiet,
        bg = hex(bg),
        bgo = opacity(bg),
        fg = hex(fg),
        fgo = opacity(fg),
        path = path
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RawOptions;

    #[test]
    fn set_pixels_sets_exactly_the_range_and_keeps_other_bits() {
        for start in 0..24 {
            for end in start + 1..=24 {
                for before in [[0u8; 3], [0b1000_0001, 0, 0b0000_0001]] {
                    let mut row = before;
                    set_pixels(&mut row, start, end);
                    for px in 0..24 {
                        let was = before[px / 8] & (0x80 >> (px % 8)) != 0;
                        let set = row[px / 8] & (0x80 >> (px % 8)) != 0;
                        assert_eq!(
                            set,
                            was || (start..end).contains(&px),
                            "{start}..{end} px {px}"
                        );
                    }
                }
            }
        }
    }

    /// Every pixel of the PNG, decoded by `image`, is the colour of the module under it.
    #[test]
    fn png_pixels_are_the_modules_scaled() {
        for (sizing, border) in [
            (("scale", "3"), "2"),
            (("size", "157"), "4"),
            (("scale", "1"), "0"),
        ] {
            let pairs = [
                ("text", "pixels"),
                (sizing.0, sizing.1),
                ("border", border),
                ("fg", "#102030"),
                ("bg", "#f0e0d0"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()));
            let options = RawOptions::from_pairs(&pairs).unwrap().validate().unwrap();
            let rendered = render(&options).unwrap();
            let code = crate::symbol::encode("pixels", QrCodeEcc::Medium).unwrap();
            let image = image::load_from_memory(&rendered.bytes).unwrap().to_rgb8();
            let pixels = rendered.pixels;
            assert_eq!(image.dimensions(), (pixels, pixels));
            let scale = pixels / (code.size as u32 + 2 * border.parse::<u32>().unwrap());
            let offset = (pixels - code.size as u32 * scale) / 2;
            for (px, py, colour) in image.enumerate_pixels() {
                let module = |p: u32| p.checked_sub(offset).map(|p| (p / scale) as usize);
                let dark = match (module(px), module(py)) {
                    (Some(x), Some(y)) if x < code.size && y < code.size => code.is_dark(x, y),
                    _ => false,
                };
                let expected = if dark {
                    [0x10, 0x20, 0x30]
                } else {
                    [0xf0, 0xe0, 0xd0]
                };
                assert_eq!(colour.0, expected, "pixel ({px}, {py}) at {sizing:?}");
            }
        }
    }
}
