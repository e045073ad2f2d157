//! Uploads decoded for components, natively (the `images` interface of `atelier:vision`):
//! format sniffed, decompression bombs refused from the header, EXIF orientation applied,
//! wide-gamut photos converted to sRGB ([`super::colour`]). Native SIMD decoding takes less
//! than half the time the same decoder needs inside a component (fr_obama: 8–10 ms against
//! ~21 ms).
//!
//! Invariants: every failure is a [`DecodeError`] the component maps to 400 or 413, never a
//! trap (a panicking decoder included); nothing is decoded past [`MAX_PIXELS`]. The pixels are
//! host memory until they are handed to the guest: a call can hold up to ~11 bytes per pixel
//! (a 16-bit RGBA PNG and its RGB8 copy) outside the function's memory cap, and only
//! functions granted `atelier:vision` can make it.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader, RgbImage};

use super::colour;

/// Largest upload decoded, in pixels.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why an upload could not become an image.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not an image we read, or truncated or corrupt (400).
    #[error("{0}")]
    Invalid(String),
    /// Too many pixels (413).
    #[error("{width}×{height} is too many pixels")]
    TooLarge { width: u32, height: u32 },
}

/// Decodes an upload to sRGB RGB8 with its EXIF orientation applied.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Invalid(e.to_string()))?;
    if reader.format().is_none() {
        return Err(DecodeError::Invalid(
            "the body is not a PNG, JPEG, WebP or BMP image".into(),
        ));
    }
    // JPEG decoders fill a truncated scan with grey rather than failing; refuse it instead.
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    if reader.format() == Some(image::ImageFormat::Jpeg)
        && !tail.windows(2).any(|w| w == [0xff, 0xd9])
    {
        return Err(DecodeError::Invalid(
            "truncated JPEG: no end-of-image marker".into(),
        ));
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| DecodeError::Invalid(format!("cannot decode the image: {e}")))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(DecodeError::TooLarge { width, height });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let mut img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| DecodeError::Invalid(format!("cannot decode the image: {e}")))?;
    img.apply_orientation(orientation);
    let mut rgb = img.into_rgb8();
    if let Some(icc) = icc {
        colour::to_srgb(&mut rgb, &icc);
    }
    Ok(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn formats_decode_and_bad_bytes_are_invalid() {
        let img = RgbImage::from_fn(6, 4, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 7]));
        for format in [image::ImageFormat::Png, image::ImageFormat::Bmp] {
            assert_eq!(decode(&encode(&img, format)).unwrap(), img);
        }
        let jpeg = encode(&img, image::ImageFormat::Jpeg);
        assert_eq!(decode(&jpeg).unwrap().dimensions(), (6, 4));
        assert!(matches!(decode(b"hello"), Err(DecodeError::Invalid(_))));
        let cut = &jpeg[..jpeg.len() - 2];
        assert!(matches!(decode(cut), Err(DecodeError::Invalid(m)) if m.contains("truncated")));
    }

    #[test]
    fn bombs_are_refused_from_the_header() {
        // A 1-bit grey PNG of 8000×8000 white pixels: a few KiB on the wire.
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 8000, 8000);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&vec![0xff; 1000 * 8000]).unwrap();
        writer.finish().unwrap();
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::TooLarge {
                width: 8000,
                height: 8000
            })
        );
    }
}
