//! Where the head goes: from the face detector's landmarks and the matte's top of head, the
//! similarity transform (rotation to level the eyes, scale, shift) that maps the output photo
//! onto the source so that the preset's head-height and top-margin rules hold.
//!
//! Coordinates: the source frame has its origin at the midpoint of the eyes, `u` along the eye
//! line (towards the person's left eye) and `v` perpendicular to it, downwards. Output pixel
//! `(X, Y)` is source point `eyes + u·r + v·d` with `u = (X − W/2)/scale` and
//! `v = crown + (Y − crown_y)/scale`.

use serde::Serialize;

use crate::presets::Preset;

/// Eyes tilted more than this are levelled.
pub const LEVEL_ABOVE_DEG: f32 = 2.0;
/// A residual tilt measured after levelling is corrected when larger than this.
pub const RESIDUAL_ABOVE_DEG: f32 = 0.5;
/// Largest enlargement of the source accepted before the face counts as too small.
pub const MAX_UPSCALE: f32 = 3.0;
/// Background pixels needed between the crown and the photo's top edge.
const MIN_HEADROOM: i32 = 2;
/// Alpha at or above which a matte pixel is the person.
const FOREGROUND: u8 = 128;
/// A face smaller than this share of the largest one is background (a poster, a passer-by).
const BYSTANDER: f32 = 0.4;
/// Where the top of the head usually is: this many face-box heights above the eye line
/// (YuNet's box; 0.56 measured on fr_obama, hair included).
const CROWN_ABOVE_EYES: f32 = 0.55;
/// Share of the head that may lie above the photo's top edge: the photo is made with
/// background there (and the warning `crown_touches_top`); more is `head_cut_off`.
const MAX_CROWN_MISSING: f32 = 0.03;

/// A detected face in source pixels; landmarks in YuNet's order: the eye on the image's left,
/// the other eye, nose tip, mouth corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub landmarks: [[f32; 2]; 5],
}

/// Why a photo cannot become an ID photo (answered with 422).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    NoFace,
    SeveralFaces(usize),
    FaceTooSmall { head_px: u32, needed_px: u32 },
    HeadCutOff(&'static str),
    NoPerson,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoFace => "no_face",
            Refusal::SeveralFaces(_) => "several_faces",
            Refusal::FaceTooSmall { .. } => "face_too_small",
            Refusal::HeadCutOff(_) => "head_cut_off",
            Refusal::NoPerson => "no_person",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::NoFace => "no face was found in the photo".into(),
            Refusal::SeveralFaces(n) => format!("{n} faces were found; an ID photo shows one person"),
            Refusal::FaceTooSmall { head_px, needed_px } => format!(
                "the head is {head_px} px high; this size needs at least {needed_px} px: use a closer or larger photo"
            ),
            Refusal::HeadCutOff(edge) => {
                format!("the head is cut off by the photo's {edge} edge; leave space around it")
            }
            Refusal::NoPerson => {
                "the person could not be separated from the background".into()
            }
        }
    }
}

/// The face an ID photo is about (the largest), and its rivals: the other faces of
/// comparable size, which [`people_among`] must clear before the photo is made.
pub fn pick_face(faces: &[FaceBox]) -> Result<(FaceBox, Vec<FaceBox>), Refusal> {
    let largest = faces
        .iter()
        .max_by(|a, b| a.height.total_cmp(&b.height))
        .ok_or(Refusal::NoFace)?;
    let rivals = faces
        .iter()
        .filter(|f| *f != largest && f.height >= BYSTANDER * largest.height)
        .copied()
        .collect();
    Ok((*largest, rivals))
}

/// How many of `rivals` are people: faces on the salient subject of `matte` (a whole-photo
/// matte). A face on a painting, a poster or a screen behind the person is background to it
/// (measured: painted faces 0-15 of 255, a second person 254).
pub fn people_among(rivals: &[FaceBox], matte: &Matte) -> usize {
    rivals
        .iter()
        .filter(|f| {
            let (mut sum, mut n) = (0u32, 0u32);
            for i in 2..=8 {
                for j in 2..=8 {
                    let p = [
                        f.x + f.width * i as f32 / 10.0,
                        f.y + f.height * j as f32 / 10.0,
                    ];
                    if let Some(on) = matte.person_at(p) {
                        sum += u32::from(on);
                        n += 1;
                    }
                }
            }
            n > 0 && 2 * sum >= n
        })
        .count()
}

