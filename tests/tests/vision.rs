//! Vision host functions through the real server and the `segment` debug component:
//! fidelity against rembg, face counts, grants, and refusals.

use atelier_e2e::{call, component, get, post, shared, Server};

fn manifest(grant: bool) -> String {
    format!(
        "[[function]]\nname = \"segment\"\ncomponent = {:?}\nroutes = [{{ path = \"/segment\" }}]\n{}limits = {{ memory_mb = 512, cpu_ms = 10000, timeout_ms = 60000, max_body_kb = 20480 }}\n\n[vision]\nmodels = {:?}\ndevice = \"cpu\"\n",
        component("segment"),
        if grant { "grants = [\"atelier:vision\"]\n" } else { "" },
        atelier_e2e::repo_root().join("models/models.toml"),
    )
}

fn portrait(name: &str) -> Vec<u8> {
    std::fs::read(shared().join("testdata/portraits").join(name)).unwrap()
}

fn grey(png: &[u8]) -> image::GrayImage {
    image::load_from_memory(png).unwrap().to_luma8()
}

#[test]
fn matte_matches_rembg() {
    let server = Server::start(&manifest(true));
    for name in [
        "fr_obama.jpg",
        "fr_biden.jpg",
        "fr_two_people.jpg",
        "skimage_astronaut.png",
    ] {
        let r = post(
            &server.url("/segment"),
            "application/octet-stream",
            &portrait(name),
            &[],
        );
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let ours = grey(&r.body);
        let stem = name.rsplit_once('.').unwrap().0;
        let reference = grey(
            &std::fs::read(
                atelier_e2e::repo_root().join(format!("tests/fixtures/rembg/{stem}.png")),
            )
            .unwrap(),
        );
        assert_eq!(ours.dimensions(), reference.dimensions(), "{name}");
        let (mut inter, mut union, mut diff) = (0u64, 0u64, 0u64);
        for (a, b) in ours.pixels().zip(reference.pixels()) {
            let (a, b) = (a.0[0], b.0[0]);
            let (fa, fb) = (a >= 128, b >= 128);
            inter += u64::from(fa && fb);
            union += u64::from(fa || fb);
            diff += u64::from(a.abs_diff(b));
        }
        let iou = inter as f64 / union.max(1) as f64;
        let mean = diff as f64 / (ours.width() * ours.height()) as f64;
        println!("{name}: IoU {iou:.4}, mean |Δalpha| {mean:.3}/255");
        assert!(iou >= 0.99, "{name}: IoU {iou}");
        assert!(mean <= 2.0, "{name}: mean |Δalpha| {mean}");
    }
}

