//! Encoding the result: JPEG with the dpi in its JFIF header, PNG with a pHYs chunk, and the
//! largest JPEG quality that fits a size limit.

use image::ExtendedColorType;

use crate::options::{Chroma, Format};

/// Pixels of any layout the encoder takes.
pub enum Pixels<'a> {
    Rgb(&'a image::RgbImage),
    Rgba(&'a image::RgbaImage),
}

impl Pixels<'_> {
    fn parts(&self) -> (&[u8], u32, u32, ExtendedColorType, png::ColorType) {
        match self {
            Pixels::Rgb(i) => (
                i.as_raw(),
                i.width(),
                i.height(),
                ExtendedColorType::Rgb8,
                png::ColorType::Rgb,
            ),
            Pixels::Rgba(i) => (
                i.as_raw(),
                i.width(),
                i.height(),
                ExtendedColorType::Rgba8,
                png::ColorType::Rgba,
            ),
        }
    }
}

/// Why no file could be produced.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodeError {
    /// Even the lowest quality tried is larger than `max_kb`.
    TooLarge {
        max_kb: u32,
        smallest_kb: u32,
    },
    Failed(String),
}

/// Lowest JPEG quality tried to meet a size limit.
pub const MIN_QUALITY: u8 = 10;

fn jpeg(pixels: &Pixels, quality: u8, chroma: Chroma, dpi: u32) -> Result<Vec<u8>, EncodeError> {
    let (data, w, h, _, _) = pixels.parts();
    let colour = match pixels {
        Pixels::Rgb(_) => jpeg_encoder::ColorType::Rgb,
        Pixels::Rgba(_) => jpeg_encoder::ColorType::Rgba,
    };
    let side = |v: u32| {
        u16::try_from(v).map_err(|_| EncodeError::Failed(format!("{v} px is too large for JPEG")))
    };
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    let dpi = dpi.min(u32::from(u16::MAX)) as u16;
    encoder.set_density(jpeg_encoder::Density::Inch { x: dpi, y: dpi });
    encoder.set_sampling_factor(match chroma {
        Chroma::Half => jpeg_encoder::SamplingFactor::F_2_2,
        Chroma::Full => jpeg_encoder::SamplingFactor::F_1_1,
    });
    encoder
        .encode(data, side(w)?, side(h)?, colour)
        .map_err(|e| EncodeError::Failed(e.to_string()))?;
    Ok(out)
}

fn png(pixels: &Pixels, dpi: u32) -> Result<Vec<u8>, EncodeError> {
    let (data, w, h, _, color) = pixels.parts();
    let mut out = Vec::new();
    let failed = |e: png::EncodingError| EncodeError::Failed(e.to_string());
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let per_metre = (dpi as f64 / 0.0254).round() as u32;
    encoder.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(data).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}

