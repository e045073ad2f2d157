//! What a component needs to call `atelier:vision`: the generated bindings, the upload
//! decoder (the host decodes natively, once: EXIF orientation applied, converted to sRGB by
//! its ICC profile, decompression bombs refused from the header) and the JSON errors for both.

wit_bindgen::generate!({
    path: "../../wit",
    world: "atelier:vision/imports",
});

pub use atelier::vision::faces::{self, Face};
pub use atelier::vision::segmentation;
pub use atelier::vision::types::{Image, VisionError};

use atelier::vision::images;
use atelier_guest::Response;

/// Why an upload could not become an image; each maps to an HTTP status.
#[derive(Debug)]
pub enum DecodeError {
    /// 400: not an image we read, or corrupt.
    Invalid(String),
    /// 413: too many pixels.
    TooLarge { width: u32, height: u32 },
    /// 503: the host's decode budget is in use; retry shortly.
    Busy,
    /// 500: the host answered with pixels that do not match the size it gave.
    Failed,
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
            DecodeError::Busy => Response::error(
                503,
                "overloaded",
                "the server is decoding other uploads; retry shortly",
                None,
            )
            .with_header("retry-after", "1"),
            DecodeError::Failed => Response::error(
                500,
                "vision_failed",
                "the decoded image has the wrong size",
                None,
            ),
        }
    }
}

/// Decodes an upload (in the host) to sRGB RGB8 with its EXIF orientation applied; the image
/// stays in the host, and the models read it there.
pub fn decode_upload(bytes: &[u8]) -> Result<Image, DecodeError> {
    images::decode(bytes).map_err(|e| match e {
        images::DecodeError::Invalid(m) => DecodeError::Invalid(m),
        images::DecodeError::TooLarge(d) => DecodeError::TooLarge {
            width: d.width,
            height: d.height,
        },
        images::DecodeError::Busy => DecodeError::Busy,
    })
}

/// A host image's pixels, copied into the component (for work done here, like compositing).
pub fn pixels(image: &Image) -> Result<image::RgbImage, DecodeError> {
    image::RgbImage::from_raw(image.width(), image.height(), image.rgb()).ok_or(DecodeError::Failed)
}

/// A host image of pixels made here.
pub fn to_image(rgb: &image::RgbImage) -> Result<Image, VisionError> {
    Image::from_rgb(rgb.width(), rgb.height(), rgb.as_raw())
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

/// The error code a vision error is answered with (`overloaded`, `vision_failed`, …).
pub fn error_code(e: &VisionError) -> &'static str {
    status_of(e).1
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
        VisionError::OutOfMemory(m) => (500, "out_of_memory", m.clone()),
    }
}
