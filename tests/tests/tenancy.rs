//! Tenants through the real server: isolation of keys and functions, grants checked at deploy,
//! rate limits, persistence across restarts, rollback, and hot swaps under load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use atelier_e2e::admin::{admin, bearer, deploy, hashed, KEY_A, KEY_B, OPERATOR};
use atelier_e2e::{call, component, Reply, Server};
use sha2::Digest;

fn manifest() -> String {
    format!(
        r#"
[[function]]
name = "hello"
component = {hello:?}
routes = [{{ path = "/hello" }}]

[admin]
token = "{operator}"
data_dir = "data"

[[tenant]]
id = "a"
hosts = ["a.test"]
api_keys = ["{key_a}"]
outbound = ["127.0.0.1:*"]
quotas = {{ requests_per_minute = 600000, burst = 100000, max_concurrency = 16, memory_mb = 64, cpu_ms = 500 }}

[[tenant]]
id = "b"
hosts = ["b.test"]
api_keys = ["{key_b}"]
outbound = ["localhost:*", "127.0.0.1"]
quotas = {{ requests_per_minute = 60, burst = 3, max_concurrency = 4, memory_mb = 32 }}
"#,
        hello = component("hello"),
        operator = hashed(OPERATOR),
        key_a = hashed(KEY_A),
        key_b = hashed(KEY_B),
    )
}

fn invoke(server: &Server, host: &str, path: &str, token: Option<&str>) -> Reply {
    let auth = token.map(bearer);
    let mut headers = vec![("host", host)];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    call("GET", &server.url(path), &headers, None)
}

fn hello() -> Vec<u8> {
    std::fs::read(component("hello")).unwrap()
}

#[test]
fn tenants_cannot_reach_each_other() {
    let server = Server::start(&manifest());
    let r = deploy(&server, KEY_A, "a", "greet", "route=/greet", &hello());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 1);

    // Tenant A calls its own function; B's key, no key and a wrong host are all refused.
    let r = invoke(&server, "a.test", "/greet?name=A", Some(KEY_A));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "Hello, A!\n");
    let mut refused = 0;
    let attempts = [
        invoke(&server, "a.test", "/greet", Some(KEY_B)).status,
        invoke(&server, "a.test", "/greet", None).status,
        invoke(&server, "b.test", "/greet", Some(KEY_A)).status,
        invoke(&server, "b.test", "/greet", Some(KEY_B)).status,
        deploy(&server, KEY_B, "a", "greet", "route=/greet", &hello()).status,
        deploy(&server, KEY_B, "a", "other", "route=/other", &hello()).status,
        admin(&server, "GET", KEY_B, "/tenants/a/functions").status,
        admin(&server, "GET", KEY_B, "/tenants/a/functions/greet").status,
        admin(&server, "DELETE", KEY_B, "/tenants/a/functions/greet").status,
        admin(
            &server,
            "POST",
            KEY_B,
            "/tenants/a/functions/greet/rollback",
        )
        .status,
    ];
    for status in attempts {
        assert!([401, 403, 404].contains(&status), "{attempts:?}");
        refused += 1;
    }
    assert_eq!(refused, attempts.len());
    // B sees only itself; the operator sees both.
    let r = admin(&server, "GET", KEY_B, "/tenants").json();
    assert_eq!(r["tenants"].as_array().unwrap().len(), 1);
    let r = admin(&server, "GET", OPERATOR, "/tenants").json();
    assert_eq!(r["tenants"].as_array().unwrap().len(), 2);
    let r = admin(&server, "GET", OPERATOR, "/tenants/a/functions").json();
    assert_eq!(r["functions"][0]["name"], "greet");
    assert_eq!(admin(&server, "GET", "wrong", "/tenants").status, 401);
    // Who asks is checked first; then a known path with the wrong method is 405 with `Allow`.
    assert_eq!(admin(&server, "POST", "wrong", "/tenants").status, 401);
    for (method, path, allow) in [
        ("POST", "/tenants", "GET"),
        ("PUT", "/tenants/a/functions", "GET"),
        ("PATCH", "/tenants/a/functions/greet", "GET, PUT, DELETE"),
        ("GET", "/tenants/a/functions/greet/rollback", "POST"),
    ] {
        admin(&server, method, OPERATOR, path)
            .assert_not_allowed(allow, &format!("{method} {path}"));
    }
    assert_eq!(
        admin(&server, "GET", OPERATOR, "/tenants/a/nope").status,
        404
    );
    // A public function is callable without a key, and still only on its tenant's host.
    let r = deploy(
        &server,
        KEY_B,
        "b",
        "pub",
        "route=/pub&public=true",
        &hello(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(invoke(&server, "b.test", "/pub", None).status, 200);
    assert_eq!(invoke(&server, "a.test", "/pub", None).status, 404);
}

#[test]
fn deploy_checks_grants_component_and_quotas() {
    let server = Server::start(&manifest());
    // segment imports atelier:vision, which tenant A was not granted.
    let segment = std::fs::read(component("segment")).unwrap();
    let r = deploy(&server, KEY_A, "a", "seg", "route=/seg", &segment);
    assert_eq!(r.status, 403, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "not_granted");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("atelier:vision/"), "{message}");

    let r = deploy(
        &server,
        KEY_A,
        "a",
        "junk",
        "route=/junk",
        b"not a component",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_component");
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "big",
        "route=/big&memory_mb=512",
        &hello(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "quota_exceeded");
    let r = deploy(&server, KEY_A, "a", "ops", "route=/metrics", &hello());
    assert_eq!(r.status, 400);
    let r = deploy(&server, KEY_A, "a", "x", "route=/x&colour=red", &hello());
    assert_eq!(r.json()["error"]["code"], "bad_parameter");

    // A failed deploy leaves the old version serving.
    assert_eq!(
        deploy(&server, KEY_A, "a", "greet", "route=/greet", &hello()).status,
        200
    );
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "greet",
        "route=/greet",
        b"\0asm broken",
    );
    assert_eq!(r.status, 400);
    assert_eq!(invoke(&server, "a.test", "/greet", Some(KEY_A)).status, 200);
    assert_eq!(
        admin(&server, "GET", KEY_A, "/tenants/a/functions/greet").json()["version"],
        1
    );
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let server = Server::start(&manifest());
    assert_eq!(
        deploy(&server, KEY_B, "b", "greet", "route=/greet", &hello()).status,
        200
    );
    // Burst 3 at 60 per minute: the fourth request in a row is refused.
    let statuses: Vec<u16> = (0..5)
        .map(|_| invoke(&server, "b.test", "/greet", Some(KEY_B)).status)
        .collect();
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    let r = invoke(&server, "b.test", "/greet", Some(KEY_B));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
}

