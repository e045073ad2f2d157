//! The ID-photo function through the real server, real models and real portraits: sizes, dpi,
//! backgrounds, size limits, head geometry re-measured on the output, refusals, sheets.

use atelier_e2e::{call, component, get, post, shared, Reply, Server};
use image::GenericImageView;

fn manifest() -> String {
    let limits =
        "limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }";
    format!(
        "[[function]]\nname = \"idphoto\"\ncomponent = {:?}\nroutes = [{{ path = \"/idphoto\" }}]\ngrants = [\"atelier:vision\"]\n{limits}\n\n\
         [[function]]\nname = \"segment\"\ncomponent = {:?}\nroutes = [{{ path = \"/segment\" }}]\ngrants = [\"atelier:vision\"]\n{limits}\n\n\
         [vision]\nmodels = {:?}\ndevice = \"cpu\"\n",
        component("idphoto"),
        component("segment"),
        atelier_e2e::repo_root().join("models/models.toml"),
    )
}

fn portrait(name: &str) -> Vec<u8> {
    std::fs::read(shared().join("testdata/portraits").join(name)).unwrap()
}

fn idphoto(server: &Server, query: &str, body: &[u8]) -> Reply {
    post(
        &server.url(&format!("/idphoto?{query}")),
        "application/octet-stream",
        body,
        &[],
    )
}

fn png_bytes(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Head height and top margin of a finished photo, measured again from scratch: the face
/// detector's box bottom is the chin, the matte's highest person pixel above the face the crown.
fn remeasure(server: &Server, photo: &[u8]) -> (f32, f32, serde_json::Value) {
    let faces = post(&server.url("/segment/faces"), "image/png", photo, &[]).json();
    let faces = faces["faces"].as_array().unwrap().clone();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let face = faces[0].clone();
    let b: Vec<f32> = face["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let matte = post(&server.url("/segment"), "image/png", photo, &[]);
    assert_eq!(matte.status, 200);
    let matte = image::load_from_memory(&matte.body).unwrap().to_luma8();
    let (w, h) = matte.dimensions();
    let cx = b[0] + b[2] / 2.0;
    let (x0, x1) = (
        (cx - 0.3 * b[2]).max(0.0) as u32,
        (cx + 0.3 * b[2]).min(w as f32 - 1.0) as u32,
    );
    let crown = (0..h)
        .find(|&y| (x0..=x1).any(|x| matte.get_pixel(x, y).0[0] >= 128))
        .unwrap() as f32;
    let chin = b[1] + b[3];
    ((chin - crown) / h as f32, crown / h as f32, face)
}

#[test]
fn sizes_lists_the_presets() {
    let server = Server::start(&manifest());
    let r = get(&server.url("/idphoto/sizes"));
    assert_eq!(r.status, 200);
    let v = r.json();
    let sizes = v["sizes"].as_array().unwrap();
    let find = |id: &str| sizes.iter().find(|s| s["id"] == id).unwrap().clone();
    let one = find("cn-1inch");
    assert_eq!(
        (one["px"]["width"].as_u64(), one["px"]["height"].as_u64()),
        (Some(295), Some(413))
    );
    assert_eq!(one["names"]["zh"], "一寸");
    let card = find("cn-id-card");
    assert_eq!(card["dpi"], 350);
    assert_eq!(
        (card["px"]["width"].as_u64(), card["px"]["height"].as_u64()),
        (Some(358), Some(441))
    );
    let us = find("us-passport");
    assert_eq!(us["head"]["head"]["min"].as_f64().unwrap(), 0.5);
    for id in [
        "cn-small-1inch",
        "cn-large-1inch",
        "cn-2inch",
        "cn-large-2inch",
        "cn-small-2inch",
        "cn-passport",
        "schengen",
        "uk",
        "korea-visa",
        "cet",
    ] {
        find(id);
    }
    assert!(sizes.len() >= 20, "{} sizes", sizes.len());
    for size in sizes {
        let backgrounds = size["backgrounds"].as_array().unwrap();
        assert!(!backgrounds.is_empty(), "{size}");
        assert_eq!(size["default_bg"], backgrounds[0]);
        assert!(size["source_url"].as_str().unwrap().starts_with("https://"));
    }
    assert_eq!(us["default_bg"], "white");
}

#[test]
fn a_standard_gets_its_own_background_and_a_forbidden_one_is_flagged() {
    let server = Server::start(&manifest());
    // Asked for nothing but the size, a U.S. passport photo is white (it came out blue before).
    let plain = idphoto(
        &server,
        "size=us-passport&format=png",
        &portrait("fr_obama.jpg"),
    );
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(plain.header("x-idphoto-warnings"), None);
    let img = image::load_from_memory(&plain.body).unwrap().to_rgb8();
    assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255]);
    // Blue is not accepted: made as asked, with a warning in the header and in JSON.
    let blue = idphoto(
        &server,
        "size=us-passport&bg=blue",
        &portrait("fr_obama.jpg"),
    );
    assert_eq!(blue.status, 200);
    assert_eq!(
        blue.header("x-idphoto-warnings"),
        Some("background_not_accepted")
    );
    let json = call(
        "POST",
        &server.url("/idphoto?size=france-id&bg=white"),
        &[("accept", "application/json")],
        Some(&portrait("fr_obama.jpg")),
    )
    .json();
    assert_eq!(
        json["warnings"],
        serde_json::json!(["background_not_accepted"])
    );
    let fine = call(
        "POST",
        &server.url("/idphoto?size=france-id"),
        &[("accept", "application/json")],
        Some(&portrait("fr_obama.jpg")),
    )
    .json();
    assert_eq!(fine["warnings"], serde_json::json!([]));
}

