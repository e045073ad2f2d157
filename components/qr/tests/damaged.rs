//! Hostile inputs: ZXing's images damaged at random go through loading and decoding, at both
//! efforts, without a panic (a panic would trap the component: a 500 instead of an answer).
//! Uploads are damaged as bytes (overwritten, bit-flipped, truncated, spans copied over);
//! pixels are damaged after loading (rectangles painted over, odd resizes), which takes the
//! detectors and decoders down paths real photos rarely reach. The generator is seeded, so a
//! failing case reproduces; each failure names its case.

mod common;

use qr::decode::{decode, decode_grey, Effort};

/// xorshift64: small, deterministic, good enough to pick damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn effort(case: usize) -> Effort {
    if case.is_multiple_of(2) {
        Effort::Fast
    } else {
        Effort::Thorough
    }
}

fn damage_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..1 + rng.below(8) {
        let len = bytes.len();
        match rng.below(4) {
            0 => bytes[rng.below(len)] = rng.next() as u8,
            1 => bytes[rng.below(len)] ^= 1 << rng.below(8),
            2 => bytes.truncate(64.min(len) + rng.below(len.saturating_sub(64))),
            _ => {
                let (from, to) = (rng.below(len), rng.below(len));
                let span = rng.below(64).min(len - from.max(to));
                bytes.copy_within(from..from + span, to);
            }
        }
    }
}

fn damage_pixels(grey: &mut image::GrayImage, rng: &mut Rng) {
    let (w, h) = grey.dimensions();
    for _ in 0..1 + rng.below(20) {
        let (x0, y0) = (rng.below(w as usize) as u32, rng.below(h as usize) as u32);
        let (x1, y1) = (
            (x0 + 1 + rng.below(40) as u32).min(w),
            (y0 + 1 + rng.below(40) as u32).min(h),
        );
        let level = [0, 255, rng.next() as u8][rng.below(3)];
        for y in y0..y1 {
            for x in x0..x1 {
                grey.put_pixel(x, y, image::Luma([level]));
            }
        }
    }
    if rng.below(4) == 0 {
        let (nw, nh) = (1 + rng.below(2 * w as usize), 1 + rng.below(2 * h as usize));
        *grey = image::imageops::resize(
            grey,
            nw as u32,
            nh as u32,
            image::imageops::FilterType::Nearest,
        );
    }
}

fn without_panic(what: &str, case: usize, run: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
        panic!("{what} case {case} panicked");
    }
}

#[test]
fn damaged_uploads_load_or_are_refused_without_panic() {
    let seeds: Vec<Vec<u8>> = common::zxing_images()
        .iter()
        .map(|(png, _)| std::fs::read(png).unwrap())
        .collect();
    let mut rng = Rng(0x5eed_0001);
    for case in 0..3000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        damage_bytes(&mut bytes, &mut rng);
        without_panic("upload", case, || {
            if let Ok(picture) = qr::load::load(&bytes) {
                decode(&picture, effort(case));
            }
        });
    }
}

#[test]
fn damaged_pixels_decode_without_panic() {
    let seeds: Vec<image::GrayImage> = common::zxing_images()
        .iter()
        .map(|(png, _)| {
            let grey = image::open(png).unwrap().to_luma8();
            let (w, h) = grey.dimensions();
            image::imageops::thumbnail(&grey, (w / 2).max(8), (h / 2).max(8))
        })
        .collect();
    let mut rng = Rng(0x5eed_0002);
    for case in 0..400 {
        let mut grey = seeds[rng.below(seeds.len())].clone();
        damage_pixels(&mut grey, &mut rng);
        without_panic("pixels", case, || {
            decode_grey(&grey, effort(case));
        });
    }
}
