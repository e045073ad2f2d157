//! Deploys against a hostile tenant and a hard crash: compile bombs (time and memory) are
//! refused while other tenants deploy, old versions and tenants' storage are bounded, and a
//! server killed with SIGKILL at any point of a deploy restarts with a store that never serves
//! or rolls back to a version that was not committed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use atelier_e2e::admin::{
    admin, compile_bomb, deploy, hashed, with_padding, KEY_A, KEY_B, OPERATOR,
};
use atelier_e2e::{call, component, wait_for, Server};

/// `[admin]` with `settings`, and tenants `a` and `b` with their own hosts.
fn manifest(settings: &str, quotas_a: &str) -> String {
    format!(
        r#"
[admin]
token = "{}"
data_dir = "data"
{settings}

[[tenant]]
id = "a"
hosts = ["a.test"]
api_keys = ["{}"]
quotas = {{ {quotas_a} }}

[[tenant]]
id = "b"
hosts = ["b.test"]
api_keys = ["{}"]
"#,
        hashed(OPERATOR),
        hashed(KEY_A),
        hashed(KEY_B)
    )
}

fn hello() -> Vec<u8> {
    std::fs::read(component("hello")).unwrap()
}

fn invoke(server: &Server, host: &str, path: &str, key: &str) -> atelier_e2e::Reply {
    let auth = format!("Bearer {key}");
    call(
        "GET",
        &server.url(path),
        &[("host", host), ("authorization", &auth)],
        None,
    )
}

#[test]
fn a_compile_bomb_is_stopped_at_its_budget_while_others_deploy() {
    let server = Server::start(&manifest("compile_timeout_ms = 2000", ""));
    // ~20 s of compiling on one core with no budget.
    let bomb = compile_bomb(20_000, 20_000);
    let started = Instant::now();
    let refused = std::thread::scope(|s| {
        let bombing = s.spawn(|| deploy(&server, KEY_A, "a", "bomb", "route=/bomb", &bomb));
        wait_for("a compiler process", Duration::from_secs(10), || {
            !server.children().is_empty()
        });
        // Another tenant deploys while the bomb compiles, and does not wait for it.
        let r = deploy(&server, KEY_B, "b", "hello", "route=/hello", &hello());
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            !bombing.is_finished(),
            "b's deploy answered while a's compile was still running"
        );
        bombing.join().unwrap()
    });
    let took = started.elapsed();
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(
        refused.json()["error"]["code"],
        "compile_budget",
        "{}",
        refused.text()
    );
    assert!(refused.text().contains("2000 ms"), "{}", refused.text());
    assert!(took < Duration::from_secs(12), "refused after {took:?}");
    wait_for("the compiler killed", Duration::from_secs(5), || {
        server.children().is_empty()
    });
    // Nothing of the bomb serves or stays; the other tenant's function does.
    assert_eq!(invoke(&server, "a.test", "/bomb", KEY_A).status, 404);
    let r = admin(&server, "GET", KEY_A, "/tenants/a/functions/bomb");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = invoke(&server, "b.test", "/hello?name=b", KEY_B);
    assert_eq!(r.text(), "Hello, b!\n");
}

