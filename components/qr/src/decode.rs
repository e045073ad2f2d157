//! Pixels → every QR code in them.
//!
//! A bi-level image goes straight to rxing's port of zxing-cpp's QR detector and decoder (at
//! reduced resolution first when its narrowest run is wide, as in a rendered code); if
//! nothing is found there, or for grey levels, a cascade runs: rxing with a local (hybrid)
//! binariser; rqrr (12× slower, reads some codes the first misses, such as a faint code beside
//! a crisp one); rxing with a global-histogram binariser. With [`Effort::Fast`] it stops at the
//! first stage that finds something; with [`Effort::Thorough`] every stage runs and a code read
//! twice is listed once. Tiny images in which nothing was found go through the cascade again at
//! twice the size. Large photos run the first stage at full size and the cascade on a copy
//! scaled down to 1600 px, so decoding time stays bounded up to the 40 MP limit. Each rxing
//! stage also reads light-on-dark symbols (the binary image inverted) when it finds nothing.
//! In each rxing stage, a set of finder patterns whose one perspective map does not decode is
//! sampled again on a bent grid ([`crate::bent`]: codes on bottles, fabric, crumpled paper).
//! Corners are reported where a viewer shows them (the image's EXIF orientation).
//! Measured on ZXing's 97 black-box images: 97.9–99% exact at each rotation
//! (`cargo test --release -p qr --test zxing`); on bent codes, `bench/qr-bent.sh`.

use image::GrayImage;
use rxing::common::{BitMatrix, DetectorRXingResult, GlobalHistogramBinarizer, HybridBinarizer};
use rxing::qrcode::cpp_port::decoder::Decode;
use rxing::qrcode::cpp_port::detector::{
    FindFinderPatterns, FinderPatternSet, GenerateFinderPatternSets, SampleQR,
};
use rxing::{Binarizer, BinaryBitmap, Luma8LuminanceSource};

use crate::bilevel::Bilevel;
use crate::load::{Picture, Pixels};

/// One decoded code.
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    pub text: String,
    /// Corners in pixels of the image as shown (EXIF orientation applied), pixel edges at whole
    /// numbers: top-left, top-right, bottom-right, bottom-left of the symbol (quiet zone
    /// excluded), so a code drawn from pixel 40 to 250 has corners at 40 and 250.
    pub corners: [[f32; 2]; 4],
    /// QR version (1–40) when the decoder reports it.
    pub version: Option<u32>,
}

/// How hard the decoder looks once it has found a code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effort {
    /// Stop at the first stage that finds something (the default).
    #[default]
    Fast,
    /// Run every stage and merge what they find: a code that only a later stage reads (a faint
    /// one beside a crisp one) is listed too. On ZXing's photos, ~8× the time of `Fast`.
    Thorough,
}

/// How a search runs: its effort, and whether a symbol whose finder patterns were found but
/// whose plain perspective sampling did not decode is sampled again on a bent grid
/// ([`crate::bent`]).
#[derive(Debug, Clone, Copy)]
struct Search {
    effort: Effort,
    bent_grids: bool,
}

/// Every code found in the image (empty when there is none), corners where they are shown.
pub fn decode(picture: &Picture, effort: Effort) -> Vec<Code> {
    search_picture(
        picture,
        Search {
            effort,
            bent_grids: true,
        },
    )
}

/// [`decode`] without the bent-grid stage: what the decoder read before it had one (the
/// "before" of `bench/qr-bent.sh`).
pub fn decode_plain(picture: &Picture, effort: Effort) -> Vec<Code> {
    search_picture(
        picture,
        Search {
            effort,
            bent_grids: false,
        },
    )
}

fn search_picture(picture: &Picture, search: Search) -> Vec<Code> {
    let effort = search.effort;
    let mut codes = match &picture.pixels {
        Pixels::Grey(grey) => search_grey(grey, search),
        Pixels::Bilevel(bits) => {
            let mut found = codes_in_bilevel(bits, search);
            if found.is_empty() || effort == Effort::Thorough {
                add_new(&mut found, search_grey(&bits.to_grey(), search));
            }
            found
        }
    };
    for code in &mut codes {
        code.corners = code.corners.map(|corner| picture.shown(corner));
    }
    codes
}

/// Fewest pixels per module a reduced copy of a bi-level image keeps.
const MIN_MODULE_PX: usize = 3;

