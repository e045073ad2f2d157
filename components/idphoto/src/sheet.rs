//! Print sheets: as many copies of the photo as fit on a 6x4 inch print or an A4 page at the
//! photo's dpi, in a grid with thin grey cut lines between them.

use image::RgbImage;

use crate::options::Layout;

/// Sheet size in millimetres, portrait.
fn sheet_mm(layout: Layout) -> Option<(f32, f32)> {
    match layout {
        Layout::None => None,
        Layout::SixInch => Some((101.6, 152.4)),
        Layout::A4 => Some((210.0, 297.0)),
    }
}

const MARGIN_MM: f32 = 3.0;
const GAP_MM: f32 = 2.0;
const CUT_LINE: [u8; 3] = [0xb0, 0xb0, 0xb0];

/// Copies per row and column that fit `avail` with `gap` between them.
fn fit(avail: u32, size: u32, gap: u32) -> u32 {
    if avail < size {
        0
    } else {
        (avail - size) / (size + gap) + 1
    }
}

/// Lays copies of `photo` out on the sheet, in whichever orientation holds more; `None` when
/// not even one fits.
pub fn layout(photo: &RgbImage, layout: Layout, dpi: u32) -> Option<(RgbImage, u32)> {
    let (w_mm, h_mm) = sheet_mm(layout)?;
    let px = |mm: f32| (mm * dpi as f32 / 25.4).round() as u32;
    let (margin, gap) = (px(MARGIN_MM), px(GAP_MM).max(2));
    let (pw, ph) = photo.dimensions();
    let grid = |sw: u32, sh: u32| {
        let (aw, ah) = (sw.saturating_sub(2 * margin), sh.saturating_sub(2 * margin));
        (fit(aw, pw, gap), fit(ah, ph, gap))
    };
    let (portrait, landscape) = ((px(w_mm), px(h_mm)), (px(h_mm), px(w_mm)));
    let (a, b) = (grid(portrait.0, portrait.1), grid(landscape.0, landscape.1));
    let ((sw, sh), (cols, rows)) = if a.0 * a.1 >= b.0 * b.1 {
        (portrait, a)
    } else {
        (landscape, b)
    };
    if cols * rows == 0 {
        return None;
    }
    let mut sheet = RgbImage::from_pixel(sw, sh, image::Rgb([255, 255, 255]));
    // Centre the grid on the sheet.
    let gw = cols * pw + (cols - 1) * gap;
    let gh = rows * ph + (rows - 1) * gap;
    let (ox, oy) = ((sw - gw) / 2, (sh - gh) / 2);
    for r in 0..rows {
        for c in 0..cols {
            let (x, y) = (ox + c * (pw + gap), oy + r * (ph + gap));
            image::imageops::replace(&mut sheet, photo, i64::from(x), i64::from(y));
        }
    }
    // Cut lines through the middle of each gap and along the grid's outer edges.
    let line = image::Rgb(CUT_LINE);
    let mut xs: Vec<u32> = (0..=cols)
        .map(|c| ox + c * (pw + gap) - if c > 0 { gap / 2 + 1 } else { 1 })
        .collect();
    let mut ys: Vec<u32> = (0..=rows)
        .map(|r| oy + r * (ph + gap) - if r > 0 { gap / 2 + 1 } else { 1 })
        .collect();
    xs[cols as usize] = ox + gw;
    ys[rows as usize] = oy + gh;
    for &x in &xs {
        for y in 0..sh {
            sheet.put_pixel(x.min(sw - 1), y, line);
        }
    }
    for &y in &ys {
        for x in 0..sw {
            sheet.put_pixel(x, y.min(sh - 1), line);
        }
    }
    Some((sheet, cols * rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_inch_photos_on_a_six_inch_print() {
        let photo = RgbImage::from_pixel(295, 413, image::Rgb([1, 2, 3]));
        let (sheet, copies) = layout(&photo, Layout::SixInch, 300).unwrap();
        // Upright (1200x1800) holds 3x4 one-inch photos, sideways only 5x2.
        assert_eq!(sheet.dimensions(), (1200, 1800));
        assert_eq!(copies, 12);
        let photo_pixels = sheet.pixels().filter(|p| p.0 == [1, 2, 3]).count() as u32;
        assert_eq!(
            photo_pixels,
            copies * 295 * 413,
            "copies must not overlap or be cut"
        );
    }

    #[test]
    fn too_large_for_the_sheet() {
        let photo = RgbImage::new(3000, 4000);
        assert!(layout(&photo, Layout::SixInch, 300).is_none());
        assert!(layout(&photo, Layout::None, 300).is_none());
    }
}
