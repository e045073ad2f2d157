//! From a source image, its matte and its one face to the finished file: place the head,
//! resample, clean the edges, composite (or cut out), lay out a print sheet, encode.

use image::RgbImage;

use crate::matting::Source;

use crate::encode::{self, EncodeError, Pixels};
use crate::geometry::{self, Achieved, FaceBox, Matte, Refusal};
use crate::matting;
use crate::options::{Format, Layout, Options};
use crate::region::Region;
use crate::sheet;

/// The finished file and what it holds.
pub struct Finished {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    /// Copies on the print sheet (1 without a layout).
    pub copies: u32,
    pub geometry: Achieved,
    /// The hair ran off the photo's top edge (the `crown_touches_top` warning).
    pub crown_touches_top: bool,
}

/// Why no file came out.
#[derive(Debug)]
pub enum PhotoError {
    /// 422: the photo cannot become an ID photo.
    Refused(Refusal),
    /// 422: the size limit cannot be met.
    TooLarge { max_kb: u32, smallest_kb: u32 },
    /// 422: the photo does not fit on the sheet.
    SheetTooSmall,
    /// The crop reads beyond the region the matte was computed for: segment more of the photo.
    OutsideRegion,
    /// 500: the photo's pixels could not be read from where it is held.
    Source(String),
    /// 500.
    Failed(String),
}

fn preview(layer: &matting::Layer) -> RgbImage {
    RgbImage::from_fn(layer.width, layer.height, |x, y| {
        let i = 3 * (y * layer.width + x) as usize;
        image::Rgb(std::array::from_fn(|c| {
            matting::byte(layer.rgb[i + c] * 255.0)
        }))
    })
}

/// Makes the ID photo from the photo in `source` and the subject's `matte`, computed for a
/// region of it (which the crop must not read beyond). Landmark detectors
/// underestimate a tilted face's angle, so after levelling, `eye_angle` measures the eye line
/// of the levelled result (degrees, `None` when it cannot tell) and a residual is corrected.
pub fn make(
    source: &impl Source,
    matte: &Matte,
    face: &FaceBox,
    options: &Options,
    eye_angle: impl Fn(&RgbImage) -> Option<f32>,
) -> Result<Finished, PhotoError> {
    let size = (options.preset.width_px, options.preset.height_px);
    let region = Region {
        x: matte.x,
        y: matte.y,
        width: matte.width,
        height: matte.height,
    };
    let place = |extra| {
        let placement = geometry::place(face, matte, &options.preset, size, extra, options.strict)
            .map_err(PhotoError::Refused)?;
        if region.covers(&placement, source.dimensions()) {
            Ok(placement)
        } else {
            Err(PhotoError::OutsideRegion)
        }
    };
    let warp = |p: &geometry::Placement| {
        matting::warp(source, matte, size.0, size.1, p.scale, |x, y| {
            p.to_source(x, y)
        })
        .map_err(PhotoError::Source)
    };
    let mut placement = place(0.0)?;
    let mut layer = warp(&placement)?;
    if placement.tilt_deg != 0.0 {
        if let Some(residual) = eye_angle(&preview(&layer)) {
            if residual.abs() > geometry::RESIDUAL_ABOVE_DEG && residual.abs() < 20.0 {
                placement = place(residual)?;
                layer = warp(&placement)?;
            }
        }
    }
    let fg = matting::foreground(&layer);
    let geometry = placement.achieved(face);
    let (pixels_rgb, pixels_rgba);
    let mut copies = 1;
    let pixels = if options.matte {
        pixels_rgba = matting::cutout(&layer, &fg);
        Pixels::Rgba(&pixels_rgba)
    } else {
        let photo = matting::composite(&layer, &fg, options.bg, options.render);
        pixels_rgb = if options.layout == Layout::None {
            photo
        } else {
            let (sheet, n) = sheet::layout(&photo, options.layout, options.dpi)
                .ok_or(PhotoError::SheetTooSmall)?;
            copies = n;
            sheet
        };
        Pixels::Rgb(&pixels_rgb)
    };
    let (out_w, out_h) = match &pixels {
        Pixels::Rgb(i) => i.dimensions(),
        Pixels::Rgba(i) => i.dimensions(),
    };
    let bytes = encode::encode(
        &pixels,
        options.format,
        options.quality,
        options.chroma,
        options.dpi,
        options.max_kb,
    )
    .map_err(|e| match e {
        EncodeError::TooLarge {
            max_kb,
            smallest_kb,
        } => PhotoError::TooLarge {
            max_kb,
            smallest_kb,
        },
        EncodeError::Failed(m) => PhotoError::Failed(m),
    })?;
    Ok(Finished {
        bytes,
        content_type: match options.format {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        },
        width: out_w,
        height: out_h,
        copies,
        geometry,
        crown_touches_top: placement.crown_touches_top,
    })
}