#[test]
fn a_compile_that_needs_too_much_memory_is_refused() {
    let server = Server::start(&manifest("compile_memory_mb = 64", ""));
    let before = server.rss_kib();
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "bomb",
        "route=/bomb",
        &compile_bomb(20_000, 20_000),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "compile_budget", "{}", r.text());
    assert!(r.text().contains("64 MiB"), "{}", r.text());
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < 32 << 10, "the server grew {grown} KiB");
    // The next deploy of the same tenant is served as usual.
    let r = deploy(&server, KEY_A, "a", "hello", "route=/hello", &hello());
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn old_versions_are_deleted_and_storage_is_capped_per_tenant() {
    let server = Server::start(&manifest("keep_versions = 2", "storage_mb = 1"));
    // Components of ~470 KiB: two fit under 1 MiB, three do not.
    let sized = |n: usize| with_padding(&hello(), 300 << 10 | n);
    for n in 1..=3 {
        let r = deploy(&server, KEY_A, "a", "f", "route=/f", &sized(n));
        assert_eq!(r.status, 200, "deploy {n}: {}", r.text());
        assert_eq!(r.json()["version"], n);
    }
    let info = admin(&server, "GET", KEY_A, "/tenants/a/functions/f").json();
    assert_eq!(info["versions"], serde_json::json!([2, 3]), "{info}");
    let files: BTreeSet<String> = std::fs::read_dir(server.dir.path().join("data/functions/a/f"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !files.contains("v1.wasm") && !files.contains("v1.json"),
        "{files:?}"
    );

    // Rolled back to v2, then deployed again: v4 serves, and v3 and v4 are kept.
    let r = admin(&server, "POST", KEY_A, "/tenants/a/functions/f/rollback");
    assert_eq!(r.json()["version"], 2, "{}", r.text());
    let r = deploy(&server, KEY_A, "a", "f", "route=/f", &sized(4));
    assert_eq!(
        r.json()["versions"],
        serde_json::json!([3, 4]),
        "{}",
        r.text()
    );

    // A second function would take the tenant over 1 MiB.
    let r = deploy(&server, KEY_A, "a", "g", "route=/g", &sized(5));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "quota_exceeded");
    assert!(r.text().contains("storage quota"), "{}", r.text());
    // Another tenant has its own quota.
    let r = deploy(&server, KEY_B, "b", "g", "route=/g", &sized(5));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        invoke(&server, "a.test", "/f?name=x", KEY_A).text(),
        "Hello, x!\n"
    );
}

/// SIGKILL at points spread over a deploy (reading, compiling, writing, committing), then a
/// restart: the function always serves, and every version kept is one that was committed (it
/// served at some restart), so rollback never reaches a version that never served.
#[test]
fn a_deploy_killed_at_any_point_leaves_a_consistent_store() {
    let m = manifest("", "");
    let mut server = Server::start(&m);
    let r = deploy(&server, KEY_A, "a", "f", "route=/f", &hello());
    assert_eq!(r.status, 200, "{}", r.text());
    let mut committed = BTreeSet::from([1u64]);
    // How long a deploy of a component never compiled before takes here.
    let probe_started = Instant::now();
    let r = deploy(
        &server,
        KEY_A,
        "a",
        "probe",
        "route=/probe",
        &with_padding(&hello(), 1),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let full = probe_started.elapsed();

    const POINTS: u32 = 6;
    for point in 0..=POINTS {
        let wasm = with_padding(&hello(), 100 + point as usize);
        let kill_after = full * point / POINTS;
        let url = server.url("/admin/v1/tenants/a/functions/f?route=/f");
        let deploying = std::thread::spawn(move || {
            // The kill may cut the connection: no answer at all is 0.
            ureq::put(&url)
                .set("authorization", &format!("Bearer {KEY_A}"))
                .send_bytes(&wasm)
                .map_or_else(
                    |e| e.into_response().map_or(0, |r| r.status()),
                    |r| r.status(),
                )
        });
        std::thread::sleep(kill_after);
        let dir = server.kill_hard();
        let answered = deploying.join().unwrap();
        server = Server::start_in(dir, &m, &[]);
        let info = admin(&server, "GET", KEY_A, "/tenants/a/functions/f").json();
        let current = info["version"]
            .as_u64()
            .expect("the function is still deployed");
        if answered == 200 {
            assert_eq!(
                current,
                committed.last().unwrap() + 1,
                "a deploy that answered 200 serves"
            );
        }
        committed.insert(current);
        let versions: BTreeSet<u64> = info["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            versions.is_subset(&committed),
            "kill at {kill_after:?}: versions {versions:?}, committed {committed:?}"
        );
        let r = invoke(&server, "a.test", "/f?name=k", KEY_A);
        assert_eq!(r.text(), "Hello, k!\n", "kill at {kill_after:?}");
    }
    // Rolling back walks committed versions only, each one serving.
    loop {
        let r = admin(&server, "POST", KEY_A, "/tenants/a/functions/f/rollback");
        if r.status == 409 {
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(committed.contains(&r.json()["version"].as_u64().unwrap()));
        assert_eq!(invoke(&server, "a.test", "/f?name=r", KEY_A).status, 200);
    }
}
