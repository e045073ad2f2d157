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
    qr::decode::decode(&qr::load::load(png).unwrap(), qr::decode::Effort::Fast)
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
        let codes = qr::decode::decode_grey(&img, qr::decode::Effort::Fast);
        assert_eq!(codes[0].text, "cross-check 123");
    }
}

#[test]
fn hostile_inputs_do_not_panic() {
    let (png, _) = generate("truncate me", "M", &[]);
    for cut in [0, 8, 33, 100, png.len() / 2, png.len() - 1] {
        let _ = qr::load::load(&png[..cut])
            .map(|g| qr::decode::decode(&g, qr::decode::Effort::Thorough));
    }
    // JPEGs (the luma fast path): truncated anywhere, or with their entropy-coded data garbled.
    let jpeg = code_in_photo("truncate me too", 200, (50, 40), (320, 280), 0);
    for cut in [2, 20, 200, jpeg.len() / 3, jpeg.len() / 2, jpeg.len() - 2] {
        let _ = qr::load::load(&jpeg[..cut])
            .map(|g| qr::decode::decode(&g, qr::decode::Effort::Thorough));
    }
    let mut garbled = jpeg.clone();
    for (i, byte) in garbled.iter_mut().enumerate().skip(jpeg.len() / 2) {
        *byte = (i as u8).wrapping_mul(31);
    }
    let _ = qr::load::load(&garbled).map(|g| qr::decode::decode(&g, qr::decode::Effort::Thorough));
    // A PNG header claiming 100000 × 100000 pixels is refused before decoding.
    let mut bomb = png.clone();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(matches!(
        qr::load::load(&bomb),
        Err(qr::load::LoadError::TooLarge { .. }) | Err(qr::load::LoadError::Corrupt(_))
    ));
}

/// A `side`-pixel code of `text` pasted at (`x`, `y`) into a `w`×`h` photo-like grey
/// background (a gradient with texture), as a JPEG. `speckle`: every how many pixels one of
/// the code's pixels is inverted (0: none), sensor noise that only averaging removes.
fn code_in_photo(
    text: &str,
    side: u32,
    (x, y): (u32, u32),
    (w, h): (u32, u32),
    speckle: u32,
) -> Vec<u8> {
    let (png, _) = generate(text, "M", &[("size", &side.to_string())]);
    let mut code = image::load_from_memory(&png).unwrap().to_luma8();
    if speckle > 0 {
        for (i, px) in code.pixels_mut().enumerate() {
            if (i as u32)
                .wrapping_mul(2_654_435_761)
                .is_multiple_of(speckle)
            {
                px.0[0] = 255 - px.0[0];
            }
        }
    }
    let mut photo = image::GrayImage::from_fn(w, h, |px, py| {
        let texture = ((px * 7 + py * 13) % 23) as u8;
        image::Luma([60 + (120 * px / w) as u8 + texture])
    });
    image::imageops::overlay(&mut photo, &code, i64::from(x), i64::from(y));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&photo)
        .unwrap();
    jpeg
}

#[test]
fn codes_in_large_photos_are_found_at_full_size_coordinates() {
    // A 12 MP photo is over the size where only the first stage runs at full size; a big code
    // and a small one (2 px per module) must both be found, corners in the photo's pixels.
    for (side, at) in [(600, (2900, 1700)), (60, (1000, 2500))] {
        let jpeg = code_in_photo("far away", side, at, (4000, 3000), 0);
        let codes = decode(&jpeg);
        assert_eq!(codes.len(), 1, "{side} px code");
        assert_eq!(codes[0].text, "far away");
        // The symbol's corners lie inside the pasted square (its quiet zone included).
        for [cx, cy] in codes[0].corners {
            let inside = |c: f32, lo: u32| c >= lo as f32 - 2.0 && c <= (lo + side) as f32 + 2.0;
            assert!(
                inside(cx, at.0) && inside(cy, at.1),
                "{side} px: corner ({cx}, {cy})"
            );
        }
    }
    // Speckled so that only the scaled-down copy reads it: its corners come back scaled up.
    let (side, at) = (1500, (1200, 700));
    let jpeg = code_in_photo("through the noise", side, at, (4000, 3000), 8);
    let codes = decode(&jpeg);
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].text, "through the noise");
    for [cx, cy] in codes[0].corners {
        let inside = |c: f32, lo: u32| c >= lo as f32 - 4.0 && c <= (lo + side) as f32 + 4.0;
        assert!(inside(cx, at.0) && inside(cy, at.1), "corner ({cx}, {cy})");
    }
    // Nothing to find: an empty answer, not an error.
    let (w, h) = (4000, 3000);
    let plain = image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x ^ y) % 200) as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&plain)
        .unwrap();
    assert!(decode(&jpeg).is_empty());
}

