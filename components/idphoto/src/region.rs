//! The part of the photo worth segmenting: an ID photo only ever shows the head and shoulders,
//! so the matte is computed for a region around the face, at a reduced model size
//! (`segment-at`), instead of for the whole photo at the model's full square. The region is
//! either generous ([`Region::around`] the face) or tight ([`Region::around_crop`]: what a crop
//! placed with a fast model's matte reads, plus a margin), segmented at a fixed detail per face
//! height ([`Region::model_side`]).
//!
//! Invariant: a matte computed for a region is trusted only where the region reaches; a
//! placement whose output reads outside it (where the region stops short of the photo's edge)
//! is redone with a matte of the whole photo.

use crate::geometry::{FaceBox, Matte, Placement};
use crate::matting::source_bounds;

/// Pixels on the longer side of the region the segmentation model sees. Against u2netp on the
/// whole photo at 320×320 (rembg's way), inside what a cn-1inch crop of fr_obama.jpg reads:
/// matte IoU 0.992 (mean |Δ| 3.7/255) at about half the inference time. 224 would be faster
/// still (+25% photos/s) but drops to IoU 0.973 (6.4/255); see docs/BENCHMARKS.md.
pub const MODEL_SIDE: u32 = 256;

/// Detail of a tight region's matte: model pixels per face height. Against u2netp on the whole
/// photo at 320×320, inside what the cn-1inch crop reads (fr_obama, fr_biden,
/// skimage_astronaut): IoU 0.993–0.997, mean |Δ| 0.8–1.5/255, as good as the generous region at
/// [`MODEL_SIDE`], with 25–46% fewer model pixels (docs/BENCHMARKS.md).
pub const DETAIL_PER_FACE: f32 = 95.0;
/// Margin of a tight region around the crop, in face heights: room for the detailed matte's
/// crown to differ from the fast one's, and for a residual tilt correction.
const CROP_MARGIN: f32 = 0.1;
/// Bounds of a tight region's model side.
const SIDE_RANGE: (u32, u32) = (64, 320);

