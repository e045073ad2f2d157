//! The web page and the OpenAPI description against the real server with the built-in
//! functions, the admin API and a tenant:
//! - the page in Debian's Chromium, driven by Playwright (`tests/browser/web.mjs`: an ID photo
//!   from a real portrait, a refusal, a QR code generated and read back through the page, a
//!   cut-out, a deploy through the console and a call, the docs page, a phone viewport);
//!   screenshots land in `target/screenshots`;
//! - `/openapi.json` checked by Schemathesis (PyPI), property-based: every response it gets
//!   must match the description, and no 5xx.
//!
//! Both tools are installed by `scripts/setup.sh` (npm `playwright-core` in `tests/browser`,
//! `.cache/schemathesis`); a missing tool fails the test with the command to install it.

use std::process::Command;

use atelier_e2e::admin::{hashed, KEY_A, OPERATOR};
use atelier_e2e::{component, get, repo_root, shared, Server};

fn manifest() -> String {
    let vision_limits =
        "limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }";
    format!(
        r#"[admin]
token = "{operator}"
data_dir = "data"

[[tenant]]
id = "acme"
path_prefix = "/t/acme"
api_keys = ["{key}"]
quotas = {{ requests_per_minute = 600000, burst = 100000, max_concurrency = 16, memory_mb = 64 }}

[[function]]
name = "hello"
component = {hello:?}
routes = [{{ path = "/hello" }}]

[[function]]
name = "qr"
component = {qr:?}
routes = [{{ path = "/qr" }}]
limits = {{ memory_mb = 512, cpu_ms = 5000, max_body_kb = 20480 }}

[[function]]
name = "segment"
component = {segment:?}
routes = [{{ path = "/segment" }}]
grants = ["atelier:vision"]
{vision_limits}

[[function]]
name = "idphoto"
component = {idphoto:?}
routes = [{{ path = "/idphoto" }}]
grants = ["atelier:vision"]
{vision_limits}

[vision]
models = {models:?}
device = "cpu"
"#,
        operator = hashed(OPERATOR),
        key = hashed(KEY_A),
        hello = component("hello"),
        qr = component("qr"),
        segment = component("segment"),
        idphoto = component("idphoto"),
        models = repo_root().join("models/models.toml"),
    )
}

/// A tool's standard output and error, as text.
fn everything_said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn start() -> Server {
    Server::start_with_server("web_page = \"/\"", &manifest())
}

#[test]
fn the_web_page_works_in_a_real_browser() {
    let server = start();
    let page = get(&server.url("/"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>Atelier</title>"));
    let script = repo_root().join("tests/browser/web.mjs");
    assert!(
        repo_root()
            .join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run scripts/setup.sh (npm ci in tests/browser)"
    );
    let shots = repo_root().join("target/screenshots");
    let out = Command::new("node")
        .arg(&script)
        .arg(server.url(""))
        .arg(OPERATOR)
        .arg(shared())
        .arg(component("hello"))
        .arg(&shots)
        .output()
        .expect("running node");
    let said = everything_said(&out);
    assert!(
        out.status.success(),
        "the browser test failed:\n{said}\nserver log:\n{}",
        server.log()
    );
    println!("{said}");
}

#[test]
fn the_openapi_description_holds_against_the_server() {
    let server = start();
    let st = repo_root().join(".cache/schemathesis/bin/schemathesis");
    assert!(
        st.is_file(),
        "Schemathesis is missing: run scripts/setup.sh (it makes .cache/schemathesis)"
    );
    let report = tempfile::tempdir().unwrap();
    let out = Command::new(&st)
        .current_dir(report.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .args([
            "run",
            &server.url("/openapi.json"),
            "--url",
            &server.url(""),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--header",
            &format!("Authorization: Bearer {OPERATOR}"),
            "--request-timeout",
            "120",
            // One worker: two threads of Schemathesis on Debian's Python 3.11 now and then
            // trip CPython's AST recursion check inside Hypothesis (a tool error, not a finding).
            "--workers",
            "1",
        ])
        .output()
        .expect("running schemathesis");
    let said = everything_said(&out);
    assert!(
        out.status.success(),
        "Schemathesis found responses the description does not allow:\n{said}\nserver log tail:\n{}",
        server.log().lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    let summary: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("passed") || l.contains("cases") || l.contains("API Operations"))
        .collect();
    println!("Schemathesis: {}", summary.join(" | "));
}