#[test]
fn deployments_survive_a_restart_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_path_buf();
    let mut first = Server::start_in(dir, &manifest(), &[]);
    assert_eq!(
        deploy(&first, KEY_A, "a", "greet", "route=/greet", &hello()).status,
        200
    );
    // Version 2 is a different component on the same route.
    let chaos = std::fs::read(component("chaos")).unwrap();
    let r = deploy(&first, KEY_A, "a", "greet", "route=/greet", &chaos);
    assert_eq!(r.json()["version"], 2, "{}", r.text());
    // chaos echoes the (empty) body where hello would greet.
    assert_eq!(invoke(&first, "a.test", "/greet", Some(KEY_A)).text(), "");
    first.terminate();
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().unwrap());
    drop(first);
    assert_eq!(dir.path(), keep);

    let second = Server::start_in(dir, &manifest(), &[]);
    let info = admin(&second, "GET", KEY_A, "/tenants/a/functions/greet").json();
    assert_eq!(info["version"], 2, "{info}");
    assert_eq!(info["versions"], serde_json::json!([1, 2]));
    assert_eq!(invoke(&second, "a.test", "/greet", Some(KEY_A)).text(), "");
    let r = admin(
        &second,
        "POST",
        KEY_A,
        "/tenants/a/functions/greet/rollback",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 1);
    let r = invoke(&second, "a.test", "/greet?name=again", Some(KEY_A));
    assert_eq!(r.text(), "Hello, again!\n");
    let r = admin(
        &second,
        "POST",
        KEY_A,
        "/tenants/a/functions/greet/rollback",
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        admin(&second, "DELETE", KEY_A, "/tenants/a/functions/greet").status,
        200
    );
    assert_eq!(invoke(&second, "a.test", "/greet", Some(KEY_A)).status, 404);
}