#[test]
fn presets_have_exact_size_dpi_background_and_head_geometry() {
    let server = Server::start(&manifest());
    let cases = [
        ("fr_obama.jpg", "cn-1inch", "jpeg"),
        ("fr_obama.jpg", "cn-id-card", "png"),
        ("fr_obama.jpg", "us-passport", "png"),
        ("fr_biden.jpg", "schengen", "jpeg"),
        ("fr_biden.jpg", "cn-2inch", "png"),
    ];
    for (name, size, format) in cases {
        let r = idphoto(
            &server,
            &format!("size={size}&format={format}&bg=white"),
            &portrait(name),
        );
        assert_eq!(r.status, 200, "{name} {size}: {}", r.text());
        let sizes = get(&server.url("/idphoto/sizes")).json();
        let preset = sizes["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == size)
            .unwrap()
            .clone();
        let img = image::load_from_memory(&r.body).unwrap();
        assert_eq!(
            (img.width() as u64, img.height() as u64),
            (
                preset["px"]["width"].as_u64().unwrap(),
                preset["px"]["height"].as_u64().unwrap()
            ),
            "{name} {size}"
        );
        let dpi = preset["dpi"].as_u64().unwrap() as u16;
        match format {
            "jpeg" => {
                assert_eq!(r.header("content-type"), Some("image/jpeg"));
                let at = r.body.windows(5).position(|w| w == b"JFIF\0").unwrap();
                assert_eq!(r.body[at + 7], 1, "density unit is dpi");
                assert_eq!(u16::from_be_bytes([r.body[at + 8], r.body[at + 9]]), dpi);
            }
            _ => {
                assert_eq!(r.header("content-type"), Some("image/png"));
                let at = r.body.windows(4).position(|w| w == b"pHYs").unwrap();
                let ppm = u32::from_be_bytes(r.body[at + 4..at + 8].try_into().unwrap());
                assert_eq!(ppm, (f64::from(dpi) / 0.0254).round() as u32);
            }
        }
        // The top corners are the requested background (exact in PNG, within JPEG's error).
        let tolerance = if format == "png" { 0 } else { 3 };
        for (x, y) in [(0, 0), (img.width() - 1, 0)] {
            let px = img.get_pixel(x, y).0;
            assert!(
                px[..3].iter().all(|&c| 255 - c <= tolerance),
                "{name} {size}: corner ({x},{y}) is {px:?}"
            );
        }
        // Head height and top margin re-measured on the output meet the preset's rule.
        let (head, top, _) = remeasure(&server, &png_bytes(&img));
        let rule = &preset["head"];
        let within = |v: f32, r: &serde_json::Value, slack: f32| {
            v >= r["min"].as_f64().unwrap() as f32 - slack
                && v <= r["max"].as_f64().unwrap() as f32 + slack
        };
        // Slack: one re-detection on a small image is a few pixels off in either direction.
        assert!(
            within(head, &rule["head"], 0.02),
            "{name} {size}: head {head} vs {rule}"
        );
        assert!(
            within(top, &rule["top"], 0.015),
            "{name} {size}: top {top} vs {rule}"
        );
    }
}

#[test]
fn json_variant_reports_face_and_geometry() {
    use base64::Engine;
    let server = Server::start(&manifest());
    let r = post(
        &server.url("/idphoto?size=cn-1inch&bg=%23ff0000"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[("accept", "application/json")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["image"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len() as u64, v["bytes"].as_u64().unwrap());
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (295, 413));
    assert_eq!(v["content_type"], "image/jpeg");
    assert_eq!(v["dpi"], 300);
    let corner = img.get_pixel(0, 0).0;
    assert!(
        corner[0] >= 250 && corner[1] <= 5 && corner[2] <= 5,
        "{corner:?}"
    );
    let face = &v["face"];
    let (x, w) = (face["x"].as_i64().unwrap(), face["width"].as_i64().unwrap());
    assert!(x > 0 && x + w < 295 && w > 80, "{face}");
    let g = &v["geometry"];
    let head = g["head_ratio"].as_f64().unwrap();
    assert!((0.52..=0.64).contains(&head), "{g}");
    // Every stage is timed, in order, with a positive duration.
    let timing = r.header("server-timing").unwrap_or_default();
    let stages: Vec<&str> = timing
        .split(", ")
        .filter_map(|m| {
            let (name, dur) = m.split_once(";dur=")?;
            (dur.parse::<f64>().ok()? > 0.0).then_some(name)
        })
        .collect();
    assert_eq!(
        stages,
        ["decode", "faces", "layout", "segment", "compose"],
        "{timing}"
    );
    // The host adds its own entry: the models' run time, which lies within the stages that
    // waited on them.
    let all = r.header_values("server-timing");
    let ms = |entries: &str, name: &str| -> Option<f64> {
        entries.split(", ").find_map(|m| {
            let (n, rest) = m.split_once(";dur=")?;
            (n == name).then(|| rest.split(';').next()?.parse().ok())?
        })
    };
    let infer = all
        .iter()
        .find_map(|v| ms(v, "infer"))
        .unwrap_or_else(|| panic!("no infer entry: {all:?}"));
    let waited: f64 = ["faces", "layout", "segment"]
        .iter()
        .map(|s| ms(timing, s).unwrap())
        .sum();
    assert!(infer > 0.0 && infer <= waited, "{all:?}");
}

#[test]
fn jpeg_colour_is_half_resolution_unless_full_is_asked() {
    let server = Server::start(&manifest());
    let photo = portrait("fr_obama.jpg");
    // The luma component's sampling factors in the JPEG frame header (SOF0).
    let factors = |query: &str| {
        let r = idphoto(&server, query, &photo);
        assert_eq!(r.status, 200, "{}", r.text());
        let at = r.body.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        (r.body[at + 11], r.body.len())
    };
    let (half, half_bytes) = factors("size=cn-1inch");
    let (full, full_bytes) = factors("size=cn-1inch&chroma=full");
    assert_eq!((half, full), (0x22, 0x11), "4:2:0 by default, 4:4:4 asked");
    assert!(half_bytes < full_bytes, "{half_bytes} vs {full_bytes}");
    let r = idphoto(&server, "chroma=quarter", &photo);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "chroma");
}

#[test]
fn max_kb_is_respected() {
    let server = Server::start(&manifest());
    let full = idphoto(
        &server,
        "size=cn-2inch&quality=100",
        &portrait("fr_obama.jpg"),
    );
    assert_eq!(full.status, 200);
    let limit = full.body.len() / 1024 / 3;
    let r = idphoto(
        &server,
        &format!("size=cn-2inch&quality=100&max_kb={limit}"),
        &portrait("fr_obama.jpg"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.body.len() <= limit * 1024,
        "{} > {limit} KiB",
        r.body.len()
    );
    image::load_from_memory(&r.body).unwrap();
    let r = idphoto(&server, "format=png&max_kb=5", &portrait("fr_obama.jpg"));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["code"], "cannot_meet_max_kb");
}

#[test]
fn refusals_are_clear() {
    let server = Server::start(&manifest());
    let r = idphoto(&server, "", &portrait("fr_two_people.jpg"));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "several_faces");

    // A small face on a large canvas: found, but too small to fill a 2-inch photo.
    let obama = image::load_from_memory(&portrait("fr_obama.jpg")).unwrap();
    let small = obama.resize(120, 150, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(480, 600, image::Rgb([200, 200, 200]));
    image::imageops::overlay(&mut canvas, &small.to_rgb8(), 180, 225);
    let r = idphoto(&server, "size=cn-2inch", &png_bytes(&canvas.into()));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        ["face_too_small", "no_face"].contains(&r.json()["error"]["code"].as_str().unwrap()),
        "{}",
        r.text()
    );

    // The top of the head cut off by the photo's edge.
    let faces = post(
        &server.url("/segment/faces"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[],
    )
    .json();
    let eye_y = faces["faces"][0]["landmarks"][0][1].as_f64().unwrap() as u32;
    let cut = obama.crop_imm(
        0,
        eye_y - 120,
        obama.width(),
        obama.height() - (eye_y - 120),
    );
    let r = idphoto(&server, "", &png_bytes(&cut));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "head_cut_off");

    // A landscape with nobody in it.
    let empty = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let r = idphoto(&server, "", &png_bytes(&empty.into()));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["code"], "no_face");
}