/// A rectangle of source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    /// Head and shoulders around `face`, inside a `(w, h)` photo: 1.3 face heights either side
    /// of the face's centre, 1.5 above the eyes, 2.2 below them. A preset's crop reads about
    /// 2 face heights square around a head whose crown is ~0.6 above the eyes; the margin is
    /// for big hair and wide custom sizes, and [`Region::covers`] catches the rest.
    pub fn around(face: &FaceBox, (w, h): (u32, u32)) -> Region {
        let eyes_y = (face.landmarks[0][1] + face.landmarks[1][1]) / 2.0;
        let cx = face.x + face.width / 2.0;
        let fh = face.height;
        let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
        let (x0, x1) = (clamp(cx - 1.3 * fh, w), clamp(cx + 1.3 * fh, w));
        let (y0, y1) = (clamp(eyes_y - 1.5 * fh, h), clamp(eyes_y + 2.2 * fh, h));
        Region {
            x: x0,
            y: y0,
            width: (x1 - x0).max(1),
            height: (y1 - y0).max(1),
        }
    }

    /// What `placement` reads of a `(w, h)` photo, widened by [`CROP_MARGIN`] face heights,
    /// inside the photo.
    pub fn around_crop(placement: &Placement, face: &FaceBox, (w, h): (u32, u32)) -> Region {
        let [lo_x, lo_y, hi_x, hi_y] = source_bounds(placement.width, placement.height, |x, y| {
            placement.to_source(x, y)
        });
        let margin = CROP_MARGIN * face.height;
        let clamp = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
        let (x0, y0) = (
            clamp((lo_x - margin).floor(), w),
            clamp((lo_y - margin).floor(), h),
        );
        let (x1, y1) = (
            clamp((hi_x + margin).ceil(), w),
            clamp((hi_y + margin).ceil(), h),
        );
        Region {
            x: x0.min(w.saturating_sub(1)),
            y: y0.min(h.saturating_sub(1)),
            width: x1.saturating_sub(x0).max(1),
            height: y1.saturating_sub(y0).max(1),
        }
    }

    /// The model side that gives this region [`DETAIL_PER_FACE`] pixels per face height,
    /// never more than the region's own pixels.
    pub fn model_side(&self, face: &FaceBox) -> u32 {
        let longer = self.width.max(self.height);
        let side = (longer as f32 * DETAIL_PER_FACE / face.height.max(1.0)).round() as u32;
        side.min(longer).clamp(SIDE_RANGE.0, SIDE_RANGE.1)
    }

    /// The whole photo.
    pub fn whole((w, h): (u32, u32)) -> Region {
        Region {
            x: 0,
            y: 0,
            width: w,
            height: h,
        }
    }

    /// The region's matte (one value per pixel, rows top down) in a `(w, h)` photo; `None`
    /// when `alpha` does not fit the region or the region the photo.
    pub fn matte<'a>(&self, alpha: &'a [u8], (w, h): (u32, u32)) -> Option<Matte<'a>> {
        let fits = alpha.len() == self.width as usize * self.height as usize
            && self.x + self.width <= w
            && self.y + self.height <= h;
        fits.then_some(Matte {
            alpha,
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
            photo: (w, h),
        })
    }

    /// Whether everything `placement` reads of a `(w, h)` photo lies inside the region, or
    /// beyond the photo's edge where the region reaches that edge.
    pub fn covers(&self, placement: &Placement, (w, h): (u32, u32)) -> bool {
        let [lo_x, lo_y, hi_x, hi_y] = source_bounds(placement.width, placement.height, |x, y| {
            placement.to_source(x, y)
        });
        let (x1, y1) = (self.x + self.width, self.y + self.height);
        (self.x == 0 || lo_x >= self.x as f32)
            && (self.y == 0 || lo_y >= self.y as f32)
            && (x1 == w || hi_x <= x1 as f32)
            && (y1 == h || hi_y <= y1 as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: size,
            height: size,
            landmarks: [
                [x + 0.3 * size, y + 0.4 * size],
                [x + 0.7 * size, y + 0.4 * size],
                [0.0; 2],
                [0.0; 2],
                [0.0; 2],
            ],
        }
    }

    /// An unscaled, level 100×120 output that reads x 449..549.5, y 429..549.5 of the source.
    fn placement() -> Placement {
        Placement {
            eyes: [500.0, 500.0],
            right: [1.0, 0.0],
            scale: 1.0,
            crown_v: -50.0,
            crown_touches_top: false,
            chin_v: 50.0,
            crown_y: 20.0,
            width: 100,
            height: 120,
            tilt_deg: 0.0,
        }
    }

    #[test]
    fn a_small_face_in_a_large_photo_gets_a_small_region() {
        let r = Region::around(&face(900.0, 500.0, 100.0), (2000, 1500));
        assert_eq!((r.x, r.y, r.width, r.height), (820, 390, 260, 370));
    }

    #[test]
    fn the_region_stops_at_the_photo() {
        let r = Region::around(&face(10.0, 10.0, 300.0), (400, 500));
        assert_eq!((r.x, r.y), (0, 0));
        assert_eq!((r.width, r.height), (400, 500));
        assert_eq!(r, Region::whole((400, 500)));
    }

    #[test]
    fn covers_what_the_output_reads_or_the_photo_edge() {
        let placement = placement();
        let region = |x, y, width, height| Region {
            x,
            y,
            width,
            height,
        };
        assert!(region(400, 400, 200, 200).covers(&placement, (1000, 1000)));
        assert!(!region(460, 400, 200, 200).covers(&placement, (1000, 1000)));
        assert!(!region(400, 440, 200, 200).covers(&placement, (1000, 1000)));
        // Reading beyond the photo's edge is the photo's business, not the region's.
        assert!(region(400, 400, 100, 100).covers(&placement, (500, 500)));
    }

    #[test]
    fn a_tight_region_is_the_crop_plus_a_margin_inside_the_photo() {
        let placement = placement();
        // The face is 100 high: 10 px of margin.
        let head = face(450.0, 450.0, 100.0);
        let r = Region::around_crop(&placement, &head, (1000, 1000));
        assert_eq!((r.x, r.y, r.width, r.height), (439, 419, 121, 141));
        assert!(r.covers(&placement, (1000, 1000)));
        let r = Region::around_crop(&placement, &head, (500, 500));
        assert_eq!((r.x, r.y, r.width, r.height), (439, 419, 61, 81));
        // 95 px per face height on the longer side, never above the region's own pixels.
        let big = Region::whole((300, 600));
        assert_eq!(big.model_side(&face(0.0, 0.0, 300.0)), 190);
        assert_eq!(big.model_side(&face(0.0, 0.0, 60.0)), 320);
        assert_eq!(
            Region::whole((100, 80)).model_side(&face(0.0, 0.0, 20.0)),
            100
        );
    }

    #[test]
    fn a_region_matte_is_background_outside_the_region() {
        let r = Region {
            x: 2,
            y: 1,
            width: 2,
            height: 2,
        };
        let matte = r.matte(&[255; 4], (5, 4)).unwrap();
        assert_eq!(matte.at(2, 1), 255);
        assert_eq!(matte.at(3, 2), 255);
        assert_eq!(matte.at(1, 1), 0);
        assert_eq!(matte.at(4, 3), 0);
        assert_eq!(
            matte.cut((1, 0, 3, 3)),
            [0, 0, 0, 0, 255, 255, 0, 255, 255],
            "a rectangle across the region's edge"
        );
        assert!(r.matte(&[0; 3], (5, 4)).is_none());
        assert!(r.matte(&[0; 4], (3, 4)).is_none());
    }
}
