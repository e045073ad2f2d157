//! Image resizing for model pre- and post-processing, with SIMD convolution
//! (`fast_image_resize`): the full-size image in and the matte out are the costliest steps
//! around a small model, and this does them several times faster than `image`'s resize.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// Resampling filter.
#[derive(Debug, Clone, Copy)]
pub enum Filter {
    /// Lanczos, 3 lobes (what rembg's Pillow uses).
    Lanczos3,
    /// Linear (triangle) — enough for a detector's input.
    Bilinear,
}

/// Resizes a packed 8-bit image of `channels` (1 or 3) planes.
pub fn resize(
    pixels: &[u8],
    (width, height): (u32, u32),
    (to_width, to_height): (u32, u32),
    channels: usize,
    filter: Filter,
) -> Vec<u8> {
    let pixel_type = if channels == 3 {
        PixelType::U8x3
    } else {
        PixelType::U8
    };
    let src = ImageRef::new(width, height, pixels, pixel_type)
        .expect("buffer holds width × height pixels");
    let mut dst = Image::new(to_width, to_height, pixel_type);
    let filter = match filter {
        Filter::Lanczos3 => FilterType::Lanczos3,
        Filter::Bilinear => FilterType::Bilinear,
    };
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type, non-empty images");
    dst.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_images_stay_flat_and_sizes_hold() {
        let rgb = vec![200u8; 40 * 30 * 3];
        let out = resize(&rgb, (40, 30), (7, 9), 3, Filter::Lanczos3);
        assert_eq!(out.len(), 7 * 9 * 3);
        assert!(out.iter().all(|&v| v == 200));
        let grey = vec![17u8; 5 * 5];
        let out = resize(&grey, (5, 5), (50, 40), 1, Filter::Bilinear);
        assert_eq!(out.len(), 50 * 40);
        assert!(out.iter().all(|&v| v == 17));
    }
}
