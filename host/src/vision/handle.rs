//! Images the host holds for a component (`atelier:vision/types.image`): the pixels stay here
//! and the component holds a handle; models, crops and resizes read them without a copy
//! across the WIT boundary.
//!
//! Invariant: every image an instance holds is charged to that instance's [`Allowance`] (its
//! memory cap) when made and given back when its handle is dropped, so host-side pixels can
//! never exceed what the function may use.

use std::sync::Arc;

use image::RgbImage;

use super::resize::{self, Filter};
use super::{VisionError, MAX_SIDE};

/// An image held for a component.
pub struct HostImage {
    pub rgb: Arc<RgbImage>,
}

impl HostImage {
    pub fn bytes(&self) -> u64 {
        self.rgb.as_raw().len() as u64
    }
}

/// Bytes of images one instance may still hold.
pub struct Allowance {
    left: u64,
}

impl Allowance {
    pub fn new(bytes: u64) -> Self {
        Allowance { left: bytes }
    }

    /// Charges an image of `bytes`, or says the instance would go over its cap.
    pub fn take(&mut self, bytes: u64) -> Result<(), VisionError> {
        if bytes > self.left {
            return Err(VisionError::OutOfMemory(format!(
                "an image of {bytes} bytes; the instance's images may take {} more",
                self.left
            )));
        }
        self.left -= bytes;
        Ok(())
    }

    /// Gives back what a dropped image was charged.
    pub fn give(&mut self, bytes: u64) {
        self.left = self.left.saturating_add(bytes);
    }
}

/// Checks a size the component asked for.
pub fn check_size(width: u32, height: u32) -> Result<(), VisionError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(VisionError::InvalidImage(format!(
            "{width}×{height} is outside 1..={MAX_SIDE} pixels per side"
        )));
    }
    Ok(())
}

/// An image from a component's pixels.
pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Result<RgbImage, VisionError> {
    check_size(width, height)?;
    let expected = width as usize * height as usize * 3;
    if rgb.len() != expected {
        return Err(VisionError::InvalidImage(format!(
            "{} bytes of RGB for {width}×{height}; expected {expected}",
            rgb.len()
        )));
    }
    RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| VisionError::InvalidImage("bad buffer".into()))
}

/// The rectangle at (`x`, `y`) of `width` × `height`, which must lie inside `rgb`.
pub fn crop(
    rgb: &RgbImage,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
) -> Result<RgbImage, VisionError> {
    check_size(width, height)?;
    let fits = x.checked_add(width).is_some_and(|r| r <= rgb.width())
        && y.checked_add(height).is_some_and(|b| b <= rgb.height());
    if !fits {
        return Err(VisionError::InvalidImage(format!(
            "{width}×{height} at ({x}, {y}) is outside the {}×{} image",
            rgb.width(),
            rgb.height()
        )));
    }
    // Row by row: `image`'s sub-image copy goes pixel by pixel, several times slower.
    let stride = rgb.width() as usize * 3;
    let (from, row) = (x as usize * 3, width as usize * 3);
    let mut out = Vec::with_capacity(row * height as usize);
    for line in rgb
        .as_raw()
        .chunks_exact(stride)
        .skip(y as usize)
        .take(height as usize)
    {
        out.extend_from_slice(&line[from..from + row]);
    }
    RgbImage::from_raw(width, height, out)
        .ok_or_else(|| VisionError::InvalidImage("bad buffer".into()))
}

/// `rgb` resized to `width` × `height`.
pub fn resized(rgb: &RgbImage, width: u32, height: u32) -> Result<RgbImage, VisionError> {
    check_size(width, height)?;
    let pixels = resize::resize(
        rgb.as_raw(),
        rgb.dimensions(),
        (width, height),
        3,
        Filter::Bilinear,
    );
    RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| VisionError::InvalidImage("bad buffer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_charges_and_gives_back() {
        let mut a = Allowance::new(100);
        a.take(60).unwrap();
        assert!(matches!(a.take(60), Err(VisionError::OutOfMemory(_))));
        a.give(60);
        a.take(100).unwrap();
    }

    #[test]
    fn crops_stay_inside_and_sizes_are_checked() {
        let rgb = RgbImage::from_fn(10, 8, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let part = crop(&rgb, 2, 3, 4, 5).unwrap();
        assert_eq!(part.dimensions(), (4, 5));
        assert_eq!(part.get_pixel(0, 0).0, [2, 3, 0]);
        assert_eq!(part.get_pixel(3, 4).0, [5, 7, 0]);
        assert!(crop(&rgb, 8, 0, 4, 4).is_err());
        assert!(crop(&rgb, u32::MAX, 0, 4, 4).is_err());
        assert!(from_rgb(2, 2, vec![0; 11]).is_err());
        assert_eq!(resized(&rgb, 5, 4).unwrap().dimensions(), (5, 4));
        assert!(resized(&rgb, 0, 4).is_err());
    }
}