#[test]
fn bad_input_gets_the_right_status() {
    let server = Server::start(&manifest());
    let jpeg = portrait("fr_obama.jpg");
    let r = idphoto(&server, "", &jpeg[..jpeg.len() / 2]);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = idphoto(&server, "", b"this is not an image");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_image");
    let r = idphoto(&server, "", &[]);
    assert_eq!(r.status, 400);
    // A decompression bomb: a tiny PNG declaring 30000x30000 pixels.
    let bomb = png_bytes(&image::DynamicImage::ImageLuma8(image::GrayImage::new(
        1, 1,
    )));
    let mut bomb = bomb;
    bomb[16..20].copy_from_slice(&30000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&30000u32.to_be_bytes());
    let r = idphoto(&server, "", &bomb);
    assert!(r.status == 413 || r.status == 400, "{}", r.text());
    for (q, param) in [
        ("size=passport", "size"),
        ("bg=plaid", "bg"),
        ("layout=a3", "layout"),
        ("quality=101", "quality"),
        ("width_mm=35&height_mm=45", "dpi"),
    ] {
        let r = idphoto(&server, q, &jpeg);
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.json()["error"]["param"], param, "{q}");
    }
    get(&server.url("/idphoto")).assert_not_allowed("POST", "GET /idphoto");
    call("DELETE", &server.url("/idphoto/sizes"), &[], None)
        .assert_not_allowed("GET, HEAD", "DELETE /idphoto/sizes");
    let head = call("HEAD", &server.url("/idphoto/sizes"), &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert!(head.body.is_empty());
}

