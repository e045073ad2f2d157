//! Route ownership through the real server: a tenant cannot mount a route over, under or above
//! another owner's (the operator's functions or another tenant's), a tenant without hosts stays
//! under the path the operator gave it, and after every refused attempt the victims' routes are
//! still answered by their own functions.

use atelier_e2e::admin::{hashed, OPERATOR};
use atelier_e2e::{call, component, Reply, Server};

fn manifest() -> String {
    format!(
        r#"
[[function]]
name = "hello"
component = {:?}
routes = [{{ path = "/hello" }}, {{ path = "/qr/decode" }}]

[admin]
token = "{operator}"
data_dir = "data"

# No hosts: confined to their path prefixes.
[[tenant]]
id = "a"
path_prefix = "/t/a"
api_keys = ["{key_a}"]

[[tenant]]
id = "b"
path_prefix = "/t/b"
api_keys = ["{key_b}"]

# Hosts: their routes answer there only; c and d share one host.
[[tenant]]
id = "c"
hosts = ["shared.test"]
api_keys = ["{key_c}"]

[[tenant]]
id = "d"
hosts = ["Shared.Test"]
api_keys = ["{key_d}"]

# Neither hosts nor a path prefix: may not deploy at all.
[[tenant]]
id = "n"
api_keys = ["{key_n}"]
"#,
        component("hello"),
        operator = hashed(OPERATOR),
        key_a = hashed("key-a"),
        key_b = hashed("key-b"),
        key_c = hashed("key-c"),
        key_d = hashed("key-d"),
        key_n = hashed("key-n"),
    )
}

fn deploy(server: &Server, key: &str, tenant: &str, name: &str, query: &str) -> Reply {
    let wasm = std::fs::read(component("chaos")).unwrap();
    call(
        "PUT",
        &server.url(&format!(
            "/admin/v1/tenants/{tenant}/functions/{name}?{query}&public=true"
        )),
        &[("authorization", &format!("Bearer {key}"))],
        Some(&wasm),
    )
}

fn assert_refused(reply: &Reply, status: u16, code: &str, names: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    let error = &reply.json()["error"];
    assert_eq!(error["code"], code, "{what}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(names), "{what}: {message}");
}

#[test]
fn a_route_belongs_to_its_owner_with_everything_under_it() {
    let server = Server::start(&manifest());
    let ok = deploy(&server, "key-b", "b", "api", "route=/t/b/api");
    assert_eq!(ok.status, 200, "{}", ok.text());

    // The issue's hijack, each route on its own and with the operator's token too.
    for key in ["key-a", OPERATOR] {
        for route in ["/t/b/api/login", "/qr/decode", "/", "/t/b", "/hello/x"] {
            let r = deploy(&server, key, "a", "grab", &format!("route={route}"));
            assert_refused(&r, 403, "route_not_allowed", "/t/a", route);
        }
    }
    let r = deploy(&server, "key-n", "n", "grab", "route=/n");
    assert_refused(
        &r,
        403,
        "route_not_allowed",
        "path_prefix",
        "no hosts, no prefix",
    );

    // On hosts: over, under or above the operator's functions, or another tenant's.
    let r = deploy(&server, "key-c", "c", "site", "route=/site");
    assert_eq!(r.status, 200, "{}", r.text());
    for (key, tenant, route, owner) in [
        ("key-c", "c", "/hello", "\"/hello\""),
        ("key-c", "c", "/qr", "\"/qr/decode\""),
        ("key-c", "c", "/", "\"/hello\""),
        ("key-d", "d", "/site/login", "c/site"),
        ("key-d", "d", "/site", "c/site"),
    ] {
        let r = deploy(&server, key, tenant, "grab", &format!("route={route}"));
        assert_refused(&r, 409, "route_conflict", owner, route);
    }
    let beside = deploy(&server, "key-d", "d", "shop", "route=/shop");
    assert_eq!(beside.status, 200, "{}", beside.text());
    let nested = deploy(&server, "key-c", "c", "admin", "route=/site/admin");
    assert_eq!(
        nested.status,
        200,
        "a tenant may nest its own routes: {}",
        nested.text()
    );
    let same = deploy(&server, "key-c", "c", "twin", "route=/site");
    assert_refused(
        &same,
        409,
        "route_conflict",
        "c/site",
        "the same route twice",
    );

    // Every route is still answered by its owner.
    let hello = call("GET", &server.url("/qr/decode"), &[], None);
    assert_eq!(hello.text(), "Hello, world!\n", "/qr/decode");
    let unknown = call("GET", &server.url("/nowhere"), &[], None);
    assert_eq!(unknown.status, 404);
    let on_host = call(
        "GET",
        &server.url("/site/headers"),
        &[("host", "shared.test")],
        None,
    );
    assert_eq!(on_host.status, 200, "{}", on_host.text());
    let elsewhere = call("GET", &server.url("/site/headers"), &[], None);
    assert_eq!(
        elsewhere.status, 404,
        "a host's route answers on that host only"
    );
}