#[test]
fn a_smaller_model_side_gives_a_close_matte_of_the_same_size() {
    let server = Server::start(&manifest(true));
    let segment = |query: &str| {
        let r = post(
            &server.url(&format!("/segment{query}")),
            "image/jpeg",
            &portrait("fr_obama.jpg"),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        grey(&r.body)
    };
    let full = segment("");
    let iou = |side: u32| {
        let small = segment(&format!("?side={side}"));
        assert_eq!(small.dimensions(), (910, 1137));
        let (mut inter, mut union) = (0u64, 0u64);
        for (a, b) in full.pixels().zip(small.pixels()) {
            let (a, b) = (a.0[0] >= 128, b.0[0] >= 128);
            inter += u64::from(a && b);
            union += u64::from(a || b);
        }
        inter as f64 / union as f64
    };
    // 320 on the longer side is about the configured 320×320; smaller sides lose detail
    // (the whole photo at 192×224: IoU 0.93, the same as onnxruntime in Python gives).
    let (at_320, at_224) = (iou(320), iou(224));
    assert!(at_320 > 0.98, "IoU {at_320}");
    assert!(at_224 > 0.9 && at_224 < at_320, "IoU {at_224} vs {at_320}");
    let r = post(
        &server.url("/segment?side=9"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"]["param"].as_str()),
        (400, Some("side"))
    );
}

#[test]
fn faces_are_counted_and_fast_model_works() {
    let server = Server::start(&manifest(true));
    let faces = |name: &str| {
        post(
            &server.url("/segment/faces"),
            "image/jpeg",
            &portrait(name),
            &[],
        )
        .json()["faces"]
            .as_array()
            .unwrap()
            .clone()
    };
    let obama = faces("fr_obama.jpg");
    assert_eq!(obama.len(), 1);
    let b = &obama[0]["box"];
    assert!(
        (b[0].as_f64().unwrap() - 371.0).abs() < 10.0
            && (b[1].as_f64().unwrap() - 90.0).abs() < 10.0,
        "{b}"
    );
    assert_eq!(faces("fr_two_people.jpg").len(), 2);

    let r = post(
        &server.url("/segment?model=selfie"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[],
    );
    assert_eq!(r.status, 200);
    let timing = r.header("server-timing").unwrap_or_default();
    let stages: Vec<&str> = timing
        .split(", ")
        .filter_map(|m| m.split_once(";dur=").map(|(name, _)| name))
        .collect();
    assert_eq!(stages, ["decode", "segment", "encode"], "{timing}");
    let m = grey(&r.body);
    assert_eq!(m.dimensions(), (910, 1137));
    assert!(m.get_pixel(490, 300).0[0] > 200, "face is foreground");
    assert!(m.get_pixel(10, 10).0[0] < 30, "corner is background");
    assert_eq!(
        get(&server.url("/segment/models")).json()["models"][0],
        "u2netp"
    );
    let text = get(&server.url("/metrics")).text();
    assert!(
        text.contains(r#"atelier_vision_provider{model="u2netp",provider="cpu"} 1"#),
        "{text}"
    );
}

#[test]
fn bad_inputs_get_clear_errors() {
    let server = Server::start(&manifest(true));
    let r = post(
        &server.url("/segment?model=nope"),
        "image/jpeg",
        &portrait("fr_obama.jpg"),
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "unknown_model");
    let jpeg = portrait("fr_obama.jpg");
    let r = post(
        &server.url("/segment"),
        "image/jpeg",
        &jpeg[..jpeg.len() / 3],
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(&server.url("/segment"), "image/jpeg", b"not an image", &[]);
    assert_eq!(r.status, 400);
    // A bad `side` is named before the upload is decoded.
    let r = post(
        &server.url("/segment?side=9"),
        "image/jpeg",
        b"not an image",
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "bad_parameter");
    assert_eq!(r.json()["error"]["param"], "side");
    for (method, path, allow) in [
        ("GET", "/segment", "POST"),
        ("PUT", "/segment/faces", "POST"),
        ("POST", "/segment/models", "GET, HEAD"),
    ] {
        call(method, &server.url(path), &[], None)
            .assert_not_allowed(allow, &format!("{method} {path}"));
    }
    assert_eq!(
        post(&server.url("/segment/nope"), "image/jpeg", &jpeg, &[]).status,
        404
    );
}

#[test]
fn ungranted_import_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, manifest(false)).unwrap();
    let failed = Server::start_expecting_failure(&path);
    assert_ne!(failed.code, Some(0));
    assert!(
        failed.stderr.contains("atelier:vision/") && failed.stderr.contains("grant"),
        "{}",
        failed.stderr
    );
}

/// Whether this machine has an NVIDIA GPU (CI has none).
fn gpu_present() -> bool {
    std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// `device = "cuda"` either runs on CUDA (a GPU machine with ONNX Runtime's CUDA build) or stops
/// at startup with a message saying CUDA is unusable; it never falls back to CPU silently.
#[test]
fn cuda_is_used_or_refused_never_silently_replaced() {
    let text = manifest(true).replace("device = \"cpu\"", "device = \"cuda\"");
    if gpu_present() {
        let server = Server::start(&text);
        let metrics = get(&server.url("/metrics")).text();
        assert!(
            metrics.contains(r#"atelier_vision_provider{model="u2netp",provider="cuda"} 1"#),
            "{metrics}"
        );
        let r = post(
            &server.url("/segment"),
            "image/jpeg",
            &portrait("fr_obama.jpg"),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.text());
    } else {
        eprintln!("no GPU here: checking that device = \"cuda\" is refused at startup");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let failed = Server::start_expecting_failure(&path);
        assert_ne!(failed.code, Some(0));
        assert!(
            failed.stderr.contains("CUDA is not usable"),
            "{}",
            failed.stderr
        );
    }
}

/// Concurrent calls share batches (u2netp's fixed batch dimension is made symbolic at load),
/// and batching does not change any image's matte.
#[test]
fn concurrent_calls_are_batched_with_identical_results() {
    let server = Server::start(&manifest(true));
    let url = server.url("/segment");
    let alone = post(&url, "image/jpeg", &portrait("fr_obama.jpg"), &[]).body;
    let before = batches(&get(&server.url("/metrics")).text());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post(&url, "image/jpeg", &portrait("fr_obama.jpg"), &[]))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.body == alone,
            "a batched matte differs from the one computed alone"
        );
    }
    let runs = batches(&get(&server.url("/metrics")).text()) - before;
    assert!(
        runs < 4,
        "4 concurrent calls ran as {runs} separate batches"
    );
}

/// Batches u2netp has run, from the metrics text.
fn batches(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"atelier_vision_batch_size_count{model="u2netp"} "#))
        .map_or(0, |v| v.trim().parse().unwrap())
}
