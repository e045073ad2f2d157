//! Several nodes, one Redis: a real `redis-server` of each test's own and three `atelier` nodes
//! on loopback. Deploys, rollbacks and deletes on any node serve on every node; a node that was
//! killed catches up; nodes keep serving while Redis is down and refuse admin writes; a
//! tenant's request rate is counted once for the whole cluster.

use std::time::{Duration, Instant};

use atelier_e2e::admin::{self, bearer, deploy, hashed, with_padding, KEY_A, KEY_B, OPERATOR};
use atelier_e2e::redis::Redis;
use atelier_e2e::{component, get, get_with, wait_for, Server};

/// Long enough for a change to reach every node on a loaded CI machine; the benchmark
/// (`bench/cluster.sh`) measures the real figure.
const CONVERGE: Duration = Duration::from_secs(30);

fn manifest(redis: &Redis, node: &str, quotas_a: &str) -> String {
    format!(
        r#"
[admin]
token = "{}"
data_dir = "data"

[cluster]
redis = "{}"
node_id = "{node}"
heartbeat_ms = 200
node_ttl_ms = 2000

[[tenant]]
id = "a"
path_prefix = "/a"
api_keys = ["{}"]
quotas = {{ {quotas_a} }}

[[tenant]]
id = "b"
path_prefix = "/b"
api_keys = ["{}"]
"#,
        hashed(OPERATOR),
        redis.url(),
        hashed(KEY_A),
        hashed(KEY_B)
    )
}

fn nodes(redis: &Redis, n: usize, quotas_a: &str) -> Vec<Server> {
    (1..=n)
        .map(|i| Server::start(&manifest(redis, &format!("node-{i}"), quotas_a)))
        .collect()
}

/// Deploys hello as tenant a's public `/a/hi` through `node`.
fn deploy_public_hello(node: &Server) {
    let r = deploy(node, KEY_A, "a", "hi", "route=/a/hi&public=true", &hello());
    assert_eq!(r.status, 200, "{}", r.text());
}

fn hello() -> Vec<u8> {
    std::fs::read(component("hello")).unwrap()
}

/// What `/a/hi` answers on `node` with tenant a's key.
fn says(node: &Server) -> (u16, String) {
    let r = get_with(
        &node.url("/a/hi?name=x"),
        &[("authorization", &bearer(KEY_A))],
    );
    (r.status, r.text())
}

/// The function as `node`'s admin API reports it (None when it has no such function).
fn info(node: &Server, name: &str) -> Option<serde_json::Value> {
    let r = admin::admin(
        node,
        "GET",
        OPERATOR,
        &format!("/tenants/a/functions/{name}"),
    );
    (r.status == 200).then(|| r.json())
}

fn wait_everywhere(nodes: &[Server], what: &str, done: impl Fn(&Server) -> bool) {
    for (i, node) in nodes.iter().enumerate() {
        wait_for(&format!("{what} on node {}", i + 1), CONVERGE, || {
            done(node)
        });
    }
}