/// The transform from output pixels to source pixels, and what it achieves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Midpoint of the eyes, source pixels.
    pub eyes: [f32; 2],
    /// Unit vector along the levelled eye line, source frame.
    pub right: [f32; 2],
    /// Output pixels per source pixel.
    pub scale: f32,
    /// `v` of the crown (negative: above the eyes).
    pub crown_v: f32,
    /// The hair reaches the photo's top edge: the crown is where the face says it is, the
    /// part above the edge becomes background.
    pub crown_touches_top: bool,
    /// `v` of the chin.
    pub chin_v: f32,
    /// Output row of the crown.
    pub crown_y: f32,
    /// Output size.
    pub width: u32,
    pub height: u32,
    /// Rotation applied to level the eyes, degrees (0 when within tolerance).
    pub tilt_deg: f32,
}

/// What the crop achieved, in the output's terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Achieved {
    pub head_height_px: f32,
    pub head_ratio: f32,
    pub top_margin_px: f32,
    pub top_ratio: f32,
    pub eyes_from_bottom_ratio: f32,
    pub tilt_corrected_deg: f32,
    pub scale: f32,
    /// The detected face box mapped into the output: x, y, width, height.
    pub face: [f32; 4],
}

fn dot(a: [f32; 2], b: [f32; 2]) -> f32 {
    a[0] * b[0] + a[1] * b[1]
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

impl Placement {
    fn down(&self) -> [f32; 2] {
        [-self.right[1], self.right[0]]
    }

    /// Source point (pixel-centre coordinates) of output pixel `(x, y)`'s centre.
    pub fn to_source(&self, x: f32, y: f32) -> [f32; 2] {
        let u = (x + 0.5 - self.width as f32 / 2.0) / self.scale;
        let v = self.crown_v + (y + 0.5 - self.crown_y) / self.scale;
        let d = self.down();
        [
            self.eyes[0] + u * self.right[0] + v * d[0] - 0.5,
            self.eyes[1] + u * self.right[1] + v * d[1] - 0.5,
        ]
    }

    /// Output position of a source point.
    pub fn to_output(&self, p: [f32; 2]) -> [f32; 2] {
        let rel = sub(p, self.eyes);
        [
            self.width as f32 / 2.0 + self.scale * dot(rel, self.right),
            self.crown_y + self.scale * (dot(rel, self.down()) - self.crown_v),
        ]
    }

    /// The geometry achieved, for the response.
    pub fn achieved(&self, face: &FaceBox) -> Achieved {
        let h = self.height as f32;
        let head = (self.chin_v - self.crown_v) * self.scale;
        let eye_y = self.crown_y - self.crown_v * self.scale;
        let corners = [
            [face.x, face.y],
            [face.x + face.width, face.y],
            [face.x, face.y + face.height],
            [face.x + face.width, face.y + face.height],
        ]
        .map(|p| self.to_output(p));
        let min = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MAX, f32::min);
        let max = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MIN, f32::max);
        Achieved {
            head_height_px: head,
            head_ratio: head / h,
            top_margin_px: self.crown_y,
            top_ratio: self.crown_y / h,
            eyes_from_bottom_ratio: 1.0 - eye_y / h,
            tilt_corrected_deg: self.tilt_deg,
            scale: self.scale,
            face: [min(0), min(1), max(0) - min(0), max(1) - min(1)],
        }
    }
}

/// The subject's matte (alpha 0..255) over part of a photo: `width`×`height` values at
/// (`x`, `y`) of a photo of `photo` pixels; the rest of the photo is background. A model that
/// segmented a region of the photo gives its matte for that region only.
pub struct Matte<'a> {
    pub alpha: &'a [u8],
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub photo: (u32, u32),
}

impl<'a> Matte<'a> {
    /// A matte of the whole `width`×`height` photo.
    pub fn whole(alpha: &'a [u8], width: u32, height: u32) -> Self {
        Matte {
            alpha,
            x: 0,
            y: 0,
            width,
            height,
            photo: (width, height),
        }
    }

    /// The value at photo pixel (`x`, `y`): background outside the matte's part.
    pub fn at(&self, x: u32, y: u32) -> u8 {
        let (x, y) = (x.wrapping_sub(self.x), y.wrapping_sub(self.y));
        if x < self.width && y < self.height {
            self.alpha[y as usize * self.width as usize + x as usize]
        } else {
            0
        }
    }

