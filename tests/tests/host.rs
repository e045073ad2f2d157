//! The host's promises, tested through the real binary: routing, limits, errors, operations.

use std::time::{Duration, Instant};

use atelier_e2e::{call, component, get, post, wait_for, Server};

fn manifest() -> String {
    format!(
        r#"
[[function]]
name = "hello"
component = {hello:?}
routes = [{{ path = "/hello" }}]
limits = {{ max_concurrency = 64, max_body_kb = 4 }}

[[function]]
name = "chaos"
component = {chaos:?}
routes = [{{ path = "/chaos" }}]
limits = {{ cpu_ms = 200, timeout_ms = 1500, memory_mb = 32, max_concurrency = 16, max_body_kb = 64 }}

[[function]]
name = "narrow"
component = {chaos:?}
routes = [{{ path = "/narrow" }}]
limits = {{ max_concurrency = 2 }}
"#,
        hello = component("hello"),
        chaos = component("chaos"),
    )
}

#[test]
fn hello_round_trip_and_unknown_route() {
    let server = Server::start(&manifest());
    let r = get(&server.url("/hello?name=Ada%20L"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, Ada L!\n");

    let r = get(&server.url("/nowhere"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    // Segment matching: /hellox is not /hello.
    assert_eq!(get(&server.url("/hellox")).status, 404);
}

#[test]
fn infinite_loop_is_stopped_while_others_keep_being_served() {
    let server = Server::start_alone(&manifest());
    // Warm both functions so the measured window holds no first-use cost.
    assert_eq!(get(&server.url("/hello")).status, 200);
    assert_eq!(get(&server.url("/chaos/echo")).status, 200);
    let spin_url = server.url("/chaos/spin");
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let url = spin_url.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = get(&url);
                (r, started.elapsed())
            })
        })
        .collect();
    // While two runaway guests occupy both cores, hello keeps answering, each reply quickly.
    let mut served = 0;
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_millis(150);
    while Instant::now() < deadline {
        let asked = Instant::now();
        let r = get(&server.url("/hello"));
        slowest = slowest.max(asked.elapsed());
        assert_eq!(r.status, 200);
        served += 1;
    }
    assert!(
        served >= 3 && slowest < Duration::from_millis(100),
        "{served} hello requests during the spin, slowest {slowest:?}"
    );
    for s in spinners {
        let (r, elapsed) = s.join().unwrap();
        assert_eq!(r.status, 504, "{}", r.text());
        let body = r.json();
        assert_eq!(body["error"]["code"], "cpu_deadline");
        assert_eq!(body["error"]["function"], "chaos");
        assert!(
            elapsed <= Duration::from_millis(200 + 50 + 100),
            "stopped after {elapsed:?}"
        );
    }
    // The host keeps serving afterwards.
    assert_eq!(get(&server.url("/hello")).status, 200);
}

#[test]
fn cpu_deadline_precision_single_request() {
    let server = Server::start_alone(&manifest());
    let started = Instant::now();
    let r = get(&server.url("/chaos/spin"));
    let elapsed = started.elapsed();
    assert_eq!(r.status, 504);
    assert!(
        elapsed >= Duration::from_millis(190),
        "stopped too early: {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_millis(250),
        "deadline 200 ms, stopped after {elapsed:?}"
    );
}

#[test]
fn memory_hog_traps_at_its_cap_and_rss_stays_bounded() {
    let server = Server::start(&manifest());
    for _ in 0..20 {
        let r = get(&server.url("/chaos/hog"));
        assert_eq!(r.status, 500, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "out_of_memory");
    }
    let rss_mib = server.rss_kib() / 1024;
    assert!(
        rss_mib < 300,
        "host RSS {rss_mib} MiB after 20 memory hogs capped at 32 MiB"
    );
    assert_eq!(get(&server.url("/hello")).status, 200);
}

/// Header fields live on the host's side of wasi:http, outside the guest's linear memory: a
/// guest that hoards them is stopped at its resource allowance (about its memory cap again).
#[test]
fn host_side_resources_are_capped_with_the_memory() {
    let server = Server::start(&manifest());
    assert_eq!(get(&server.url("/chaos/hoard?n=100")).text(), "100\n");
    let before = server.rss_kib();
    for _ in 0..4 {
        // 20,000 fields of 32 KiB would be 625 MiB.
        let r = get(&server.url("/chaos/hoard?n=20000"));
        assert_eq!(r.status, 500, "{}", r.text());
    }
    let grown_mib = server.rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "host RSS grew {grown_mib} MiB for a guest capped at 32 MiB"
    );
    assert_eq!(get(&server.url("/chaos/hoard?n=100")).text(), "100\n");
}

#[test]
fn trap_answers_json_500_naming_the_function() {
    let server = Server::start(&manifest());
    let r = get(&server.url("/chaos/panic"));
    assert_eq!(r.status, 500);
    let body = r.json();
    assert_eq!(body["error"]["code"], "trap");
    assert_eq!(body["error"]["function"], "chaos");
    assert_eq!(get(&server.url("/hello")).status, 200);
}