/// A bi-level image whose narrowest run of pixels is wide (a rendered code: 10 px modules) is
/// first searched in a copy that keeps one pixel in `step` each way, at least
/// [`MIN_MODULE_PX`] per module: `step²` times fewer pixels to scan. Corners come back in full
/// size, within `step / 2` px. Found nothing there: the full image.
fn codes_in_bilevel(bits: &Bilevel, search: Search) -> Vec<Code> {
    let step = bits.narrowest_run() / MIN_MODULE_PX;
    if step >= 2 {
        if let Some(reduced) = bits.every_nth_pixel(step as u32) {
            let mut found = codes_in_either_polarity(&reduced, search);
            if !found.is_empty() {
                for code in &mut found {
                    code.corners = code
                        .corners
                        .map(|[x, y]| [x * step as f32, y * step as f32]);
                }
                return found;
            }
        }
    }
    bits.to_matrix()
        .map(|matrix| codes_in_either_polarity(&matrix, search))
        .unwrap_or_default()
}

/// Long side (pixels) above which an image is large: only the quickest stage runs on it at full
/// size, the whole cascade on a copy scaled down to [`WORKING_SIDE`]. rqrr alone took ~340 ms
/// natively on a 12 MP photo without a code, and a 40 MP one ran out of CPU time.
const LARGE_SIDE: u32 = 1600;
/// Long side of the scaled-down copy of a large image (at most half its size).
const WORKING_SIDE: u32 = 1600;
/// Long side below which the cascade runs again at twice the size (tiny codes).
const SMALL_SIDE: u32 = 400;

/// Every code found in grey levels: the cascade of binarisers and decoders, then rescaled.
pub fn decode_grey(image: &GrayImage, effort: Effort) -> Vec<Code> {
    search_grey(
        image,
        Search {
            effort,
            bent_grids: true,
        },
    )
}

fn search_grey(image: &GrayImage, search: Search) -> Vec<Code> {
    let effort = search.effort;
    let (w, h) = image.dimensions();
    let side = w.max(h);
    if side > LARGE_SIDE {
        let mut codes = with_rxing(image, search, |source| {
            BinaryBitmap::new(HybridBinarizer::new(source))
        });
        if !codes.is_empty() && effort == Effort::Fast {
            return codes;
        }
        let factor = (WORKING_SIDE as f32 / side as f32).min(0.5);
        let (sw, sh) = (
            ((w as f32 * factor).round() as u32).max(1),
            ((h as f32 * factor).round() as u32).max(1),
        );
        // Area averaging: quick, and no aliasing of fine modules.
        let small = image::imageops::thumbnail(image, sw, sh);
        add_new(
            &mut codes,
            decode_at_scale(&small, sw as f32 / w as f32, search),
        );
        return codes;
    }
    let found = decode_at_scale(image, 1.0, search);
    if !found.is_empty() || side >= SMALL_SIDE {
        return found;
    }
    let big = image::imageops::resize(image, w * 2, h * 2, image::imageops::FilterType::Triangle);
    decode_at_scale(&big, 2.0, search)
}

/// Every code the cascade reads in `image`, corners divided by `factor`. A code found again by a
/// later stage ([`Effort::Thorough`]) is kept once, as the earlier stage found it.
fn decode_at_scale(image: &GrayImage, factor: f32, search: Search) -> Vec<Code> {
    let stages: [&dyn Fn() -> Vec<Code>; 3] = [
        &|| {
            with_rxing(image, search, |source| {
                BinaryBitmap::new(HybridBinarizer::new(source))
            })
        },
        &|| with_rqrr(image),
        &|| {
            with_rxing(image, search, |source| {
                BinaryBitmap::new(GlobalHistogramBinarizer::new(source))
            })
        },
    ];
    let mut codes = Vec::new();
    for stage in stages {
        if !codes.is_empty() && search.effort == Effort::Fast {
            break;
        }
        add_new(&mut codes, stage());
    }
    for code in &mut codes {
        for corner in &mut code.corners {
            corner[0] /= factor;
            corner[1] /= factor;
        }
    }
    codes
}

/// Adds the codes of `found` that `codes` does not hold yet.
fn add_new(codes: &mut Vec<Code>, found: Vec<Code>) {
    for code in found {
        if !codes.iter().any(|known| known.is_same_symbol(&code)) {
            codes.push(code);
        }
    }
}

