//! Per-operation time of the QR code paths, natively:
//! `cargo run --release -p qr --example ops -- [TEXT] [IMAGE]` (IMAGE: the one to decode; the
//! generated PNG by default). The component runs the same code; `bench/qr.sh` compares both.

use std::time::Instant;

fn main() {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://example.com/some/path".into());
    let raw = qr::options::RawOptions::from_pairs(&[
        ("text".into(), text),
        ("ecc".into(), "H".into()),
        ("scale".into(), "10".into()),
        ("border".into(), "4".into()),
    ])
    .unwrap();
    let options = raw.validate().unwrap();
    let n = 2000;
    let t = Instant::now();
    let mut png = Vec::new();
    let mut matrix = std::time::Duration::ZERO;
    for _ in 0..n {
        let rendered = qr::encode::render(&options).unwrap();
        matrix += rendered.matrix_time;
        png = rendered.bytes;
    }
    let gen_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let matrix_us = matrix.as_secs_f64() * 1e6 / n as f64;
    let image = match std::env::args().nth(2) {
        Some(path) => std::fs::read(path).expect("reading the image"),
        None => png.clone(),
    };
    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        qr::load::load(&image).unwrap();
    }
    let load_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let picture = qr::load::load(&image).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(
            qr::decode::decode(&picture, qr::decode::Effort::Fast).len(),
            1
        );
    }
    let dec_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "native generate_us={gen_us:.1} (matrix_us={matrix_us:.1}) load_us={load_us:.1} decode_us={dec_us:.1} png_bytes={}",
        png.len()
    );
}