    /// The values of the photo's rectangle `(x, y, width, height)`, row by row.
    pub fn cut(&self, (x, y, width, height): (u32, u32, u32, u32)) -> Vec<u8> {
        let mut out = vec![0u8; width as usize * height as usize];
        let (from, to) = (x.max(self.x), (x + width).min(self.x + self.width));
        if from < to {
            for row in y.max(self.y)..(y + height).min(self.y + self.height) {
                let src = (row - self.y) as usize * self.width as usize;
                let dst = (row - y) as usize * width as usize;
                out[dst + (from - x) as usize..dst + (to - x) as usize].copy_from_slice(
                    &self.alpha[src + (from - self.x) as usize..src + (to - self.x) as usize],
                );
            }
        }
        out
    }

    /// Whether the source point is the person; `None` outside the photo.
    fn person_at(&self, p: [f32; 2]) -> Option<bool> {
        let (x, y) = (p[0].round(), p[1].round());
        if x < 0.0 || y < 0.0 || x >= self.photo.0 as f32 || y >= self.photo.1 as f32 {
            return None;
        }
        Some(self.at(x as u32, y as u32) >= FOREGROUND)
    }
}

/// The share of `detailed`'s pixels (inside `fast`'s part of the photo) that are the person
/// in `detailed` and background in `fast`: how much more than the person one matte took.
pub fn person_beyond(detailed: &Matte, fast: &Matte) -> f32 {
    let (mut person, mut beyond) = (0u32, 0u32);
    let (x0, x1) = (
        detailed.x.max(fast.x),
        (detailed.x + detailed.width).min(fast.x + fast.width),
    );
    let (y0, y1) = (
        detailed.y.max(fast.y),
        (detailed.y + detailed.height).min(fast.y + fast.height),
    );
    let row = |m: &Matte, y: u32| -> std::ops::Range<usize> {
        let start = (y - m.y) as usize * m.width as usize;
        start + (x0 - m.x) as usize..start + (x1 - m.x) as usize
    };
    for y in (y0..y1).filter(|_| x0 < x1) {
        let (d, f) = (&detailed.alpha[row(detailed, y)], &fast.alpha[row(fast, y)]);
        for (&d, &f) in d.iter().zip(f) {
            let on = u32::from(d >= FOREGROUND);
            person += on;
            beyond += on & u32::from(f < FOREGROUND);
        }
    }
    if person == 0 {
        0.0
    } else {
        beyond as f32 / person as f32
    }
}

/// Finds the crown: walking up from the eye line along columns across the middle of the face,
/// the highest point of the person reached before a clear gap of background; and whether a
/// column ran into the photo's top edge on the person.
fn crown_v(
    matte: &Matte,
    eyes: [f32; 2],
    right: [f32; 2],
    face: &FaceBox,
) -> Result<(f32, bool), Refusal> {
    let down = [-right[1], right[0]];
    let half = (0.35 * face.width).max(2.0) as i32;
    let gap = (0.08 * face.height).max(3.0) as i32;
    let limit = (3.0 * face.height) as i32;
    let mut crown = f32::MAX;
    let mut on_person = 0;
    let mut touches_edge = false;
    for du in -half..=half {
        let at = |v: i32| {
            let (u, v) = (du as f32, v as f32);
            matte.person_at([
                eyes[0] + u * right[0] + v * down[0],
                eyes[1] + u * right[1] + v * down[1],
            ])
        };
        if at(0) != Some(true) {
            continue;
        }
        on_person += 1;
        let (mut top, mut v, mut background_run) = (0, 0, 0);
        loop {
            v -= 1;
            match at(v) {
                // The edge right above person pixels: the hair runs off the photo.
                None if background_run < MIN_HEADROOM => {
                    touches_edge = true;
                    break;
                }
                None => break,
                Some(true) => {
                    top = v;
                    background_run = 0;
                }
                Some(false) => {
                    background_run += 1;
                    if background_run >= gap {
                        break;
                    }
                }
            }
            if -v > limit {
                break;
            }
        }
        crown = crown.min(top as f32);
    }
    if on_person < half {
        return Err(Refusal::NoPerson);
    }
    Ok((crown, touches_edge))
}