impl Code {
    /// The same text, centred within a quarter of this code's diagonal of the other's centre:
    /// one symbol read twice (two symbols with one text, side by side, stay two).
    fn is_same_symbol(&self, other: &Code) -> bool {
        let centre = |c: &Code| {
            let [x, y] = c
                .corners
                .iter()
                .fold([0.0, 0.0], |[x, y], [cx, cy]| [x + cx, y + cy]);
            [x / 4.0, y / 4.0]
        };
        let distance = |[ax, ay]: [f32; 2], [bx, by]: [f32; 2]| (ax - bx).hypot(ay - by);
        self.text == other.text
            && distance(centre(self), centre(other))
                < distance(self.corners[0], self.corners[2]) / 4.0
    }
}

fn with_rqrr(image: &GrayImage) -> Vec<Code> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let mut codes = Vec::new();
    for grid in prepared.detect_grids() {
        let mut bytes = Vec::new();
        let Ok(meta) = grid.decode_to(&mut bytes) else {
            continue;
        };
        // rqrr hands back raw bytes; non-UTF-8 payloads are left to rxing's charset handling.
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let version = meta.version.0 as u32;
        codes.push(Code {
            text,
            corners: rqrr_corners(grid.bounds, version),
            version: Some(version),
        });
    }
    codes
}

/// The symbol's corners from rqrr's bounds. rqrr 0.11 places its bounds at module
/// `size + 1` (its `detect_grids`), one module beyond the symbol's far edges; its perspective
/// map is rebuilt from them to place the corners at module `size`.
fn rqrr_corners(bounds: [rqrr::Point; 4], version: u32) -> [[f32; 2]; 4] {
    let at = bounds.map(|p| [f64::from(p.x), f64::from(p.y)]);
    let size = f64::from(17 + 4 * version);
    let Some(grid) = crate::quad::Perspective::from_corners(at) else {
        return at.map(|[x, y]| [x as f32, y as f32]);
    };
    let t = size / (size + 1.0);
    [(0.0, 0.0), (t, 0.0), (t, t), (0.0, t)].map(|(u, v)| {
        let [x, y] = grid.map(u, v);
        [x as f32, y as f32]
    })
}

/// rxing's decoding of `image` binarised by `bitmap`.
fn with_rxing<B: Binarizer>(
    image: &GrayImage,
    search: Search,
    bitmap: impl Fn(Luma8LuminanceSource) -> BinaryBitmap<B>,
) -> Vec<Code> {
    let (w, h) = image.dimensions();
    let source = Luma8LuminanceSource::new(image.as_raw().clone(), w, h);
    let bitmap = bitmap(source);
    codes_in_either_polarity(bitmap.get_black_matrix(), search)
}

/// [`codes_in`], then in the inverted image when nothing was found (always, with
/// [`Effort::Thorough`]): a reflectance-reversed symbol, light modules on dark as dark-mode
/// designs draw it (and as `fg`/`bg` can render it), is read too.
fn codes_in_either_polarity(binary: &BitMatrix, search: Search) -> Vec<Code> {
    let mut codes = codes_in(binary, search.bent_grids);
    if codes.is_empty() || search.effort == Effort::Thorough {
        let mut inverted = binary.clone();
        inverted.flip_self();
        add_new(&mut codes, codes_in(&inverted, search.bent_grids));
    }
    codes
}

/// zxing-cpp's QR pipeline (as ported by rxing) on a binary image (set = dark): finder patterns
/// → sets of three → sampled grid → decode. Driven here rather than through `QrReader` so the
/// grid size (the version) is known. A set whose plain sampling does not decode is sampled
/// again on bent grids when `bent_grids` is set.
fn codes_in(binary: &BitMatrix, bent_grids: bool) -> Vec<Code> {
    let mut patterns = FindFinderPatterns(binary, true);
    let mut used = Vec::new();
    let mut codes = Vec::new();
    for set in GenerateFinderPatternSets(&mut patterns) {
        if used.contains(&set.bl) || used.contains(&set.tl) || used.contains(&set.tr) {
            continue;
        }
        let code = plain_sampling(binary, &set)
            .or_else(|| bent_grids.then(|| bent_sampling(binary, &set)).flatten());
        if let Some(code) = code {
            used.extend([set.bl, set.tl, set.tr]);
            codes.push(code);
        }
    }
    codes
}

