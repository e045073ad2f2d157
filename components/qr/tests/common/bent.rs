//! Codes on bent surfaces, made for the tests and `bench/qr-bent.sh`: a symbol of a chosen
//! version is drawn on flat "paper" (its light border `border` modules wide, then either more
//! paper or a dark, textured surface), the paper is bent by a known warp, lit, blurred and
//! spoiled with noise as a print photographed by a phone would be, and saved as a JPEG.
//!
//! Every warp is given as the map from a point of the photo (in modules, from the symbol's
//! centre) back to the point of the flat paper it shows, so the photo is drawn by sampling the
//! paper at that point (2×2 samples a pixel).

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, Luma};
use qrcodegen::{QrCode, QrCodeEcc, QrSegment, Version};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Pixels a module spans in the photo.
const MODULE_PX: f64 = 6.0;
/// Paper and ink levels, and the dark surface's.
const LIGHT: f64 = 215.0;
const DARK: f64 = 35.0;
const SURFACE: f64 = 50.0;

/// How the paper is bent. Strengths are in modules (amplitudes) or symbol widths (radii).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warp {
    Flat,
    /// Wrapped around a cylinder (axis vertical) of this radius in symbol widths, seen from
    /// the front: modules far from the axis are squeezed and darker.
    Cylinder(f64),
    /// Rows and columns waving with this amplitude in modules, one period across the symbol.
    Wave(f64),
    /// A crumpled sheet: a sum of six random plane waves (a quarter to a whole symbol long),
    /// each at most 0.4 × this amplitude in modules.
    Crumple(f64),
}

impl Warp {
    pub fn name(&self) -> &'static str {
        match self {
            Warp::Flat => "flat",
            Warp::Cylinder(_) => "cylinder",
            Warp::Wave(_) => "wave",
            Warp::Crumple(_) => "crumple",
        }
    }

    pub fn strength(&self) -> f64 {
        match *self {
            Warp::Flat => 0.0,
            Warp::Cylinder(r) | Warp::Wave(r) | Warp::Crumple(r) => r,
        }
    }
}

/// One photo to make.
#[derive(Debug, Clone)]
pub struct Case {
    pub version: u8,
    pub warp: Warp,
    /// Light border around the symbol, in modules (the standard asks for 4).
    pub border: f64,
    /// Beyond the border: a dark surface (`true`) or more paper.
    pub dark_surround: bool,
    pub seed: u64,
}

impl Case {
    /// A file name that says what the photo is.
    pub fn name(&self) -> String {
        format!(
            "{}-{}-v{}-b{}-{}-{}",
            self.warp.name(),
            self.warp.strength(),
            self.version,
            self.border,
            if self.dark_surround { "dark" } else { "paper" },
            self.seed
        )
    }

    /// The text the symbol holds: filling most of its version at level M.
    pub fn text(&self) -> String {
        let capacity = [0, 14, 26, 42, 62, 84, 106, 122, 152, 180, 213][self.version as usize];
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x5eed);
        (0..capacity * 9 / 10)
            .map(|_| char::from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.random_range(0..32)]))
            .collect()
    }

    /// The photo, as JPEG bytes (quality 80).
    pub fn photo(&self) -> Vec<u8> {
        let image = self.draw();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&image)
            .expect("JPEG of a grey image");
        jpeg
    }

    /// The photo before JPEG.
    pub fn draw(&self) -> GrayImage {
        let text = self.text();
        let segments = QrSegment::make_segments(&text);
        let version = Version::new(self.version);
        let code = QrCode::encode_segments_advanced(
            &segments,
            QrCodeEcc::Medium,
            version,
            version,
            None,
            false,
        )
        .expect("the text fits its version");
        let n = code.size() as f64;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let field = Field::new(self.warp, n, &mut rng);
        let turn = rng.random_range(-0.12..0.12f64);
        let (sin, cos) = turn.sin_cos();
        let texture: Vec<f64> = (0..64).map(|_| rng.random_range(-12.0..12.0)).collect();
        let reach = n / 2.0 + self.border + 3.0;
        let side = (2.0 * reach * MODULE_PX).ceil() as u32;
        let centre = side as f64 / 2.0;
        let paper = |u: f64, v: f64| -> f64 {
            // (u, v): modules from the symbol's top-left corner on the flat paper.
            let inside = |t: f64| (0.0..n).contains(&t);
            if inside(u) && inside(v) {
                return if code.get_module(u as i32, v as i32) {
                    DARK
                } else {
                    LIGHT
                };
            }
            let in_border = |t: f64| t >= -self.border && t < n + self.border;
            if !self.dark_surround || (in_border(u) && in_border(v)) {
                LIGHT
            } else {
                let cell = (((u * 1.7).floor() as i64 * 7 + (v * 1.3).floor() as i64 * 13)
                    .rem_euclid(64)) as usize;
                SURFACE + texture[cell]
            }
        };
        let mut image = GrayImage::new(side, side);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            let mut sum = 0.0;
            for (dx, dy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let px = (x as f64 + dx - centre) / MODULE_PX;
                let py = (y as f64 + dy - centre) / MODULE_PX;
                let (rx, ry) = (px * cos - py * sin, px * sin + py * cos);
                sum += match field.flat(rx, ry) {
                    Some((u, v, light)) => paper(u + n / 2.0, v + n / 2.0) * light,
                    None => SURFACE,
                };
            }
            let noise: f64 = (0..4).map(|_| rng.random_range(-5.0..5.0)).sum();
            *pixel = Luma([(sum / 4.0 + noise).clamp(0.0, 255.0) as u8]);
        }
        image::imageops::blur(&image, (0.18 * MODULE_PX) as f32)
    }
}