/// Computes the placement of `face` in an output of the preset's size. `extra_tilt_deg` is
/// added to the eye line's angle (a residual measured on a first, levelled attempt). Hair
/// running off the top edge is accepted when the head the face implies lies at most
/// [`MAX_CROWN_MISSING`] above the edge, unless `strict`.
pub fn place(
    face: &FaceBox,
    matte: &Matte,
    preset: &Preset,
    (width, height): (u32, u32),
    extra_tilt_deg: f32,
    strict: bool,
) -> Result<Placement, Refusal> {
    let [left_eye, right_eye] = [face.landmarks[0], face.landmarks[1]];
    let eyes = [
        (left_eye[0] + right_eye[0]) / 2.0,
        (left_eye[1] + right_eye[1]) / 2.0,
    ];
    let tilt = (right_eye[1] - left_eye[1]).atan2(right_eye[0] - left_eye[0])
        + extra_tilt_deg.to_radians();
    let tilt = if tilt.to_degrees().abs() > LEVEL_ABOVE_DEG {
        tilt
    } else {
        0.0
    };
    let right = [tilt.cos(), tilt.sin()];
    let down = [-right[1], right[0]];
    // Sides and chin must be inside the photo.
    let (w, h) = (matte.photo.0 as f32, matte.photo.1 as f32);
    if face.x < 0.0 || face.x + face.width > w {
        return Err(Refusal::HeadCutOff(if face.x < 0.0 {
            "left"
        } else {
            "right"
        }));
    }
    if face.y + face.height > h {
        return Err(Refusal::HeadCutOff("bottom"));
    }
    let (mut crown_v, crown_touches_top) = crown_v(matte, eyes, right, face)?;
    let chin = [face.x + face.width / 2.0, face.y + face.height];
    let chin_v = dot(sub(chin, eyes), down);
    if crown_touches_top {
        // How far above the edge the head the face implies would reach.
        let expected = -CROWN_ABOVE_EYES * face.height;
        let missing = crown_v - expected;
        if strict || missing > MAX_CROWN_MISSING * (chin_v - expected) {
            return Err(Refusal::HeadCutOff("top"));
        }
        crown_v = crown_v.min(expected);
    }
    let head_src = chin_v - crown_v;
    let rule = &preset.head;
    let out_h = height as f32;
    let scale = rule.head.target() * out_h / head_src;
    if scale > MAX_UPSCALE {
        return Err(Refusal::FaceTooSmall {
            head_px: head_src as u32,
            needed_px: (rule.head.target() * out_h / MAX_UPSCALE).ceil() as u32,
        });
    }
    let mut top = rule.top.target();
    if let Some(eyes_rule) = rule.eyes_from_bottom {
        // Move the head within the top-margin range until the eye line meets its rule.
        let eyes_from_bottom = |top: f32| 1.0 - (top * out_h - crown_v * scale) / out_h;
        let now = eyes_from_bottom(top);
        let wanted = now.clamp(eyes_rule.min + 0.01, eyes_rule.max - 0.01);
        top = (top + now - wanted).clamp(rule.top.min, rule.top.max);
    }
    Ok(Placement {
        eyes,
        right,
        scale,
        crown_v,
        crown_touches_top,
        chin_v,
        crown_y: top * out_h,
        width,
        height,
        tilt_deg: tilt.to_degrees(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    /// A synthetic portrait: a head-shaped ellipse of person on background, eyes at the given
    /// points.
    fn portrait(w: u32, h: u32, crown_y: f32, chin_y: f32, cx: f32) -> (Vec<u8>, FaceBox) {
        let mut alpha = vec![0u8; (w * h) as usize];
        let (ry, cy) = ((chin_y - crown_y) / 2.0, (chin_y + crown_y) / 2.0);
        let rx = ry * 0.75;
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                // Head, plus shoulders below the chin.
                if dx * dx + dy * dy <= 1.0 || y as f32 > chin_y {
                    alpha[(y * w + x) as usize] = 255;
                }
            }
        }
        let eye_y = cy;
        let face = FaceBox {
            x: cx - rx * 0.9,
            y: crown_y + 0.2 * (chin_y - crown_y),
            width: rx * 1.8,
            height: chin_y - (crown_y + 0.2 * (chin_y - crown_y)),
            landmarks: [
                [cx - rx * 0.4, eye_y],
                [cx + rx * 0.4, eye_y],
                [cx, eye_y + 20.0],
                [cx - 15.0, eye_y + 40.0],
                [cx + 15.0, eye_y + 40.0],
            ],
        };
        (alpha, face)
    }

    #[test]
    fn the_head_lands_where_the_preset_says() {
        let (alpha, face) = portrait(600, 800, 150.0, 450.0, 300.0);
        let matte = Matte::whole(&alpha, 600, 800);
        for p in presets::PRESETS {
            let placement = place(&face, &matte, p, (p.width_px, p.height_px), 0.0, false).unwrap();
            let got = placement.achieved(&face);
            assert!(p.head.head.contains(got.head_ratio), "{}: {got:?}", p.id);
            assert!(p.head.top.contains(got.top_ratio), "{}: {got:?}", p.id);
            if let Some(eyes) = p.head.eyes_from_bottom {
                assert!(
                    eyes.contains(got.eyes_from_bottom_ratio),
                    "{}: {got:?}",
                    p.id
                );
            }
            // The crown maps onto the crown row, the eyes onto the centre column.
            let crown = placement.to_output([300.0, 150.0]);
            assert!((crown[1] - placement.crown_y).abs() < 1.5, "{crown:?}");
            let eyes = placement.to_output([300.0, 300.0]);
            assert!((eyes[0] - p.width_px as f32 / 2.0).abs() < 0.01);
        }
    }

    #[test]
    fn refusals() {
        let p = presets::find("cn-1inch").unwrap();
        // The hair just reaches the top edge: made, with the warning; refused when strict.
        let (alpha, face) = portrait(600, 800, 0.0, 300.0, 300.0);
        let matte = Matte::whole(&alpha, 600, 800);
        let touching = place(&face, &matte, p, (295, 413), 0.0, false).unwrap();
        assert!(touching.crown_touches_top);
        assert_eq!(
            place(&face, &matte, p, (295, 413), 0.0, true),
            Err(Refusal::HeadCutOff("top"))
        );
        // A sixth of the head above the edge: refused.
        let (alpha, face) = portrait(600, 800, -60.0, 300.0, 300.0);
        let matte = Matte::whole(&alpha, 600, 800);
        assert_eq!(
            place(&face, &matte, p, (295, 413), 0.0, false),
            Err(Refusal::HeadCutOff("top"))
        );
        let (alpha, face) = portrait(600, 800, 300.0, 340.0, 300.0);
        let matte = Matte::whole(&alpha, 600, 800);
        assert!(matches!(
            place(&face, &matte, p, (295, 413), 0.0, false),
            Err(Refusal::FaceTooSmall { .. })
        ));
        let empty = vec![0u8; 600 * 800];
        let (_, face) = portrait(600, 800, 150.0, 450.0, 300.0);
        let matte = Matte::whole(&empty, 600, 800);
        assert_eq!(
            place(&face, &matte, p, (295, 413), 0.0, false),
            Err(Refusal::NoPerson)
        );
    }

    #[test]
    fn tilted_eyes_are_levelled() {
        let (alpha, mut face) = portrait(600, 800, 150.0, 450.0, 300.0);
        face.landmarks[1][1] += 20.0; // about 10° on a 110 px eye distance
        let matte = Matte::whole(&alpha, 600, 800);
        let p = presets::find("cn-1inch").unwrap();
        let placement = place(&face, &matte, p, (295, 413), 0.0, false).unwrap();
        assert!(placement.tilt_deg > 11.0 && placement.tilt_deg < 14.0);
        let [l, r] = [face.landmarks[0], face.landmarks[1]].map(|e| placement.to_output(e));
        assert!((l[1] - r[1]).abs() < 0.01, "{l:?} {r:?}");
    }

    #[test]
    fn bystanders_do_not_count_but_a_second_person_does() {
        let face = |x: f32, h: f32| FaceBox {
            x,
            y: 0.0,
            width: h,
            height: h,
            landmarks: [[0.0; 2]; 5],
        };
        assert_eq!(pick_face(&[]), Err(Refusal::NoFace));
        let (main, rivals) = pick_face(&[face(0.0, 200.0), face(300.0, 30.0)]).unwrap();
        assert_eq!((main.height, rivals.len()), (200.0, 0));
        let (main, rivals) = pick_face(&[face(0.0, 200.0), face(300.0, 180.0)]).unwrap();
        assert_eq!((main.height, rivals), (200.0, vec![face(300.0, 180.0)]));
        // A rival on the person's matte is a second person; one on the background is not.
        let mut alpha = vec![0u8; 600 * 300];
        for y in 0..300 {
            for x in 0..250 {
                alpha[y * 600 + x] = 255;
            }
        }
        let matte = Matte::whole(&alpha, 600, 300);
        assert_eq!(people_among(&[face(300.0, 180.0)], &matte), 0);
        // Against itself a matte takes no more than the person; against an empty one, all.
        assert_eq!(person_beyond(&matte, &matte), 0.0);
        let none = vec![0u8; alpha.len()];
        assert_eq!(person_beyond(&matte, &Matte::whole(&none, 600, 300)), 1.0);
        assert_eq!(people_among(&[face(10.0, 180.0)], &matte), 1);
    }
}