#[test]
fn matte_sheet_multipart_and_fast_model() {
    let server = Server::start(&manifest());
    let jpeg = portrait("fr_obama.jpg");
    // Transparent cut-out.
    let r = idphoto(&server, "matte=true", &jpeg);
    assert_eq!(r.status, 200, "{}", r.text());
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!(img.color(), image::ColorType::Rgba8);
    assert_eq!(img.get_pixel(0, 0).0[3], 0);
    assert!(img.get_pixel(147, 200).0[3] >= 250);
    // Print sheet on a 6-inch print.
    let r = idphoto(&server, "layout=6inch", &jpeg);
    assert_eq!(r.status, 200, "{}", r.text());
    let sheet = image::load_from_memory(&r.body).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (1200, 1800));
    assert_eq!(r.header("x-idphoto-copies"), Some("12"));
    // Multipart with form fields and the fast model.
    let boundary = "atelierboundary";
    let mut body = Vec::new();
    for (k, v) in [
        ("size", "cn-small-2inch"),
        ("model", "selfie"),
        ("bg", "white"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&jpeg);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = post(
        &server.url("/idphoto"),
        &format!("multipart/form-data; boundary={boundary}"),
        &body,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!((img.width(), img.height()), (413, 531));
}

/// Rotates an image about its centre by `deg` (bilinear, grey outside).
fn rotate(img: &image::RgbImage, deg: f32) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
        if sx < 0.0 || sy < 0.0 || sx >= w as f32 - 1.0 || sy >= h as f32 - 1.0 {
            return image::Rgb([128, 128, 128]);
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let p = |x: f32, y: f32| img.get_pixel(x as u32, y as u32).0.map(f32::from);
        let (a, b, c2, d) = (
            p(x0, y0),
            p(x0 + 1.0, y0),
            p(x0, y0 + 1.0),
            p(x0 + 1.0, y0 + 1.0),
        );
        image::Rgb(std::array::from_fn(|i| {
            (a[i] * (1.0 - fx) * (1.0 - fy)
                + b[i] * fx * (1.0 - fy)
                + c2[i] * (1.0 - fx) * fy
                + d[i] * fx * fy) as u8
        }))
    })
}

