//! Image bytes → the pixels the QR decoders read.
//!
//! Invariants: an image over [`MAX_PIXELS`] is refused from its header alone (decompression
//! bombs never get decoded); the file's EXIF orientation is kept beside the stored pixels, never
//! applied to them. Fast paths: a 1-bit PNG (what QR generators write) is already black and
//! white and is kept as its packed rows ([`Bilevel`]); other PNGs are unpacked to grey through
//! lookup tables; a JPEG decodes straight to its luma channel. Everything else, and anything a
//! fast path refuses, goes through `image`'s decoders.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::bilevel::Bilevel;

/// Largest image decoded, in pixels (width × height).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why an image could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// Not an image in a format we read (400).
    Unsupported(String),
    /// Over the pixel limit (413).
    TooLarge { width: u32, height: u32 },
    /// Truncated or corrupt data (400).
    Corrupt(String),
}

/// A loaded image, ready for the decoders.
pub struct Picture {
    pub pixels: Pixels,
    /// The file's EXIF orientation. Codes are found in the stored pixels; their corners are
    /// reported where a viewer shows them, upright.
    pub orientation: Orientation,
}

/// An image's pixels as stored in the file.
pub enum Pixels {
    /// Grey levels, to be binarised.
    Grey(GrayImage),
    /// An image that is black and white in the file itself (a 1-bit PNG, as QR generators
    /// write): its packed rows, so no binariser runs.
    Bilevel(Bilevel),
}

impl Pixels {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Pixels::Grey(grey) => grey.dimensions(),
            Pixels::Bilevel(bits) => bits.dimensions(),
        }
    }
}

impl Picture {
    /// Pixels shown as stored.
    pub fn upright(pixels: Pixels) -> Picture {
        Picture {
            pixels,
            orientation: Orientation::NoTransforms,
        }
    }

    /// Width and height as shown (swapped from the stored pixels' by a quarter turn).
    pub fn dimensions(&self) -> (u32, u32) {
        let (w, h) = self.pixels.dimensions();
        match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (h, w),
            _ => (w, h),
        }
    }

    /// The stored pixels as grey levels (dark 0, light 255 for a bi-level image).
    pub fn into_grey(self) -> GrayImage {
        match self.pixels {
            Pixels::Grey(grey) => grey,
            Pixels::Bilevel(bits) => bits.to_grey(),
        }
    }

    /// Where point `p` of the stored pixels is shown (pixel edges at whole numbers).
    pub(crate) fn shown(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let (w, h) = self.pixels.dimensions();
        let (w, h) = (w as f32, h as f32);
        match self.orientation {
            Orientation::NoTransforms => [x, y],
            Orientation::Rotate90 => [h - y, x],
            Orientation::Rotate180 => [w - x, h - y],
            Orientation::Rotate270 => [y, w - x],
            Orientation::FlipHorizontal => [w - x, y],
            Orientation::FlipVertical => [x, h - y],
            Orientation::Rotate90FlipH => [y, x],
            Orientation::Rotate270FlipH => [h - y, w - x],
        }
    }
}

/// The orientation an EXIF chunk states (none stated: as stored).
fn exif_orientation(exif: Option<&[u8]>) -> Orientation {
    exif.and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms)
}

/// Reads an image of any supported format.
pub fn load(bytes: &[u8]) -> Result<Picture, LoadError> {
    let format = image::guess_format(bytes).map_err(|_| {
        LoadError::Unsupported("the body is not a PNG, JPEG, GIF, WebP or BMP image".into())
    })?;
    if !matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Bmp
    ) {
        return Err(LoadError::Unsupported(format!(
            "{format:?} images are not supported"
        )));
    }
    // The fast paths read the header once and check the size from it; anything they leave
    // goes to `image`, whose header is checked the same way before decoding.
    match format {
        ImageFormat::Png => {
            if let Some(picture) = png_picture(bytes)? {
                return Ok(picture);
            }
        }
        ImageFormat::Jpeg => {
            if let Some(picture) = jpeg_luma(bytes)? {
                return Ok(picture);
            }
        }
        _ => {}
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| LoadError::Corrupt(e.to_string()))?;
    check_size(width, height)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let corrupt = |e: image::ImageError| LoadError::Corrupt(e.to_string());
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    Ok(Picture {
        pixels: Pixels::Grey(image.into_luma8()),
        orientation,
    })
}