#[test]
fn hot_swap_under_load_fails_no_request() {
    let server = Server::start(&manifest());
    assert_eq!(
        deploy(&server, KEY_A, "a", "greet", "route=/greet", &hello()).status,
        200
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = server.url("/greet");
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let auth = bearer(KEY_A);
                while !stop.load(Ordering::Relaxed) {
                    let headers = [("host", "a.test"), ("authorization", auth.as_str())];
                    let r = call("GET", &url, &headers, None);
                    if r.status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        eprintln!("failed during swap: {} {}", r.status, r.text());
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let chaos = std::fs::read(component("chaos")).unwrap();
    for i in 0..6 {
        // Alternate two components that both answer GET /greet with 200.
        let wasm = if i % 2 == 0 { chaos.clone() } else { hello() };
        let r = deploy(&server, KEY_A, "a", "greet", "route=/greet", &wasm);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 50, "only {ok} requests during the swaps");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
}

/// A component from another language's toolchain: Python, built by componentize-py from PyPI
/// (`components/python-hello/build.sh`, run by `scripts/setup.sh`), deployed like any other.
#[test]
fn python_component_deploys_and_serves() {
    let wasm = std::fs::read(atelier_e2e::repo_root().join("target/python/python-hello.wasm"))
        .expect("target/python/python-hello.wasm: run scripts/setup.sh (componentize-py build)");
    let server = Server::start(&manifest());
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "py",
        "route=/py&memory_mb=64&cpu_ms=500",
        &wasm,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = invoke(&server, "a.test", "/py?name=Ada", Some(KEY_A));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "Hello from Python, Ada!\n");
    let body = b"atelier".repeat(1000);
    let r = call(
        "POST",
        &server.url("/py"),
        &[("host", "a.test"), ("authorization", &bearer(KEY_A))],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("7000 bytes, sha256 "), "{}", r.text());
}

/// A JavaScript function (ComponentizeJS) deployed through the admin API: it reads the query,
/// a header, the mount point and the body, and answers JSON.
#[test]
fn javascript_component_deploys_and_serves() {
    let wasm = std::fs::read(atelier_e2e::repo_root().join("target/js/js-hello.wasm"))
        .expect("target/js/js-hello.wasm: run scripts/setup.sh (ComponentizeJS build)");
    let server = Server::start(&manifest());
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "js",
        "route=/js&memory_mb=64&cpu_ms=500",
        &wasm,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = b"atelier".repeat(1000);
    let r = call(
        "POST",
        &server.url("/js/deeper?name=Ada"),
        &[
            ("host", "a.test"),
            ("authorization", &bearer(KEY_A)),
            ("content-type", "text/plain"),
        ],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["greeting"], "Hello from JavaScript, Ada!");
    assert_eq!(answer["method"], "POST");
    assert_eq!(answer["route"], "/js");
    assert_eq!(answer["content_type"], "text/plain");
    assert_eq!(answer["body_bytes"], 7000);
    let sha = sha2::Sha256::digest(&body);
    assert_eq!(answer["body_sha256"], hex::encode(sha));
}

/// Outbound HTTP reaches only the hosts a tenant was allowed: tenant A, whose list names the
/// address 127.0.0.1 on any port, may call the server's own /hello; tenant B may not, neither
/// by address (its entry allows the default ports only) nor through `localhost`, a name it
/// is allowed that resolves to loopback (refused after resolution: SSRF).
#[test]
fn outbound_http_follows_the_tenant_allow_list() {
    let server = Server::start(&manifest());
    let chaos = std::fs::read(component("chaos")).unwrap();
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let target = format!("url=http://127.0.0.1:{port}/hello%3Fname%3Dout");
    for (key, tenant, host) in [(KEY_A, "a", "a.test"), (KEY_B, "b", "b.test")] {
        let r = deploy(
            &server,
            key,
            tenant,
            "fetcher",
            "route=/fetcher&public=true",
            &chaos,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let r = invoke(&server, host, &format!("/fetcher/fetch?{target}"), None);
        if tenant == "a" {
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.text(), "Hello, out!\n");
        } else {
            // 127.0.0.1 is listed for the default ports only.
            assert_eq!(r.status, 502, "{}", r.text());
            assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
            // An allowed name that resolves to loopback is not a way in (SSRF).
            let by_name = format!("url=http://localhost:{port}/hello");
            let r = invoke(&server, host, &format!("/fetcher/fetch?{by_name}"), None);
            assert_eq!(r.status, 502, "{}", r.text());
            assert!(r.text().contains("DestinationIpProhibited"), "{}", r.text());
        }
    }
}
