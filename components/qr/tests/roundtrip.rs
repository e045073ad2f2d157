//! Generate → decode round trips: every ECC level, short and long texts, Unicode, up to version 40.

use qr::options::RawOptions;

fn generate(text: &str, ecc: &str, extra: &[(&str, &str)]) -> (Vec<u8>, i16) {
    let mut pairs = vec![
        ("text".to_string(), text.to_string()),
        ("ecc".to_string(), ecc.to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let options = RawOptions::from_pairs(&pairs).unwrap().validate().unwrap();
    let r = qr::encode::render(&options).unwrap();
    (r.bytes, r.version)
}

fn decode(png: &[u8]) -> Vec<qr::decode::Code> {
    qr::decode::decode(&qr::decode::load(png).unwrap())
}

#[test]
fn every_ecc_level_short_long_and_unicode() {
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    for ecc in ["L", "M", "Q", "H"] {
        for text in [
            "a",
            "https://example.com/?q=1&r=2",
            "二维码 — Ünïcödé ✓ 🚀",
            long.as_str(),
        ] {
            let (png, version) = generate(text, ecc, &[("scale", "4")]);
            let codes = decode(&png);
            assert_eq!(codes.len(), 1, "ecc {ecc}, {} bytes", text.len());
            assert_eq!(codes[0].text, text);
            assert_eq!(codes[0].version, Some(version as u32));
        }
    }
}

#[test]
fn version_40_round_trips() {
    // 2,953 bytes is the byte-mode capacity of version 40 at ECC L.
    let text: String = (0..2900)
        .map(|i| char::from(b'!' + (i % 90) as u8))
        .collect();
    let (png, version) = generate(&text, "L", &[("scale", "3"), ("border", "4")]);
    assert_eq!(version, 40);
    let codes = decode(&png);
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].text, text);
    assert_eq!(codes[0].version, Some(40));
}

#[test]
fn too_long_text_is_a_parameter_error() {
    let text = "x".repeat(3000);
    let options = RawOptions::from_pairs(&[("text".into(), text), ("ecc".into(), "H".into())])
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(qr::encode::render(&options).err().unwrap().param, "text");
}

#[test]
fn exact_size_colours_and_svg() {
    let (png, _) = generate(
        "size me",
        "M",
        &[("size", "500"), ("fg", "#102030"), ("bg", "#fafafa")],
    );
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (500, 500));
    assert_eq!(img.get_pixel(0, 0).0, [0xfa, 0xfa, 0xfa]);
    assert_eq!(decode(&png)[0].text, "size me");
    let (svg, _) = generate("svg", "M", &[("format", "svg")]);
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"));
}

#[test]
fn independent_encoder_output_decodes() {
    // Codes from the `qrcode` crate (another encoder) read back too.
    for ecc in [qrcode::EcLevel::L, qrcode::EcLevel::H] {
        let code = qrcode::QrCode::with_error_correction_level("cross-check 123", ecc).unwrap();
        let w = code.width() as u32;
        let border = 4;
        let scale = 5;
        let side = (w + 2 * border) * scale;
        let colors = code.to_colors();
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark = mx >= border
                && my >= border
                && mx < w + border
                && my < w + border
                && colors[((my - border) * w + mx - border) as usize] == qrcode::Color::Dark;
            image::Luma([if dark { 0 } else { 255 }])
        });
        let codes = qr::decode::decode_grey(&img);
        assert_eq!(codes[0].text, "cross-check 123");
    }
}

#[test]
fn hostile_inputs_do_not_panic() {
    let (png, _) = generate("truncate me", "M", &[]);
    for cut in [0, 8, 33, 100, png.len() / 2, png.len() - 1] {
        let _ = qr::decode::load(&png[..cut]).map(|g| qr::decode::decode(&g));
    }
    // A PNG header claiming 100000 × 100000 pixels is refused before decoding.
    let mut bomb = png.clone();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(matches!(
        qr::decode::load(&bomb),
        Err(qr::decode::LoadError::TooLarge { .. }) | Err(qr::decode::LoadError::Corrupt(_))
    ));
}