/// Refuses an image over [`MAX_PIXELS`] (from its header, before any decoding).
fn check_size(width: u32, height: u32) -> Result<(), LoadError> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(LoadError::TooLarge { width, height });
    }
    Ok(())
}

/// JPEG straight to its luma channel with zune-jpeg, the decoder `image` itself uses, skipping
/// chroma upsampling and colour conversion (~2× quicker than decoding to RGB, then grey).
/// Lenient with damaged data as `image` is. `None` leaves the image to the generic path, which
/// reports the error.
fn jpeg_luma(bytes: &[u8]) -> Result<Option<Picture>, LoadError> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_strict_mode(false);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let Some((w, h)) = decoder.decode_headers().ok().and(decoder.dimensions()) else {
        return Ok(None);
    };
    check_size(w as u32, h as u32)?;
    let Ok(luma) = decoder.decode() else {
        return Ok(None);
    };
    Ok(
        GrayImage::from_raw(w as u32, h as u32, luma).map(|grey| Picture {
            pixels: Pixels::Grey(grey),
            orientation: exif_orientation(decoder.exif().map(Vec::as_slice)),
        }),
    )
}

/// PNG straight to what the decoders read, with the `png` crate, ~4× quicker in the component
/// than the generic path for the 1-bit grey and palette images QR generators write: 1-bit rows
/// are kept packed; other packed samples and palette indices go through
/// lookup tables instead of being expanded to RGB first. `None` leaves the image to the
/// generic path.
fn png_picture(bytes: &[u8]) -> Result<Option<Picture>, LoadError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::STRIP_16);
    let Ok(reader) = decoder.read_info() else {
        return Ok(None);
    };
    check_size(reader.info().width, reader.info().height)?;
    Ok(png_pixels(reader))
}

/// The pixels of a PNG whose header has been read (see [`png_picture`]).
fn png_pixels(mut reader: png::Reader<Cursor<&[u8]>>) -> Option<Picture> {
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    let orientation = exif_orientation(reader.info().exif_metadata.as_deref());
    let picture = |pixels| Picture {
        pixels,
        orientation,
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let levels = match info.color_type {
        png::ColorType::Grayscale | png::ColorType::Indexed => Some(grey_levels(
            &reader.info().palette,
            info.color_type,
            info.bit_depth as usize,
        )?),
        _ => None,
    };
    if let (Some(levels), png::BitDepth::One) = (levels, info.bit_depth) {
        let dark_is_one = levels[1] < levels[0];
        return Bilevel::from_packed(buf, info.width, info.height, info.line_size, dark_is_one)
            .map(|bits| picture(Pixels::Bilevel(bits)));
    }
    let rows = buf.chunks_exact(info.line_size).take(height);
    let mut grey = vec![0u8; width * height];
    let out_rows = grey.chunks_exact_mut(width.max(1));
    match (info.color_type, levels) {
        (png::ColorType::GrayscaleAlpha, _) => {
            for (row, out) in rows.zip(out_rows) {
                for (pixel, sample) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *pixel = sample[0];
                }
            }
        }
        (png::ColorType::Rgb | png::ColorType::Rgba, _) => {
            let channels = info.color_type.samples();
            for (row, out) in rows.zip(out_rows) {
                for (pixel, rgb) in out.iter_mut().zip(row.chunks_exact(channels)) {
                    *pixel = luma(rgb[0], rgb[1], rgb[2]);
                }
            }
        }
        (_, Some(levels)) => {
            let bits = info.bit_depth as usize;
            let unpacked = unpack_table(&levels, bits);
            match bits {
                2 => unpack_rows::<4>(rows, out_rows, &unpacked),
                4 => unpack_rows::<2>(rows, out_rows, &unpacked),
                _ => unpack_rows::<1>(rows, out_rows, &unpacked),
            }
        }
        (_, None) => return None,
    }
    GrayImage::from_raw(info.width, info.height, grey).map(|grey| picture(Pixels::Grey(grey)))
}