#[test]
fn wall_clock_timeout_answers_504() {
    let server = Server::start(&manifest());
    let started = Instant::now();
    let r = get(&server.url("/chaos/sleep?ms=5000"));
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["code"], "timeout");
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[test]
fn oversized_body_is_413() {
    let server = Server::start(&manifest());
    let r = post(
        &server.url("/hello"),
        "application/octet-stream",
        &vec![7u8; 5 * 1024],
        &[],
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "body_too_large");
    // Under the limit the body reaches the guest intact.
    let body: Vec<u8> = (0..60 * 1024).map(|i| (i % 251) as u8).collect();
    let r = post(
        &server.url("/chaos/echo"),
        "application/octet-stream",
        &body,
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
}

#[test]
fn oversized_chunked_body_is_413() {
    use std::io::{Read, Write};
    let server = Server::start(&manifest());
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..8 {
        req.extend_from_slice(b"400\r\n");
        req.extend_from_slice(&[b'a'; 0x400]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let _ = stream.write_all(&req);
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[test]
fn saturation_is_503_with_retry_after() {
    let server = Server::start(&manifest());
    let url = server.url("/narrow/sleep?ms=600");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    let replies: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(
        (1..=2).contains(&ok),
        "{ok} succeeded with max_concurrency = 2"
    );
    assert_eq!(ok + busy.len(), 6);
    for r in busy {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["error"]["code"], "overloaded");
    }
}

#[test]
fn ops_endpoints_and_metrics() {
    let server = Server::start(&manifest());
    assert_eq!(get(&server.url("/healthz")).status, 200);
    assert_eq!(get(&server.url("/readyz")).status, 200);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let head = call("HEAD", &server.url(path), &[], None);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
        call("POST", &server.url(path), &[], Some(b"x")).assert_not_allowed("GET, HEAD", path);
    }
    get(&server.url("/hello"));
    get(&server.url("/chaos/panic"));
    get(&server.url("/chaos/spin"));
    let metrics = get(&server.url("/metrics")).text();
    for needle in [
        r#"atelier_requests_total{function="hello",status="200"} 1"#,
        r#"atelier_requests_total{function="chaos",status="500"} 1"#,
        r#"atelier_traps_total{function="chaos"} 1"#,
        r#"atelier_timeouts_total{function="chaos"} 1"#,
        "atelier_request_duration_seconds_bucket",
        r#"atelier_instances_in_use{function="hello"} 0"#,
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}

#[test]
fn guest_output_is_logged_with_its_function() {
    let server = Server::start(&manifest());
    assert_eq!(get(&server.url("/chaos/log")).status, 200);
    wait_for("both lines in the log", Duration::from_secs(10), || {
        let log = server.log();
        log.contains("chaos says hello on stdout") && log.contains("chaos says hello on stderr")
    });
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("chaos says hello on stdout"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("function=chaos") && line.contains("stream=\"stdout\"")
            || line.contains("stream=stdout"),
        "{line}"
    );
    assert!(log.contains("chaos says hello on stderr"));
}

#[test]
fn sigterm_drains_in_flight_requests() {
    let mut server = Server::start(&manifest());
    let url = server.url("/chaos/sleep?ms=700");
    let inflight = std::thread::spawn(move || get(&url));
    let metrics = server.url("/metrics");
    wait_for("the request in flight", Duration::from_secs(10), || {
        get(&metrics)
            .text()
            .contains("atelier_instances_in_use{function=\"chaos\"} 1")
    });
    let code = server.terminate();
    let r = inflight.join().unwrap();
    assert_eq!(r.status, 200, "in-flight request lost: {}", r.text());
    assert_eq!(code, Some(0));
}

#[test]
fn restart_uses_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_path_buf();
    let mut first = Server::start_in(dir, &manifest(), &[]);
    first.terminate();
    let log = first.log();
    assert!(log.contains("Compiled"), "{log}");
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().unwrap());
    drop(first);
    assert_eq!(dir.path(), keep);
    let second = Server::start_in_alone(dir, &manifest());
    let ready = second.ready_after;
    assert!(second.log().contains("Hit"), "{}", second.log());
    assert!(ready < Duration::from_secs(1), "restart took {ready:?}");
}

#[test]
fn bad_manifest_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "[[function]]\nname = \"x\"\ncomponent = \"x.wasm\"\nroutes = [{ path = \"/x\" }]\nlimits = { memory_mb = \"lots\" }\n").unwrap();
    let failed = Server::start_expecting_failure(&path);
    assert_ne!(failed.code, Some(0));
    assert!(
        failed.stderr.contains(&format!("{}:5:", path.display())),
        "{}",
        failed.stderr
    );
}

#[test]
fn missing_component_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        "[[function]]\nname = \"ghost\"\ncomponent = \"nope.wasm\"\nroutes = [{ path = \"/g\" }]\n",
    )
    .unwrap();
    let failed = Server::start_expecting_failure(&path);
    assert_ne!(failed.code, Some(0));
    assert!(
        failed.stderr.contains("ghost") && failed.stderr.contains("nope.wasm"),
        "{}",
        failed.stderr
    );
}