/// `jpeg` with an EXIF segment stating `orientation` (1–8) right after its start marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut exif = b"\xff\xe1\x00\x22Exif\0\0MM\x00\x2a\x00\x00\x00\x08".to_vec();
    exif.extend([
        0,
        1,
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    [&jpeg[..2], &exif, &jpeg[2..]].concat()
}

#[test]
fn corners_are_where_a_viewer_shows_them() {
    // Phones store photos sideways and say so in EXIF; corners and size must match the upright
    // photo, as a viewer (or a browser) shows it.
    let (w, h, side, (x, y)) = (900, 600, 200, (600, 300));
    let stored = code_in_photo("turn me", side, (x, y), (w, h), 0);
    // Where the pasted square is shown, per orientation: [left, top] of its displayed copy.
    let cases = [
        (1, (w, h), [x, y]),
        (3, (w, h), [w - x - side, h - y - side]),
        (6, (h, w), [h - y - side, x]),
        (8, (h, w), [y, w - x - side]),
        (2, (w, h), [w - x - side, y]),
    ];
    for (orientation, shown_size, [left, top]) in cases {
        let jpeg = with_exif_orientation(&stored, orientation);
        let picture = qr::load::load(&jpeg).unwrap();
        assert_eq!(
            picture.dimensions(),
            shown_size,
            "orientation {orientation}"
        );
        let codes = qr::decode::decode(&picture, qr::decode::Effort::Fast);
        assert_eq!(codes.len(), 1, "orientation {orientation}");
        assert_eq!(codes[0].text, "turn me");
        for [cx, cy] in codes[0].corners {
            let inside = |c: f32, lo: u32| c >= lo as f32 - 2.0 && c <= (lo + side) as f32 + 2.0;
            assert!(
                inside(cx, left) && inside(cy, top),
                "orientation {orientation}: corner ({cx}, {cy}) outside the square at ({left}, {top})"
            );
        }
    }
}

#[test]
fn rendered_codes_are_read_with_corners_on_the_symbol() {
    // 1-bit PNGs with wide modules are searched at reduced resolution first; the corners must
    // still be the symbol's, in the image's pixels. Narrow modules take the full-size path.
    for scale in [10u32, 7, 4, 1] {
        let scale_text = scale.to_string();
        let (png, version) = generate("corners", "Q", &[("scale", &scale_text), ("border", "4")]);
        let codes = decode(&png);
        assert_eq!(codes.len(), 1, "scale {scale}");
        assert_eq!(codes[0].text, "corners");
        let (lo, hi) = (4 * scale, (4 + 17 + 4 * version as u32) * scale);
        let expected = [[lo, lo], [hi, lo], [hi, hi], [lo, hi]];
        for ([x, y], [ex, ey]) in codes[0].corners.into_iter().zip(expected) {
            let near = |c: f32, e: u32| (c - e as f32).abs() <= 2.0 + scale as f32 / 4.0;
            assert!(
                near(x, ex) && near(y, ey),
                "scale {scale}: corner ({x}, {y}) for ({ex}, {ey})"
            );
        }
    }
}

#[test]
fn a_small_code_beside_a_big_one_is_found_too() {
    // A 1-bit image with a 10 px-module code and a 1 px-module code whose 21 rows fall between
    // rows 300 and 325: the big code alone would allow the reduced search, which cannot see
    // the small one, so the small one's rows must be among those sampled.
    let (w, h) = (1000u32, 800u32);
    let mut canvas = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    for (text, scale, at) in [("big one", "10", (20, 20)), ("small one", "1", (700, 297))] {
        let (png, _) = generate(text, "M", &[("scale", scale), ("border", "4")]);
        let code = image::load_from_memory(&png).unwrap().to_luma8();
        image::imageops::overlay(&mut canvas, &code, at.0, at.1);
    }
    let mut packed = vec![0u8; (w as usize).div_ceil(8) * h as usize];
    for (x, y, px) in canvas.enumerate_pixels() {
        if px.0[0] > 127 {
            packed[y as usize * (w as usize).div_ceil(8) + x as usize / 8] |= 0x80 >> (x % 8);
        }
    }
    let mut one_bit = Vec::new();
    let mut encoder = png::Encoder::new(&mut one_bit, w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&packed)
        .unwrap();
    let mut texts: Vec<String> = decode(&one_bit).into_iter().map(|c| c.text).collect();
    texts.sort();
    assert_eq!(texts, ["big one", "small one"]);
}
