//! Decoding quality on ZXing's black-box QR images at 0°, 90°, 180° and 270°, natively
//! (the same code runs in the component). The bar: ≥ 95% decoded exactly at every rotation.

mod common;

use common::{zxing_dir, zxing_images};

#[test]
fn zxing_blackbox_at_every_rotation() {
    let cases = zxing_images();
    assert_eq!(cases.len(), 97);
    let mut report = String::new();
    let mut worst = 1.0f64;
    for rotation in [0, 90, 180, 270] {
        let mut ok = 0;
        let mut missed = Vec::new();
        for (png, expected) in &cases {
            let bytes = std::fs::read(png).unwrap();
            // Upright, the image is decoded as loaded (1-bit PNGs take the bi-level path);
            // rotated, as grey levels.
            let picture = qr::load::load(&bytes).unwrap();
            let picture = match rotation {
                0 => picture,
                _ => {
                    let grey = picture.into_grey();
                    qr::load::Picture::upright(qr::load::Pixels::Grey(match rotation {
                        90 => image::imageops::rotate90(&grey),
                        180 => image::imageops::rotate180(&grey),
                        _ => image::imageops::rotate270(&grey),
                    }))
                }
            };
            let read = |effort| {
                let codes = std::panic::catch_unwind(|| qr::decode::decode(&picture, effort))
                    .unwrap_or_else(|_| {
                        panic!("decoder panicked on {} at {rotation}°", png.display())
                    });
                codes
                    .iter()
                    .any(|c| c.text.as_bytes() == expected.as_slice())
            };
            let fast = read(qr::decode::Effort::Fast);
            // Every stage runs when asked: it finds at least what the default finds.
            assert!(
                read(qr::decode::Effort::Thorough) || !fast,
                "thorough lost {} at {rotation}°",
                png.display()
            );
            if fast {
                ok += 1;
            } else {
                missed.push(png.strip_prefix(zxing_dir()).unwrap().display().to_string());
            }
        }
        let rate = ok as f64 / cases.len() as f64;
        worst = worst.min(rate);
        report += &format!(
            "{rotation:>3}°: {ok}/{} ({:.1}%) missed {missed:?}\n",
            cases.len(),
            rate * 100.0
        );
    }
    println!("{report}");
    assert!(worst >= 0.95, "below 95% at some rotation:\n{report}");
}