#[test]
fn tilted_heads_are_levelled_and_exif_orientation_honoured() {
    let server = Server::start(&manifest());
    let obama = image::load_from_memory(&portrait("fr_obama.jpg"))
        .unwrap()
        .to_rgb8();
    let eye_angle = |face: &serde_json::Value| {
        let l = &face["landmarks"];
        let (dx, dy) = (
            l[1][0].as_f64().unwrap() - l[0][0].as_f64().unwrap(),
            l[1][1].as_f64().unwrap() - l[0][1].as_f64().unwrap(),
        );
        dy.atan2(dx).to_degrees()
    };
    // The detector's landmarks carry a bias of a few degrees on small images: compare with
    // the same measurement on the photo made from the upright original.
    let upright = idphoto(&server, "format=png", &png_bytes(&obama.clone().into()));
    assert_eq!(upright.status, 200, "{}", upright.text());
    let reference = eye_angle(&remeasure(&server, &upright.body).2);
    let tilted = png_bytes(&rotate(&obama, 9.0).into());
    let before = post(&server.url("/segment/faces"), "image/png", &tilted, &[]).json();
    let before = eye_angle(&before["faces"][0]);
    assert!(
        before.abs() > 3.0,
        "the test image is not tilted: {before}°"
    );
    let r = idphoto(&server, "format=png", &tilted);
    assert_eq!(r.status, 200, "{}", r.text());
    let tilt: f64 = r.header("x-idphoto-tilt-deg").unwrap().parse().unwrap();
    // Landmarks understate a tilt; the function corrects a residual after a first levelling.
    assert!(
        tilt.signum() == before.signum() && tilt.abs() >= before.abs() - 0.5,
        "levelled by {tilt}° for a {before}° tilt"
    );
    let (_, _, face) = remeasure(&server, &r.body);
    let after = eye_angle(&face);
    assert!(
        (after - reference).abs() < 1.5,
        "eyes at {after}° after levelling, {reference}° from the upright photo"
    );

    // The photo stored sideways with EXIF orientation 6 (rotate 90° clockwise to view).
    let sideways = image::DynamicImage::ImageRgb8(image::imageops::rotate270(&obama));
    let mut jpeg = Vec::new();
    sideways
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    // APP1 Exif: big-endian TIFF, one IFD entry, Orientation (0x0112) SHORT = 6.
    let tiff: &[u8] = &[
        b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
    ];
    let mut app1 = vec![0xff, 0xe1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(tiff);
    jpeg.splice(2..2, app1);
    let r = idphoto(&server, "", &jpeg);
    assert_eq!(r.status, 200, "{}", r.text());
    let tilt: f32 = r.header("x-idphoto-tilt-deg").unwrap().parse().unwrap();
    assert!(tilt.abs() < 3.0, "orientation not applied: tilt {tilt}");
}

fn segmented(r: &Reply) -> [u32; 4] {
    let v: Vec<u32> = r
        .header("x-idphoto-segmented")
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

#[test]
fn only_the_region_the_crop_reads_is_segmented() {
    let server = Server::start(&manifest());
    // A small portrait in a large photo: only the region around the head is segmented, and the
    // head still lands where the preset says.
    let small = image::load_from_memory(&portrait("fr_obama.jpg"))
        .unwrap()
        .resize(455, 569, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut wide = image::RgbImage::from_pixel(1800, 1400, image::Rgb([200, 200, 200]));
    image::imageops::replace(&mut wide, &small, 700, 831);
    let r = idphoto(
        &server,
        "size=cn-1inch&format=png",
        &png_bytes(&image::DynamicImage::ImageRgb8(wide)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let [x, y, w, h] = segmented(&r);
    assert!(x > 0 && y > 0 && w < 900 && h < 1000, "{x},{y},{w},{h}");
    let img = image::load_from_memory(&r.body).unwrap();
    let (head, top, _) = remeasure(&server, &png_bytes(&img));
    assert!((0.50..=0.66).contains(&head), "head {head}");
    assert!((0.045..=0.135).contains(&top), "top {top}");
    // The region follows the crop: a very wide custom size segments a band across the whole
    // width; cn-1inch a part of the photo around the head.
    let r = idphoto(
        &server,
        "width_px=1200&height_px=300",
        &portrait("fr_obama.jpg"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let [x, _, w, h] = segmented(&r);
    assert_eq!((x, w), (0, 910));
    assert!(h < 1137, "{h}");
    let r = idphoto(&server, "size=cn-1inch", &portrait("fr_obama.jpg"));
    let [_, _, w, h] = segmented(&r);
    assert!(w < 700 && h < 800, "{w}x{h}");
}

/// Mean colour of a 24×24 patch at the centre of the face the function reports.
fn face_colour(r: &Reply) -> [f32; 3] {
    assert_eq!(r.status, 200, "{}", r.text());
    let b: Vec<u32> = r
        .header("x-idphoto-face")
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let img = image::load_from_memory(&r.body).unwrap().to_rgb8();
    let (cx, cy) = (b[0] + b[2] / 2, b[1] + b[3] / 2);
    let mut sum = [0f32; 3];
    for y in cy - 12..cy + 12 {
        for x in cx - 12..cx + 12 {
            for (s, v) in sum.iter_mut().zip(img.get_pixel(x, y).0) {
                *s += f32::from(v) / 576.0;
            }
        }
    }
    sum
}

#[test]
fn wide_gamut_photos_come_out_in_srgb() {
    use moxcms::{ColorProfile, Layout, TransformOptions};
    let server = Server::start(&manifest());
    let original = image::load_from_memory(&portrait("fr_obama.jpg"))
        .unwrap()
        .to_rgb8();
    // The same photo as a phone would store it: Display P3 numbers with a P3 profile.
    let to_p3 = ColorProfile::new_srgb()
        .create_transform_8bit(
            Layout::Rgb,
            &ColorProfile::new_display_p3(),
            Layout::Rgb,
            TransformOptions::default(),
        )
        .unwrap();
    let mut p3 = original.clone();
    to_p3.transform(original.as_raw(), &mut p3).unwrap();
    let jpeg = |icc: Option<Vec<u8>>| {
        use image::ImageEncoder;
        let mut out = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        if let Some(icc) = icc {
            encoder.set_icc_profile(icc).unwrap();
        }
        encoder
            .write_image(
                p3.as_raw(),
                p3.width(),
                p3.height(),
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    };
    let query = "size=cn-1inch&format=png";
    let reference = face_colour(&idphoto(&server, query, &portrait("fr_obama.jpg")));
    let tagged = face_colour(&idphoto(
        &server,
        query,
        &jpeg(Some(ColorProfile::new_display_p3().encode().unwrap())),
    ));
    let untagged = face_colour(&idphoto(&server, query, &jpeg(None)));
    let off = |c: [f32; 3]| {
        (0..3)
            .map(|i| (c[i] - reference[i]).abs())
            .fold(0f32, f32::max)
    };
    assert!(off(tagged) <= 3.0, "P3 photo: {tagged:?} vs {reference:?}");
    // Read as sRGB numbers, the same pixels are visibly off: the test can tell.
    assert!(
        off(untagged) >= 6.0,
        "untagged: {untagged:?} vs {reference:?}"
    );
}

#[test]
fn hair_touching_the_top_edge_is_made_with_a_warning_unless_strict() {
    let server = Server::start(&manifest());
    let obama = image::load_from_memory(&portrait("fr_obama.jpg")).unwrap();
    let (_, crown_ratio, _) = remeasure(&server, &png_bytes(&obama));
    let crown = (crown_ratio * obama.height() as f32) as u32;
    // The photo cut 3 px into the hair: a few pixels of a 390 px head are missing.
    let cut = obama.crop_imm(0, crown + 3, obama.width(), obama.height() - crown - 3);
    let photo = png_bytes(&cut);
    let made = idphoto(&server, "size=cn-1inch&format=png", &photo);
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(made.header("x-idphoto-warnings"), Some("crown_touches_top"));
    // The geometry holds on the output, measured again: background above the hair.
    let (head, top, _) = remeasure(&server, &made.body);
    let rule = (0.52..=0.64, 0.06..=0.12);
    assert!(
        rule.0.contains(&head) && rule.1.contains(&top),
        "head {head}, top {top}"
    );
    let strict = idphoto(&server, "size=cn-1inch&strict=true", &photo);
    assert_eq!(strict.status, 422);
    assert_eq!(strict.json()["error"]["code"], "head_cut_off");
}

/// A painting for the wall: `name` scaled to `height`, its colours flattened to 8 levels a
/// channel after a blur (brush strokes, roughly), in a 12 px brown frame.
fn painting(name: &str, height: u32) -> image::RgbImage {
    let picture = image::load_from_memory(&portrait(name)).unwrap().to_rgb8();
    let width = picture.width() * height / picture.height();
    let picture = image::imageops::resize(
        &picture,
        width,
        height,
        image::imageops::FilterType::Lanczos3,
    );
    let mut picture = image::imageops::blur(&picture, 1.5);
    for p in picture.pixels_mut() {
        p.0 = p.0.map(|c| (c & 0b1110_0000) | 0b1_0000);
    }
    let mut framed = image::RgbImage::from_pixel(width + 24, height + 24, image::Rgb([92, 64, 40]));
    image::imageops::replace(&mut framed, &picture, 12, 12);
    framed
}

#[test]
fn faces_on_paintings_behind_the_person_are_not_people() {
    let server = Server::start(&manifest());
    // fr_obama cut out by the server's matte and put in front of a wall with two paintings of
    // people, each face about half the size of his (it was refused as several_faces).
    let obama = image::load_from_memory(&portrait("fr_obama.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = obama.dimensions();
    let matte = post(
        &server.url("/segment"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[],
    );
    let matte = image::load_from_memory(&matte.body).unwrap().to_luma8();
    let mut wall = image::RgbImage::from_pixel(w, h, image::Rgb([214, 204, 186]));
    let left = painting("hivision_test4.jpg", 460);
    let right = painting("hivision_test3.jpg", 460);
    image::imageops::replace(&mut wall, &left, 10, 40);
    image::imageops::replace(&mut wall, &right, i64::from(w - right.width() - 10), 60);
    let composite = image::RgbImage::from_fn(w, h, |x, y| {
        let a = f32::from(matte.get_pixel(x, y).0[0]) / 255.0;
        let (p, b) = (obama.get_pixel(x, y).0, wall.get_pixel(x, y).0);
        image::Rgb(std::array::from_fn(|i| {
            (a * f32::from(p[i]) + (1.0 - a) * f32::from(b[i])) as u8
        }))
    });
    let photo = png_bytes(&composite.into());
    let faces = post(&server.url("/segment/faces"), "image/png", &photo, &[]).json();
    let heights: Vec<f64> = faces["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["box"][3].as_f64().unwrap())
        .collect();
    assert!(
        heights.iter().filter(|&&fh| fh > 0.4 * heights[0]).count() >= 2,
        "the paintings' faces must be as large as a person's for this test: {heights:?}"
    );
    let made = idphoto(&server, "size=cn-1inch&format=png", &photo);
    assert_eq!(made.status, 200, "{}", made.text());
    let (head, top, _) = remeasure(&server, &made.body);
    assert!(
        (0.52..=0.64).contains(&head) && (0.06..=0.12).contains(&top),
        "head {head}, top {top}"
    );
    // Two real people are still two.
    let two = idphoto(&server, "", &portrait("fr_two_people.jpg"));
    assert_eq!(two.status, 422);
    assert_eq!(two.json()["error"]["code"], "several_faces");
}

/// Share of the middle half of the photo's bottom row that is the background colour `bg`.
fn background_at_the_bottom(photo: &[u8], bg: [u8; 3]) -> f32 {
    let img = image::load_from_memory(photo).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let middle = w / 4..3 * w / 4;
    let bgish = middle
        .clone()
        .filter(|&x| {
            let p = img.get_pixel(x, h - 1).0;
            (0..3).all(|i| p[i].abs_diff(bg[i]) < 12)
        })
        .count();
    bgish as f32 / middle.len() as f32
}

#[test]
fn the_body_continues_below_a_photo_cut_short_also_when_levelled() {
    let server = Server::start(&manifest());
    let chin_and_height = |photo: &[u8]| {
        let faces = post(&server.url("/segment/faces"), "image/png", photo, &[]).json();
        let b = &faces["faces"][0]["box"];
        let (y, h) = (b[1].as_f64().unwrap(), b[3].as_f64().unwrap());
        ((y + h) as u32, h as u32)
    };
    let obama = image::load_from_memory(&portrait("fr_obama.jpg"))
        .unwrap()
        .to_rgb8();
    let upright = png_bytes(&obama.clone().into());
    let tilted = png_bytes(&rotate(&obama, 8.0).into());
    for (what, photo) in [("upright", upright), ("tilted 8°", tilted)] {
        // Cut just below the chin: the crop's lower third lies beyond the photo.
        let (chin, face) = chin_and_height(&photo);
        let img = image::load_from_memory(&photo).unwrap();
        let cut = img.crop_imm(0, 0, img.width(), chin + face / 7);
        let made = idphoto(
            &server,
            "size=cn-1inch&format=png&bg=ff0000",
            &png_bytes(&cut),
        );
        assert_eq!(made.status, 200, "{what}: {}", made.text());
        let share = background_at_the_bottom(&made.body, [255, 0, 0]);
        assert!(
            share < 0.2,
            "{what}: {:.0}% of the bottom row's middle is background: the photo's edge shows",
            share * 100.0
        );
        // No wall around the head: beside the top of the head, farther than 0.6 face widths
        // from its middle, the output is background (the detailed model once took the whole
        // tight crop for the person here, and a rectangle of wall showed).
        let face: Vec<f64> = made
            .header("x-idphoto-face")
            .unwrap()
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        let out = image::load_from_memory(&made.body).unwrap().to_rgb8();
        let top: f64 = made.header("x-idphoto-top-ratio").unwrap().parse().unwrap();
        let crown = top * f64::from(out.height());
        let (middle, reach) = (face[0] + face[2] / 2.0, 0.6 * face[2]);
        let (mut zone, mut wall) = (0, 0);
        for y in (crown + 5.0) as u32..(crown + 0.25 * face[3]) as u32 {
            for x in 0..out.width() {
                if (f64::from(x) - middle).abs() > reach {
                    zone += 1;
                    let p = out.get_pixel(x, y).0;
                    wall += u32::from(p[0] < 200 || p[1] > 60 || p[2] > 60);
                }
            }
        }
        assert!(
            zone > 500 && wall * 50 < zone,
            "{what}: {wall} of {zone} pixels beside the head are not background: the wall shows ({:?})",
            made.header("x-idphoto-placement")
        );
    }
}

#[test]
fn every_portrait_of_the_test_set_makes_a_photo_that_keeps_the_rules() {
    let server = Server::start(&manifest());
    // Long hair to the edges, a child before a busy shelf, arms raised, cap and sunglasses,
    // an astronaut: each made, the head and top margin measured again on the result.
    for name in [
        "hivision_test1.jpg",
        "hivision_test2.jpg",
        "hivision_test3.jpg",
        "hivision_test4.jpg",
        "rembg_girl-1.jpg",
        "rembg_girl-3.jpg",
        "skimage_astronaut.png",
    ] {
        let made = idphoto(&server, "size=cn-1inch&format=png", &portrait(name));
        assert_eq!(made.status, 200, "{name}: {}", made.text());
        let (head, top, _) = remeasure(&server, &made.body);
        assert!(
            (0.50..=0.66).contains(&head) && (0.04..=0.14).contains(&top),
            "{name}: head {head}, top {top} (rule 0.52-0.64, 0.06-0.12)"
        );
    }
    // Seen from behind: no face, rightly.
    let back = idphoto(&server, "", &portrait("rembg_girl-2.jpg"));
    assert_eq!(back.status, 422);
    assert_eq!(back.json()["error"]["code"], "no_face");
}
