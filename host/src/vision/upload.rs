//! Uploads decoded for components, natively (the `images` interface of `atelier:vision`):
//! format sniffed, decompression bombs refused from the header, EXIF orientation applied,
//! wide-gamut photos converted to sRGB ([`super::colour`]). Native SIMD decoding takes less
//! than half the time the same decoder needs inside a component (fr_obama: 8–10 ms against
//! ~21 ms).
//!
//! Invariants: every failure is a [`DecodeError`] the component maps to 400, 413 or 503, never
//! a trap (a panicking decoder included); nothing is decoded past [`MAX_PIXELS`]. The pixels are
//! host memory until they are handed to the guest, outside the function's memory cap: so before
//! decoding, the memory a decode needs ([`needed_bytes`]: the decoder's buffer plus two RGB8
//! copies) is taken from one process-wide [`DecodeBudget`] and held until the pixels are handed
//! over; an upload that does not fit now is refused (`Busy`, 503) from its header.

use std::io::Cursor;

use std::sync::Arc;

use image::{ImageDecoder, ImageReader, RgbImage};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::colour;

/// Memory every decode in the process may hold at once, in KiB.
#[derive(Clone)]
pub struct DecodeBudget {
    kib: Arc<Semaphore>,
}

/// Memory a decode holds until its pixels are handed over.
pub struct Reservation {
    _kib: OwnedSemaphorePermit,
}

impl DecodeBudget {
    pub fn new(bytes: u64) -> Self {
        let kib = usize::try_from(bytes >> 10)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        DecodeBudget {
            kib: Arc::new(Semaphore::new(kib)),
        }
    }

    /// Reserves `bytes`, or `Busy` when they are not free now (too large for the whole budget
    /// is `Busy` too: the operator's budget, not the image, is the limit then).
    fn reserve(&self, bytes: u64) -> Result<Reservation, DecodeError> {
        let kib = u32::try_from(bytes.div_ceil(1024)).map_err(|_| DecodeError::Busy)?;
        self.kib
            .clone()
            .try_acquire_many_owned(kib)
            .map(|p| Reservation { _kib: p })
            .map_err(|_| DecodeError::Busy)
    }
}

/// What decoding an image of `pixels` whose decoder fills `decoded` bytes holds at its peak:
/// the decoder's buffer, its RGB8 conversion and a rotated copy.
pub fn needed_bytes(decoded: u64, pixels: u64) -> u64 {
    decoded.saturating_add(pixels.saturating_mul(6))
}

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
    /// The decode budget is in use (503).
    #[error("the decode budget is in use")]
    Busy,
}

/// Decodes an upload to sRGB RGB8 with its EXIF orientation applied, within `budget`; the
/// reservation is to be held until the pixels are handed over.
pub fn decode(bytes: &[u8], budget: &DecodeBudget) -> Result<(RgbImage, Reservation), DecodeError> {
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
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(DecodeError::TooLarge { width, height });
    }
    let reservation = budget.reserve(needed_bytes(decoder.total_bytes(), pixels))?;
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
    Ok((rgb, reservation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn decode(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
        super::decode(bytes, &DecodeBudget::new(1 << 30)).map(|(rgb, _)| rgb)
    }

    #[test]
    fn a_decode_holds_its_memory_from_the_budget_until_it_is_dropped() {
        let img = RgbImage::from_fn(100, 100, |x, _| image::Rgb([x as u8, 0, 0]));
        let png = encode(&img, image::ImageFormat::Png);
        // 30,000 decoded bytes + 60,000 for the copies: 88 KiB of a 100 KiB budget.
        let budget = DecodeBudget::new(100 << 10);
        let (_, held) = super::decode(&png, &budget).unwrap();
        assert_eq!(
            super::decode(&png, &budget).err(),
            Some(DecodeError::Busy),
            "a second decode does not fit beside the first"
        );
        drop(held);
        assert!(super::decode(&png, &budget).is_ok());
        assert_eq!(
            super::decode(&png, &DecodeBudget::new(50 << 10)).err(),
            Some(DecodeError::Busy)
        );
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