/// Encodes at `quality` with `chroma` (JPEG), or at the highest quality at or below it whose
/// file fits `max_kb` (found by bisection).
pub fn encode(
    pixels: &Pixels,
    format: Format,
    quality: u8,
    chroma: Chroma,
    dpi: u32,
    max_kb: Option<u32>,
) -> Result<Vec<u8>, EncodeError> {
    let fits = |bytes: &[u8]| max_kb.is_none_or(|kb| bytes.len() as u64 <= u64::from(kb) * 1024);
    let kb = |bytes: &[u8]| bytes.len().div_ceil(1024) as u32;
    match format {
        Format::Png => {
            let bytes = png(pixels, dpi)?;
            match max_kb {
                Some(max_kb) if !fits(&bytes) => Err(EncodeError::TooLarge {
                    max_kb,
                    smallest_kb: kb(&bytes),
                }),
                _ => Ok(bytes),
            }
        }
        Format::Jpeg => {
            let first = jpeg(pixels, quality, chroma, dpi)?;
            if fits(&first) {
                return Ok(first);
            }
            let smallest = jpeg(pixels, MIN_QUALITY.min(quality), chroma, dpi)?;
            if !fits(&smallest) {
                return Err(EncodeError::TooLarge {
                    max_kb: max_kb.unwrap_or_default(),
                    smallest_kb: kb(&smallest),
                });
            }
            // Invariant: `best` fits at quality `lo`, quality `hi` does not.
            let (mut lo, mut hi, mut best) = (MIN_QUALITY.min(quality), quality, smallest);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let bytes = jpeg(pixels, mid, chroma, dpi)?;
                if fits(&bytes) {
                    lo = mid;
                    best = bytes;
                } else {
                    hi = mid;
                }
            }
            Ok(best)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy() -> image::RgbImage {
        image::RgbImage::from_fn(300, 400, |x, y| {
            let v = (x * 7919 + y * 104_729) % 251;
            image::Rgb([v as u8, (v * 3 % 256) as u8, (x + y) as u8])
        })
    }

    #[test]
    fn jpeg_carries_dpi_in_jfif() {
        let img = noisy();
        let bytes = encode(
            &Pixels::Rgb(&img),
            Format::Jpeg,
            90,
            Chroma::Half,
            350,
            None,
        )
        .unwrap();
        // JFIF APP0: "JFIF\0", version, units = 1 (dpi), x density, y density.
        let at = bytes.windows(5).position(|w| w == b"JFIF\0").unwrap();
        assert_eq!(bytes[at + 7], 1);
        assert_eq!(u16::from_be_bytes([bytes[at + 8], bytes[at + 9]]), 350);
        assert_eq!(u16::from_be_bytes([bytes[at + 10], bytes[at + 11]]), 350);
    }

    #[test]
    fn jpeg_colour_resolution_is_as_asked() {
        let img = noisy();
        // The luma component's sampling factors in the frame header (SOF0: FF C0, length,
        // precision, height, width, components, then id and factors per component).
        let luma_factors = |chroma| {
            let bytes = encode(&Pixels::Rgb(&img), Format::Jpeg, 95, chroma, 300, None).unwrap();
            let at = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
            (bytes[at + 11], bytes.len())
        };
        let (half, half_len) = luma_factors(Chroma::Half);
        let (full, full_len) = luma_factors(Chroma::Full);
        assert_eq!((half, full), (0x22, 0x11), "4:2:0 and 4:4:4");
        assert!(half_len < full_len);
    }

    #[test]
    fn png_carries_dpi_in_phys() {
        let img = noisy();
        let bytes = encode(&Pixels::Rgb(&img), Format::Png, 90, Chroma::Half, 300, None).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let dims = reader.info().pixel_dims.unwrap();
        assert_eq!((dims.xppu, dims.unit), (11811, png::Unit::Meter));
    }

    #[test]
    fn max_kb_is_met_with_the_best_quality_that_fits() {
        let img = noisy();
        let full = encode(
            &Pixels::Rgb(&img),
            Format::Jpeg,
            95,
            Chroma::Half,
            300,
            None,
        )
        .unwrap();
        let limit = (full.len() / 1024 / 2) as u32;
        let bytes = encode(
            &Pixels::Rgb(&img),
            Format::Jpeg,
            95,
            Chroma::Half,
            300,
            Some(limit),
        )
        .unwrap();
        assert!(bytes.len() <= limit as usize * 1024);
        assert!(
            bytes.len() > limit as usize * 1024 * 3 / 5,
            "{} for {limit} KiB",
            bytes.len()
        );
        assert!(matches!(
            encode(
                &Pixels::Rgb(&img),
                Format::Jpeg,
                95,
                Chroma::Half,
                300,
                Some(1)
            ),
            Err(EncodeError::TooLarge { max_kb: 1, .. })
        ));
        assert!(matches!(
            encode(
                &Pixels::Rgb(&img),
                Format::Png,
                95,
                Chroma::Half,
                300,
                Some(1)
            ),
            Err(EncodeError::TooLarge { .. })
        ));
    }
}