#[test]
fn changes_on_any_node_serve_on_every_node() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 3, "");
    let wasm = hello();

    // Deploy on node 1 → nodes 2 and 3 serve it.
    let r = deploy(&nodes[0], KEY_A, "a", "hi", "route=/a/hi", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 1);
    wait_everywhere(&nodes, "v1 served", |n| {
        says(n) == (200, "Hello, x!\n".into())
    });

    // A tenant's function is never another tenant's, on any node.
    for node in &nodes {
        let r = get_with(&node.url("/a/hi"), &[("authorization", &bearer(KEY_B))]);
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(get(&node.url("/a/hi")).status, 401);
        let r = admin::admin(node, "GET", KEY_B, "/tenants/a/functions");
        assert_eq!(r.status, 403, "{}", r.text());
        let r = admin::admin(node, "GET", KEY_B, "/tenants/b/functions");
        assert_eq!(r.json()["functions"], serde_json::json!([]), "{}", r.text());
    }

    // Two nodes deploy the same function at once: two versions, neither lost.
    let (one, two) = (with_padding(&wasm, 100), with_padding(&wasm, 200));
    let (r1, r2) = std::thread::scope(|s| {
        let a = s.spawn(|| deploy(&nodes[0], KEY_A, "a", "hi", "route=/a/hi", &one));
        let b = s.spawn(|| deploy(&nodes[1], OPERATOR, "a", "hi", "route=/a/hi", &two));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        (r1.status, r2.status),
        (200, 200),
        "{} {}",
        r1.text(),
        r2.text()
    );
    let mut versions = [r1.json()["version"].clone(), r2.json()["version"].clone()];
    versions.sort_by_key(|v| v.as_u64());
    assert_eq!(versions, [serde_json::json!(2), serde_json::json!(3)]);
    wait_everywhere(&nodes, "versions 1-3 listed, v3 current", |n| {
        info(n, "hi")
            .is_some_and(|i| i["versions"] == serde_json::json!([1, 2, 3]) && i["version"] == 3)
    });

    // Rollback on node 3 → v2 everywhere, with v2's component.
    let r = admin::admin(&nodes[2], "POST", KEY_A, "/tenants/a/functions/hi/rollback");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    let v2_sha = r.json()["sha256"].clone();
    wait_everywhere(&nodes, "v2 current", |n| {
        info(n, "hi").is_some_and(|i| i["version"] == 2 && i["sha256"] == v2_sha)
    });
    for node in &nodes {
        assert_eq!(says(node), (200, "Hello, x!\n".into()));
    }

    // The operator's view of the cluster: three live nodes, none behind.
    wait_for("every node caught up in cluster status", CONVERGE, || {
        let out = std::process::Command::new(atelier_e2e::binary())
            .args(["cluster", "status", "--json", "--redis", &redis.url()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed = status["nodes"].as_array().unwrap();
        listed.len() == 3
            && listed
                .iter()
                .all(|n| n["alive"] == true && n["lag"] == 0 && n["functions"] == 1)
    });

    // Delete on node 2 → gone everywhere.
    let r = admin::admin(&nodes[1], "DELETE", KEY_A, "/tenants/a/functions/hi");
    assert_eq!(r.status, 200, "{}", r.text());
    wait_everywhere(&nodes, "deleted", |n| {
        says(n).0 == 404 && info(n, "hi").is_none()
    });
}

#[test]
fn a_node_that_was_down_catches_up() {
    let redis = Redis::start();
    let mut nodes = nodes(&redis, 2, "");
    let wasm = hello();
    let r = deploy(&nodes[0], KEY_A, "a", "hi", "route=/a/hi", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_everywhere(&nodes, "v1 served", |n| says(n).0 == 200);

    // Node 2 dies (SIGKILL); meanwhile a new version, a new function, and a delete.
    let dir = nodes.pop().unwrap().kill_hard();
    let r = deploy(
        &nodes[0],
        KEY_A,
        "a",
        "hi",
        "route=/a/hi",
        &with_padding(&wasm, 10),
    );
    assert_eq!(r.json()["version"], 2, "{}", r.text());
    let r = deploy(&nodes[0], KEY_A, "a", "other", "route=/a/other", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = deploy(&nodes[0], KEY_A, "a", "gone", "route=/a/gone", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin::admin(&nodes[0], "DELETE", KEY_A, "/tenants/a/functions/gone");
    assert_eq!(r.status, 200, "{}", r.text());

    // It restarts in its own folder (its last-known state) and replays what it missed.
    let node2 = Server::start_in(dir, &manifest(&redis, "node-2", ""), &[]);
    wait_for("node 2 caught up", CONVERGE, || {
        info(&node2, "hi").is_some_and(|i| i["version"] == 2)
            && info(&node2, "other").is_some()
            && info(&node2, "gone").is_none()
    });
    let r = get_with(
        &node2.url("/a/other?name=y"),
        &[("authorization", &bearer(KEY_A))],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, y!\n"));
    // It says it follows the log once its join (the replay above) has returned.
    wait_for("node 2 following the registry", CONVERGE, || {
        node2.log().contains("following the registry")
    });
}

#[test]
fn nodes_serve_while_redis_is_down_and_refuse_writes() {
    let mut redis = Redis::start();
    let nodes = nodes(&redis, 3, "");
    let wasm = hello();
    let r = deploy(&nodes[0], KEY_A, "a", "hi", "route=/a/hi", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_everywhere(&nodes, "v1 served", |n| says(n).0 == 200);

    // Redis goes away with everything it held.
    redis.stop();
    wait_everywhere(&nodes, "degraded in /readyz", |n| {
        let r = get(&n.url("/readyz"));
        r.status == 200 && r.json()["cluster"]["state"] == "degraded"
    });
    for node in &nodes {
        assert_eq!(says(node), (200, "Hello, x!\n".into()), "still serving");
        let r = deploy(node, KEY_A, "a", "new", "route=/a/new", &wasm);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "cluster_unavailable");
        let r = admin::admin(node, "DELETE", KEY_A, "/tenants/a/functions/hi");
        assert_eq!(r.status, 503, "{}", r.text());
        let metrics = get_with(
            &node.url("/metrics"),
            &[("authorization", &bearer(OPERATOR))],
        );
        assert!(
            metrics.text().contains("atelier_cluster_redis_up 0"),
            "{}",
            metrics.text()
        );
    }
    // Nothing was accepted on one node only.
    for node in &nodes {
        assert!(info(node, "new").is_none());
        assert!(info(node, "hi").is_some());
    }

    // Redis comes back empty: the nodes offer what they serve, writes work again, and every
    // node converges on them.
    redis.restart();
    wait_everywhere(&nodes, "connected in /readyz", |n| {
        get(&n.url("/readyz")).json()["cluster"]["state"] == "connected"
    });
    let r = deploy(&nodes[1], KEY_A, "a", "new", "route=/a/new", &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_everywhere(&nodes, "both functions served", |n| {
        let new = get_with(&n.url("/a/new"), &[("authorization", &bearer(KEY_A))]);
        new.status == 200 && says(n).0 == 200
    });
    let r = admin::admin(&nodes[2], "POST", KEY_A, "/tenants/a/functions/hi/rollback");
    assert_eq!(
        r.status,
        409,
        "the re-offered function has one version: {}",
        r.text()
    );
}

/// 3 nodes, a quota of 600/min with a burst of 50: the cluster admits 50 + 10/s in all (±
/// burst), not three times that.
#[test]
fn a_tenant_rate_is_counted_once_for_the_cluster() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 3, "requests_per_minute = 600, burst = 50");
    deploy_public_hello(&nodes[0]);
    wait_everywhere(&nodes, "served", |n| get(&n.url("/a/hi")).status != 404);
    // Let the bucket refill from the requests above.
    std::thread::sleep(Duration::from_secs(6));

    let started = Instant::now();
    let run_for = Duration::from_secs(4);
    let counts: Vec<(u32, u32)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let node = &nodes[w % 3];
                s.spawn(move || {
                    let (mut ok, mut limited) = (0, 0);
                    while started.elapsed() < run_for {
                        match get(&node.url("/a/hi")).status {
                            200 => ok += 1,
                            429 => limited += 1,
                            other => panic!("unexpected status {other}"),
                        }
                    }
                    (ok, limited)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let ok: u32 = counts.iter().map(|c| c.0).sum();
    let limited: u32 = counts.iter().map(|c| c.1).sum();
    let exact = 50.0 + 10.0 * elapsed;
    eprintln!("{ok} admitted, {limited} limited in {elapsed:.2} s over 3 nodes; exact {exact:.0}");
    assert!(limited > 0, "nothing was limited: {counts:?}");
    assert!(
        (f64::from(ok) - exact).abs() <= 50.0,
        "{ok} admitted in {elapsed:.2} s over 3 nodes; exact figure {exact:.0} ± 50 ({counts:?})"
    );
}

/// A Redis that hangs: requests are decided locally within the budget, not held.
#[test]
fn a_hung_redis_does_not_hold_requests() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 1, "requests_per_minute = 6000, burst = 100");
    deploy_public_hello(&nodes[0]);
    redis.pause();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&nodes[0].url("/a/hi")).status, 200);
    }
    let took = started.elapsed();
    redis.resume();
    // 20 requests each waiting its full command timeout (2 s) would take 40 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
    let metrics = get_with(
        &nodes[0].url("/metrics"),
        &[("authorization", &bearer(OPERATOR))],
    );
    let text = metrics.text();
    let fallbacks = text
        .lines()
        .find(|l| l.starts_with("atelier_cluster_rate_fallbacks_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(fallbacks >= 20.0, "{text}");
}