/// A warp as the map from the photo back to the paper.
struct Field {
    warp: Warp,
    /// Symbol width in modules.
    n: f64,
    /// Plane waves of a crumple: (amplitude u, amplitude v, frequency x, frequency y, phase).
    waves: Vec<[f64; 5]>,
}

impl Field {
    fn new(warp: Warp, n: f64, rng: &mut StdRng) -> Field {
        let waves = match warp {
            Warp::Crumple(amplitude) => (0..6)
                .map(|_| {
                    let length = n * rng.random_range(0.25..1.0);
                    let angle = rng.random_range(0.0..std::f64::consts::TAU);
                    let k = std::f64::consts::TAU / length;
                    // Slopes stay below one, so the sheet never folds over itself.
                    let a = (amplitude / 2.5).min(0.3 / k);
                    [
                        a * rng.random_range(-1.0..1.0),
                        a * rng.random_range(-1.0..1.0),
                        k * angle.cos(),
                        k * angle.sin(),
                        rng.random_range(0.0..std::f64::consts::TAU),
                    ]
                })
                .collect(),
            _ => Vec::new(),
        };
        Field { warp, n, waves }
    }

    /// The paper's point (modules from the symbol's centre) shown at `(x, y)`, and how lit it
    /// is; `None` off the paper (beside a cylinder).
    fn flat(&self, x: f64, y: f64) -> Option<(f64, f64, f64)> {
        match self.warp {
            Warp::Flat => Some((x, y, 1.0)),
            Warp::Cylinder(radius) => {
                let r = radius * self.n;
                if x.abs() >= r {
                    return None;
                }
                let angle = (x / r).asin();
                Some((r * angle, y, 0.55 + 0.45 * angle.cos()))
            }
            Warp::Wave(a) => {
                let k = std::f64::consts::TAU / self.n;
                Some((
                    x - a * (k * y + 0.7).sin(),
                    y - a * (k * x + 1.9).sin(),
                    1.0,
                ))
            }
            Warp::Crumple(_) => {
                let (mut u, mut v, mut shade) = (x, y, 1.0);
                for [au, av, fx, fy, phase] in &self.waves {
                    let s = (fx * x + fy * y + phase).sin();
                    u += au * s;
                    v += av * s;
                    shade += 0.04 * (fx * x + fy * y + phase).cos();
                }
                Some((u, v, shade.clamp(0.7, 1.1)))
            }
        }
    }
}

/// The bench's set: every warp at every strength, versions 1, 2, 4, 6 and 10, a standard
/// border on paper and a border of one and of a quarter module on a dark surface, `seeds`
/// photos of each.
pub fn bench_cases(seeds: u64) -> Vec<Case> {
    let mut warps = vec![Warp::Flat];
    warps.extend([1.5, 1.0, 0.75, 0.6, 0.5].map(Warp::Cylinder));
    warps.extend([0.25, 0.5, 0.75, 1.0, 1.5].map(Warp::Wave));
    warps.extend([0.25, 0.5, 0.75, 1.0, 1.5].map(Warp::Crumple));
    let mut cases = Vec::new();
    for warp in warps {
        for version in [1, 2, 4, 6, 10] {
            for (border, dark_surround) in [(4.0, false), (1.0, true), (0.25, true)] {
                for seed in 0..seeds {
                    cases.push(Case {
                        version,
                        warp,
                        border,
                        dark_surround,
                        seed: seed * 1000 + u64::from(version),
                    });
                }
            }
        }
    }
    cases
}
