//! Vision under concurrency, through the real server and real models: every vision endpoint
//! with every configured model answers 16 requests at once exactly as it answers one (a model
//! whose graph cannot run batches is not batched), and a fallback is never silent.

use std::sync::{Arc, Barrier};

use atelier_e2e::{component, get, post, repo_root, shared, Reply, Server};

const CONCURRENT: usize = 16;

fn function(name: &str, route: &str) -> String {
    format!(
        "[[function]]\nname = \"{name}\"\ncomponent = {:?}\nroutes = [{{ path = \"{route}\" }}]\ngrants = [\"atelier:vision\"]\nlimits = {{ memory_mb = 1024, cpu_ms = 60000, timeout_ms = 180000, max_body_kb = 20480 }}\n\n",
        component(name),
    )
}

fn manifest(models: &std::path::Path) -> String {
    manifest_with(models, "")
}

/// The manifest with more `[vision]` settings.
fn manifest_with(models: &std::path::Path, vision: &str) -> String {
    format!(
        "{}{}[vision]\nmodels = {models:?}\ndevice = \"cpu\"\n{vision}\n",
        function("idphoto", "/idphoto"),
        function("segment", "/segment"),
    )
}

fn portrait() -> Vec<u8> {
    std::fs::read(shared().join("testdata/portraits/fr_obama.jpg")).unwrap()
}

/// `CONCURRENT` POSTs of `body` to `url`, released together.
fn at_once(url: &str, body: &[u8]) -> Vec<Reply> {
    let start = Arc::new(Barrier::new(CONCURRENT));
    let handles: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (url, body, start) = (url.to_string(), body.to_vec(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                post(&url, "application/octet-stream", &body, &[])
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The value of the metric line that starts with `prefix` (`None` when absent).
fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn every_vision_endpoint_and_model_answers_concurrent_requests_as_it_answers_one() {
    let server = Server::start(&manifest(&repo_root().join("models/models.toml")));
    let listed = get(&server.url("/segment/models")).json();
    let models: Vec<String> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert!(
        models.contains(&"selfie".to_string()) && models.contains(&"u2netp".to_string()),
        "{models:?}"
    );
    let mut paths = vec!["/segment/faces".to_string(), "/idphoto".to_string()];
    for m in &models {
        paths.push(format!("/segment?model={m}"));
        paths.push(format!("/segment?model={m}&side=192"));
        paths.push(format!("/idphoto?model={m}"));
    }
    let body = portrait();
    for path in &paths {
        let url = server.url(path);
        let alone = post(&url, "application/octet-stream", &body, &[]);
        assert_eq!(alone.status, 200, "{path} alone: {}", alone.text());
        let replies = at_once(&url, &body);
        let failed: Vec<String> = replies
            .iter()
            .filter(|r| r.status != 200)
            .map(|r| format!("{} {}", r.status, r.text()))
            .collect();
        assert!(
            failed.is_empty(),
            "{path}: {} of {CONCURRENT} concurrent requests failed: {failed:?}",
            failed.len()
        );
        for r in &replies {
            assert!(
                r.body == alone.body,
                "{path}: a concurrent answer differs from the one computed alone"
            );
            assert_eq!(
                r.header("x-idphoto-placement"),
                alone.header("x-idphoto-placement"),
                "{path}: the concurrent request took another path"
            );
        }
        if path.starts_with("/idphoto") {
            let expected = if path.ends_with("model=selfie") {
                "direct"
            } else {
                "selfie"
            };
            assert_eq!(
                alone.header("x-idphoto-placement"),
                Some(expected),
                "{path}"
            );
        }
    }
    let metrics = get(&server.url("/metrics")).text();
    assert_eq!(
        metric(&metrics, r#"atelier_vision_batching{model="selfie"} "#),
        Some(0.0),
        "selfie reshapes to a batch of 1 inside: the probe must keep it unbatched"
    );
    assert_eq!(
        metric(&metrics, r#"atelier_vision_batching{model="u2netp"} "#),
        Some(1.0)
    );
    assert!(
        !metrics.contains("atelier_vision_errors_total{"),
        "no vision call failed:\n{metrics}"
    );
    assert!(
        !server.log().contains("vision inference failed"),
        "{}",
        server.log()
    );
}

/// Without the fast model the ID photo is still made, on the slower path, and says so: in
/// `x-idphoto-placement`, in the JSON answer and in `atelier_vision_errors_total`.
#[test]
fn a_fallback_is_named_in_the_answer_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(repo_root().join("models/models.toml")).unwrap();
    let mut without_selfie: toml::Table = toml::from_str(&full).unwrap();
    let models = without_selfie["model"].as_array_mut().unwrap();
    models.retain(|m| m["name"].as_str() != Some("selfie"));
    for m in models.iter_mut() {
        let file = repo_root().join("models").join(m["file"].as_str().unwrap());
        m.as_table_mut().unwrap().insert(
            "file".into(),
            toml::Value::String(file.display().to_string()),
        );
    }
    let path = dir.path().join("models.toml");
    std::fs::write(&path, toml::to_string(&without_selfie).unwrap()).unwrap();
    let server = Server::start(&manifest(&path));
    let url = server.url("/idphoto");
    let made = post(&url, "image/jpeg", &portrait(), &[]);
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(
        made.header("x-idphoto-placement"),
        Some("fallback:unknown_model")
    );
    let json = post(
        &url,
        "image/jpeg",
        &portrait(),
        &[("accept", "application/json")],
    )
    .json();
    assert_eq!(json["placement"], "fallback:unknown_model");
    let metrics = get(&server.url("/metrics")).text();
    assert_eq!(
        metric(
            &metrics,
            r#"atelier_vision_errors_total{model="unknown",reason="unknown_model"} "#
        ),
        Some(2.0),
        "{metrics}"
    );
}

/// A PNG of `side`×`side` 16-bit RGBA pixels, all the same: a few hundred KiB that decode to
/// `side² × 8` bytes.
fn bomb(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder.write_header().unwrap();
    let mut rows = writer.stream_writer().unwrap();
    let row = vec![0x7f; side as usize * 8];
    for _ in 0..side {
        std::io::Write::write_all(&mut rows, &row).unwrap();
    }
    rows.finish().unwrap();
    writer.finish().unwrap();
    out
}

/// 16 concurrent uploads that each decode to 560 MB of host memory (a 6320×6320 16-bit RGBA
/// PNG, under the 40 MP limit) share one decode budget (here 600 MiB): those that do not fit
/// are refused with 503 from their header, and the server's memory stays bounded.
#[test]
fn concurrent_decode_bombs_stay_within_the_decode_budget() {
    let server = Server::start(&manifest_with(
        &repo_root().join("models/models.toml"),
        "decode_budget_mb = 600",
    ));
    let body = bomb(6320);
    let before = server.rss_kib();
    let url = server.url("/segment/faces");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), server.child.id());
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
                let rss: u64 = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                peak = peak.max(rss);
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        })
    };
    let replies = at_once(&url, &body);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_growth_mib = sampler.join().unwrap().saturating_sub(before) >> 10;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(
        !refused.is_empty(),
        "16 bombs cannot all fit in 600 MiB: {statuses:?}"
    );
    assert!(statuses.contains(&200), "one fits at a time: {statuses:?}");
    for r in refused {
        assert_eq!(r.json()["error"]["code"], "overloaded");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    assert!(
        peak_growth_mib < 2048,
        "the server grew by {peak_growth_mib} MiB decoding 16 bombs at once"
    );
}