/// The code one perspective map through the finder patterns (zxing-cpp's sampling) reads.
fn plain_sampling(binary: &BitMatrix, set: &FinderPatternSet) -> Option<Code> {
    let sampled = SampleQR(binary, set).ok()?;
    let bits = sampled.getBits();
    let decoded = Decode(bits).ok().filter(|d| d.isValid())?;
    // rxing's points sit half a pixel right of and below the symbol's corners (40.5 and
    // 250.5 for a symbol drawn over pixels 40 to 249, at every whole module size
    // measured); corners here are pixel edges at whole numbers.
    let p = sampled.getPoints();
    let corner = |i: usize| {
        p.get(i)
            .map(|p| [p.x - 0.5, p.y - 0.5])
            .unwrap_or([0.0, 0.0])
    };
    Some(Code {
        text: decoded.text(),
        corners: [corner(0), corner(1), corner(2), corner(3)],
        version: Some(bits.width().saturating_sub(17) / 4),
    })
}

/// How far (in modules) each refinement of a bent grid smooths the edges it measures: coarse
/// first, to move whole regions that are off, then finer.
const REFINEMENTS: [f64; 4] = [4.0, 3.0, 2.0, 2.0];

/// Share of the function patterns' modules a bent grid must sample right, as measured, to be
/// refined at all: a wrong version or a grid lost on the way shows the timing pattern as noise.
const WORTH_REFINING: f64 = 0.8;

