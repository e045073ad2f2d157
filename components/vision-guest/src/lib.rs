//! What a component needs to call `atelier:vision`: the generated bindings and a decoder that
//! turns an upload into the RGB [`Image`] the interface takes (decoded once, EXIF orientation
//! applied, converted to sRGB by its ICC profile, decompression bombs refused from the
//! header), and the JSON errors for both.

pub mod colour;

wit_bindgen::generate!({
    path: "../../wit",
    world: "atelier:vision/imports",
});

pub use atelier::vision::faces::{self, Face};
pub use atelier::vision::segmentation;
pub use atelier::vision::types::{Image, VisionError};

use std::io::Cursor;

use atelier_guest::Response;
use image::{ImageDecoder, ImageReader};

/// Largest upload decoded, in pixels.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why an upload could not become an image; each maps to an HTTP status.
#[derive(Debug)]
pub enum DecodeError {
    /// 400: not an image we read, or corrupt.
    Invalid(String),
    /// 413: too many pixels.
    TooLarge { width: u32, height: u32 },
}

impl DecodeError {
    /// The JSON error answering this upload.
    pub fn response(&self) -> Response {
        match self {
            DecodeError::Invalid(m) => Response::error(400, "invalid_image", m, Some("file")),
            DecodeError::TooLarge { width, height } => Response::error(
                413,
                "image_too_large",
                format!("{width}×{height} is too many pixels"),
                Some("file"),
            ),
        }
    }
}

/// Decodes an upload to sRGB RGB8 with its EXIF orientation applied.
pub fn decode_upload(bytes: &[u8]) -> Result<image::RgbImage, DecodeError> {
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

/// The interface's image type for an RGB buffer.
pub fn to_image(rgb: &image::RgbImage) -> Image {
    Image {
        width: rgb.width(),
        height: rgb.height(),
        rgb: rgb.as_raw().clone(),
    }
}

/// The JSON error answering a vision error (503s carry Retry-After).
pub fn vision_response(e: &VisionError) -> Response {
    let (status, code, message) = status_of(e);
    let r = Response::error(status, code, message, None);
    if status == 503 {
        r.with_header("retry-after", "1")
    } else {
        r
    }
}

/// HTTP status and error code for a vision error.
fn status_of(e: &VisionError) -> (u16, &'static str, String) {
    match e {
        VisionError::InvalidImage(m) => (400, "invalid_image", m.clone()),
        VisionError::UnknownModel(m) => (400, "unknown_model", format!("unknown model {m}")),
        VisionError::Overloaded => (
            503,
            "overloaded",
            "vision queue is full; retry shortly".into(),
        ),
        VisionError::Unavailable(m) => (503, "vision_unavailable", m.clone()),
        VisionError::Failed(m) => (500, "vision_failed", m.clone()),
    }
}