/// sRGB (Rec. 709) luma, as the generic path's `into_luma8` computes it (to within a level).
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 2126 + u32::from(g) * 7152 + u32::from(b) * 722) / 10000) as u8
}

/// The grey level of every sample value: a palette entry's luma, or a grey sample scaled to
/// 0..=255. `None` when an indexed image has no palette.
fn grey_levels(
    palette: &Option<std::borrow::Cow<'_, [u8]>>,
    color: png::ColorType,
    bits: usize,
) -> Option<[u8; 256]> {
    let mut levels = [0u8; 256];
    if color == png::ColorType::Indexed {
        for (level, rgb) in levels.iter_mut().zip(palette.as_ref()?.chunks_exact(3)) {
            *level = luma(rgb[0], rgb[1], rgb[2]);
        }
    } else {
        let max = (1usize << bits) - 1;
        for (value, level) in levels.iter_mut().enumerate().take(max + 1) {
            *level = (value * 255 / max) as u8;
        }
    }
    Some(levels)
}

/// Writes the grey level of every sample of packed rows holding `PER` samples a byte (a
/// fixed-size copy per byte: the compiler turns it into one store).
fn unpack_rows<'a, const PER: usize>(
    rows: impl Iterator<Item = &'a [u8]>,
    out_rows: std::slice::ChunksExactMut<'_, u8>,
    unpacked: &[[u8; 8]],
) {
    for (row, out) in rows.zip(out_rows) {
        let last = out.len() / PER;
        let mut whole = out.chunks_exact_mut(PER);
        for (pixels, &byte) in (&mut whole).zip(row) {
            let samples: &[u8; PER] = unpacked[usize::from(byte)][..PER].try_into().unwrap();
            pixels.copy_from_slice(samples);
        }
        let tail = whole.into_remainder();
        if let Some(&byte) = row.get(last).filter(|_| !tail.is_empty()) {
            tail.copy_from_slice(&unpacked[usize::from(byte)][..tail.len()]);
        }
    }
}