/// The first code a bent grid through the finder patterns reads, as measured or refined.
fn bent_sampling(binary: &BitMatrix, set: &FinderPatternSet) -> Option<Code> {
    let read = |grid: &crate::bent::BentGrid, bits: &BitMatrix| {
        let decoded = Decode(bits).ok().filter(|d| d.isValid())?;
        Some(Code {
            text: decoded.text(),
            corners: grid.corners(),
            version: Some(bits.width().saturating_sub(17) / 4),
        })
    };
    crate::bent::grids(binary, set).find_map(|mut grid| {
        let mut bits = grid.bits(binary)?;
        if let Some(code) = read(&grid, &bits) {
            return Some(code);
        }
        if grid.agreement(&bits) < WORTH_REFINING {
            return None;
        }
        for spread in REFINEMENTS {
            grid.refine(binary, &bits, spread);
            bits = grid.bits(binary)?;
            if let Some(code) = read(&grid, &bits) {
                return Some(code);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol;
    use qrcodegen::QrCodeEcc;

    /// Paints `text`'s code (quiet zone of 4 included) at (`left`, `top`), `scale` px a module.
    fn paint(
        image: &mut GrayImage,
        text: &str,
        [left, top]: [u32; 2],
        scale: u32,
        [dark, light]: [u8; 2],
    ) {
        let code = symbol::encode(text, QrCodeEcc::Medium).unwrap();
        let side = (code.size as u32 + 8) * scale;
        for y in 0..side {
            for x in 0..side {
                let module = |p: u32| (p / scale).checked_sub(4).map(|m| m as usize);
                let is_dark = match (module(x), module(y)) {
                    (Some(mx), Some(my)) if mx < code.size && my < code.size => {
                        code.is_dark(mx, my)
                    }
                    _ => false,
                };
                let level = if is_dark { dark } else { light };
                image.put_pixel(left + x, top + y, image::Luma([level]));
            }
        }
    }

    fn texts(picture: GrayImage, effort: Effort) -> Vec<String> {
        let mut texts: Vec<String> = decode(&Picture::upright(Pixels::Grey(picture)), effort)
            .into_iter()
            .map(|c| c.text)
            .collect();
        texts.sort();
        texts
    }

    #[test]
    fn a_faint_code_beside_a_crisp_one_is_found_when_asked_for() {
        // Grey 100 on 130: the hybrid binariser reads only the crisp code; rqrr reads both.
        let mut image = GrayImage::from_pixel(900, 500, image::Luma([128]));
        paint(&mut image, "crisp", [20, 20], 8, [0, 255]);
        paint(&mut image, "faint", [480, 40], 8, [100, 130]);
        assert_eq!(texts(image.clone(), Effort::Fast), ["crisp"]);
        assert_eq!(texts(image, Effort::Thorough), ["crisp", "faint"]);
    }

    /// A rendered code (1-bit PNG) of `scale` px modules and a quiet zone of `border` modules,
    /// and where its symbol starts and ends.
    fn rendered(scale: u32, border: u32) -> (Vec<u8>, [f32; 2]) {
        let raw = crate::options::RawOptions::from_pairs(&[
            ("text".into(), "corners".into()),
            ("scale".into(), scale.to_string()),
            ("border".into(), border.to_string()),
        ])
        .unwrap();
        let png = crate::encode::render(&raw.validate().unwrap())
            .unwrap()
            .bytes;
        let modules = symbol::encode("corners", QrCodeEcc::Medium).unwrap().size as u32;
        let start = (border * scale) as f32;
        (png, [start, start + (modules * scale) as f32])
    }

    fn assert_corners(corners: [[f32; 2]; 4], [lo, hi]: [f32; 2], within: f32, what: &str) {
        let expected = [[lo, lo], [hi, lo], [hi, hi], [lo, hi]];
        for (got, want) in corners.iter().zip(expected) {
            let off = (got[0] - want[0]).abs().max((got[1] - want[1]).abs());
            assert!(off <= within, "{what}: {corners:?}, expected {expected:?}");
        }
    }

    #[test]
    fn corners_of_a_rendered_code_are_its_edges() {
        for scale in 1..=13 {
            let (png, edges) = rendered(scale, 3);
            let picture = crate::load::load(&png).unwrap();
            // Bi-level; modules of 6 px and more are read at reduced resolution, one pixel in
            // scale / 3, so the edges are known to half that step.
            let codes = decode(&picture, Effort::Fast);
            let step = (scale / MIN_MODULE_PX as u32).max(1) as f32;
            let within = if step >= 2.0 { step / 2.0 } else { 0.5 };
            assert_corners(
                codes[0].corners,
                edges,
                within,
                &format!("bi-level, scale {scale}"),
            );
            // Grey levels, rxing's hybrid stage.
            let grey = picture.into_grey();
            let codes = decode_grey(&grey, Effort::Fast);
            assert_corners(
                codes[0].corners,
                edges,
                0.5,
                &format!("grey, scale {scale}"),
            );
            // rqrr, whose own bounds overshoot the far edges by a module.
            if scale >= 2 {
                let codes = with_rqrr(&grey);
                assert_corners(
                    codes[0].corners,
                    edges,
                    1.0,
                    &format!("rqrr, scale {scale}"),
                );
            }
        }
    }

    #[test]
    fn light_modules_on_dark_are_read() {
        // Rendered light on dark: a 1-bit PNG whose palette puts white on black.
        for scale in [2, 10] {
            let raw = crate::options::RawOptions::from_pairs(&[
                ("text".into(), "inverted".into()),
                ("scale".into(), scale.to_string()),
                ("fg".into(), "ffffff".into()),
                ("bg".into(), "000000".into()),
            ])
            .unwrap();
            let png = crate::encode::render(&raw.validate().unwrap())
                .unwrap()
                .bytes;
            let grey = crate::load::load(&png).unwrap().into_grey();
            assert_eq!(
                texts(grey, Effort::Fast),
                ["inverted"],
                "grey, scale {scale}"
            );
            let codes = decode(&crate::load::load(&png).unwrap(), Effort::Fast);
            assert_eq!(codes.len(), 1, "bi-level, scale {scale}");
            assert_eq!(codes[0].text, "inverted");
        }
        // In grey levels, beside a code of the usual polarity: both when asked for.
        let mut image = GrayImage::from_pixel(900, 500, image::Luma([128]));
        paint(&mut image, "usual", [20, 20], 8, [0, 255]);
        paint(&mut image, "inverted", [480, 40], 8, [255, 0]);
        assert_eq!(texts(image.clone(), Effort::Fast), ["usual"]);
        assert_eq!(texts(image, Effort::Thorough), ["inverted", "usual"]);
    }

    #[test]
    fn a_symbol_is_the_same_when_its_text_and_place_are() {
        let code = |text: &str, left: f32| Code {
            text: text.into(),
            corners: [
                [left, 0.0],
                [left + 100.0, 0.0],
                [left + 100.0, 100.0],
                [left, 100.0],
            ],
            version: Some(1),
        };
        assert!(code("a", 0.0).is_same_symbol(&code("a", 30.0)));
        assert!(!code("a", 0.0).is_same_symbol(&code("a", 40.0)));
        assert!(!code("a", 0.0).is_same_symbol(&code("b", 0.0)));
    }

    #[test]
    fn one_code_is_listed_once_and_two_alike_codes_twice() {
        // Every stage reads a crisp code: listed once. Two codes with one text: listed twice.
        let mut image = GrayImage::from_pixel(900, 500, image::Luma([255]));
        paint(&mut image, "same", [20, 20], 8, [0, 255]);
        assert_eq!(texts(image.clone(), Effort::Thorough), ["same"]);
        paint(&mut image, "same", [480, 40], 8, [0, 255]);
        assert_eq!(texts(image, Effort::Thorough), ["same", "same"]);
    }
}
