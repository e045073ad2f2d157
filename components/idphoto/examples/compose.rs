//! Where an ID photo's CPU time goes outside the models, natively (the component runs the same
//! code in wasm): `cargo run --release -p idphoto --example compose -- PHOTO MATTE_PNG FACES_JSON
//! [SIZE] [LAYOUT]`, where MATTE_PNG is the server's `POST /segment` of PHOTO and FACES_JSON its
//! `POST /segment/faces` (`bench/idphoto-cpu.sh` fetches both). Prints the median over 20 runs of
//! each step: decode, placement, warp, foreground colour, composite, sheet, encode (and the same
//! pixels through `image`'s JPEG encoder, for the ratio), and the whole `photo::make`.

use std::time::{Duration, Instant};

use idphoto::geometry::{self, FaceBox, Matte};
use idphoto::options::Options;

fn median(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_secs_f64() * 1e3
}

fn time<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..20 {
        let t = Instant::now();
        last = Some(f());
        runs.push(t.elapsed());
    }
    (median(runs), last.expect("ran"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photo, matte, faces, rest @ ..] = args.as_slice() else {
        eprintln!("usage: compose PHOTO MATTE_PNG FACES_JSON [SIZE] [LAYOUT]");
        std::process::exit(2);
    };
    let size = rest.first().map_or("cn-1inch", String::as_str);
    let layout = rest.get(1).map_or("none", String::as_str);
    let bytes = std::fs::read(photo).expect("PHOTO");
    let (decode_ms, rgb) = time(|| image::load_from_memory(&bytes).expect("an image").to_rgb8());
    let alpha = image::open(matte).expect("MATTE_PNG").to_luma8();
    let faces: serde_json::Value =
        serde_json::from_slice(&std::fs::read(faces).expect("FACES_JSON")).expect("JSON");
    let f = &faces["faces"][0];
    let n = |v: &serde_json::Value| v.as_f64().expect("a number") as f32;
    let face = FaceBox {
        x: n(&f["box"][0]),
        y: n(&f["box"][1]),
        width: n(&f["box"][2]),
        height: n(&f["box"][3]),
        landmarks: std::array::from_fn(|i| [n(&f["landmarks"][i][0]), n(&f["landmarks"][i][1])]),
    };
    let fields = vec![
        ("size".to_string(), size.to_string()),
        ("layout".to_string(), layout.to_string()),
    ];
    let options = Options::parse(&fields).expect("options");
    let out = (options.preset.width_px, options.preset.height_px);
    let matte = Matte::whole(alpha.as_raw(), alpha.width(), alpha.height());
    let (place_ms, placement) =
        time(|| geometry::place(&face, &matte, &options.preset, out, 0.0, false).expect("placed"));
    let (warp_ms, layer) = time(|| {
        idphoto::matting::warp(&rgb, &matte, out.0, out.1, placement.scale, |x, y| {
            placement.to_source(x, y)
        })
        .expect("the photo is here")
    });
    let (fg_ms, fg) = time(|| idphoto::matting::foreground(&layer));
    let (composite_ms, photo) =
        time(|| idphoto::matting::composite(&layer, &fg, options.bg, options.render));
    let (sheet_ms, pixels) = if layout == "none" {
        (0.0, photo.clone())
    } else {
        let (ms, sheet) = time(|| {
            idphoto::sheet::layout(&photo, options.layout, options.dpi)
                .expect("fits")
                .0
        });
        (ms, sheet)
    };
    let (encode_ms, encoded) = time(|| {
        idphoto::encode::encode(
            &idphoto::encode::Pixels::Rgb(&pixels),
            options.format,
            options.quality,
            options.chroma,
            options.dpi,
            options.max_kb,
        )
        .expect("encoded")
    });
    // The same pixels through `image`'s own JPEG encoder, for the ratio (same run, same noise).
    let (image_encode_ms, image_encoded) = time(|| {
        let mut out = Vec::new();
        let mut encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, options.quality);
        encoder.set_pixel_density(image::codecs::jpeg::PixelDensity::dpi(300));
        image::ImageEncoder::write_image(
            encoder,
            pixels.as_raw(),
            pixels.width(),
            pixels.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encoded");
        out
    });
    let (make_ms, _) =
        time(|| idphoto::photo::make(&rgb, &matte, &face, &options, |_| None).expect("made"));
    println!(
        "{size} {layout}: decode {decode_ms:.1} ms | place {place_ms:.1} | warp {warp_ms:.1} | foreground {fg_ms:.1} | composite {composite_ms:.1} | sheet {sheet_ms:.1} | encode {encode_ms:.1} ({} KB; image's encoder {image_encode_ms:.1} ms, {} KB) | photo::make {make_ms:.1}",
        encoded.len() / 1024,
        image_encoded.len() / 1024
    );
}