/// For every byte of a packed row, the grey levels of the samples in it, first sample first.
fn unpack_table(levels: &[u8; 256], bits: usize) -> Vec<[u8; 8]> {
    let mask = (1usize << bits) - 1;
    (0..256usize)
        .map(|byte| {
            let mut out = [0u8; 8];
            for (i, level) in out.iter_mut().enumerate().take(8 / bits) {
                *level = levels[(byte >> (8 - bits * (i + 1))) & mask];
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A width × 3 PNG of varied samples (palette: a ramp of distinct colours, darkest first
    /// unless `dark_last`).
    fn encode(color: png::ColorType, depth: png::BitDepth, width: u32, dark_last: bool) -> Vec<u8> {
        let bits = depth as usize;
        let samples = color.samples();
        let max = (1u32 << bits.min(8)) - 1;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, 3);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == png::ColorType::Indexed {
            let palette: Vec<u8> = (0..=max)
                .map(|i| if dark_last { max - i } else { i })
                .flat_map(|i| [(i * 37) as u8, (i * 91) as u8, 255 - i as u8])
                .collect();
            encoder.set_palette(palette);
        }
        let mut writer = encoder.write_header().unwrap();
        let mut data = Vec::new();
        for y in 0..3u32 {
            let mut row = Packer {
                bytes: Vec::new(),
                used: 8,
            };
            for x in 0..width {
                for c in 0..samples as u32 {
                    row.push((x * 7 + y * 13 + c * 29) % (max + 1), bits);
                }
            }
            data.extend(row.finish());
        }
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        out
    }

    /// Packs samples of `bits` bits into a PNG row, first sample in the high bits.
    struct Packer {
        bytes: Vec<u8>,
        used: usize,
    }

    impl Packer {
        fn push(&mut self, value: u32, bits: usize) {
            if bits == 16 {
                self.bytes.extend((value as u16 * 257).to_be_bytes());
                return;
            }
            if self.used == 8 {
                self.bytes.push(0);
                self.used = 0;
            }
            self.used += bits;
            *self.bytes.last_mut().unwrap() |= (value as u8) << (8 - self.used);
        }

        fn finish(self) -> Vec<u8> {
            self.bytes
        }
    }

    #[test]
    fn the_png_fast_path_matches_the_generic_decoder() {
        use png::{BitDepth::*, ColorType::*};
        let cases = [
            (Grayscale, One),
            (Grayscale, Two),
            (Grayscale, Four),
            (Grayscale, Eight),
            (Grayscale, Sixteen),
            (Indexed, One),
            (Indexed, Two),
            (Indexed, Four),
            (Indexed, Eight),
            (GrayscaleAlpha, Eight),
            (Rgb, Eight),
            (Rgb, Sixteen),
            (Rgba, Eight),
        ];
        // Odd widths leave padding bits at the end of packed rows; 70 spans words.
        for width in [13, 64, 70] {
            for (color, depth) in cases {
                for dark_last in [false, true] {
                    let bytes = encode(color, depth, width, dark_last);
                    let generic = image::load_from_memory(&bytes).unwrap().into_luma8();
                    let case = format!("{color:?} {depth:?} width {width} dark_last {dark_last}");
                    match png_picture(&bytes).unwrap().unwrap().pixels {
                        Pixels::Grey(fast) => {
                            assert_eq!(fast.dimensions(), generic.dimensions(), "{case}");
                            for (a, b) in fast.as_raw().iter().zip(generic.as_raw()) {
                                assert!(a.abs_diff(*b) <= 1, "{case}: {a} vs {b}");
                            }
                        }
                        Pixels::Bilevel(bits) => {
                            assert_eq!(depth, One, "{case}");
                            assert_bilevel(&bits, &generic, &case);
                        }
                    }
                }
            }
        }
    }

    /// `bits` is dark exactly where `generic` has the darker of its two levels.
    fn assert_bilevel(bits: &Bilevel, generic: &GrayImage, case: &str) {
        assert_eq!(bits.dimensions(), generic.dimensions(), "{case}");
        let dark = *generic.as_raw().iter().min().unwrap();
        assert!(
            generic.as_raw().iter().any(|&v| v != dark),
            "{case}: one level"
        );
        for (x, y, pixel) in generic.enumerate_pixels() {
            assert_eq!(bits.is_dark(x, y), pixel[0] == dark, "{case}: ({x}, {y})");
        }
    }

    #[test]
    fn fast_paths_refuse_bombs_from_the_header() {
        // A real 8000 × 8000 1-bit PNG (8 MB of zeros, tiny compressed): 64 MP > the limit.
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, 8000, 8000);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&vec![0; 1000 * 8000]).unwrap();
        writer.finish().unwrap();
        assert!(matches!(
            load(&png),
            Err(LoadError::TooLarge {
                width: 8000,
                height: 8000
            })
        ));
        // A small JPEG whose frame header is patched to claim 9000 × 9000.
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&GrayImage::new(16, 16))
            .unwrap();
        let sof = jpeg.windows(2).position(|m| m == [0xff, 0xc0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x23, 0x28, 0x23, 0x28]);
        assert!(matches!(
            load(&jpeg),
            Err(LoadError::TooLarge {
                width: 9000,
                height: 9000
            })
        ));
    }
}
