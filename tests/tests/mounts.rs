//! Every built-in function works wherever the operator mounts it: at the root of a host and
//! under a nested prefix, because the host tells each guest its route and the rest of the path
//! (`x-atelier-route`, `x-atelier-path-info`) and guests route on that, never on the full path.

use atelier_e2e::{call, component, get, post, shared, Server};

fn manifest() -> String {
    let limits =
        "limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }";
    let mut text = String::new();
    for (name, host, nested) in [
        ("qr", "codes.test", "/tools/codes"),
        ("segment", "cutout.test", "/v2/vision"),
        ("idphoto", "id.test", "/v2/id"),
    ] {
        text.push_str(&format!(
            "[[function]]\nname = \"{name}\"\ncomponent = {:?}\n\
             routes = [{{ path = \"/\", hosts = [\"{host}\"] }}, {{ path = \"{nested}\" }}]\n\
             grants = [\"atelier:vision\"]\n{limits}\n\n",
            component(name)
        ));
    }
    text.push_str(&format!(
        "[[function]]\nname = \"template\"\ncomponent = {:?}\nroutes = [{{ path = \"/t/a\" }}]\n\n\
         [vision]\nmodels = {:?}\ndevice = \"cpu\"\n",
        component("template"),
        atelier_e2e::repo_root().join("models/models.toml"),
    ));
    text
}

fn on(
    server: &Server,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> atelier_e2e::Reply {
    call(method, &server.url(path), &[("host", host)], body)
}

#[test]
fn built_in_functions_work_at_the_root_and_under_a_nested_prefix() {
    let server = Server::start(&manifest());
    let portrait = std::fs::read(shared().join("testdata/portraits/hivision_test1.jpg")).unwrap();

    // QR: generate, then decode what was generated, at both mount points.
    for (host, base) in [("codes.test", ""), ("localhost", "/tools/codes")] {
        let code = on(&server, host, "GET", &format!("{base}/?text=mounted"), None);
        assert_eq!(code.status, 200, "{host}{base}: {}", code.text());
        assert_eq!(code.header("content-type"), Some("image/png"));
        let read = on(
            &server,
            host,
            "POST",
            &format!("{base}/decode"),
            Some(&code.body),
        );
        assert_eq!(read.status, 200, "{host}{base}/decode: {}", read.text());
        assert_eq!(
            read.json()["codes"][0]["text"],
            "mounted",
            "{}",
            read.text()
        );
    }

    // Segmentation: models list, faces JSON, a matte PNG.
    for (host, base) in [("cutout.test", ""), ("localhost", "/v2/vision")] {
        let models = on(&server, host, "GET", &format!("{base}/models"), None);
        assert_eq!(models.status, 200, "{host}{base}/models: {}", models.text());
        assert!(models.json()["models"]
            .as_array()
            .is_some_and(|m| !m.is_empty()));
        let faces = on(
            &server,
            host,
            "POST",
            &format!("{base}/faces"),
            Some(&portrait),
        );
        assert_eq!(faces.status, 200, "{host}{base}/faces: {}", faces.text());
        assert_eq!(faces.json()["faces"].as_array().map(Vec::len), Some(1));
        let matte = on(&server, host, "POST", &format!("{base}/"), Some(&portrait));
        assert_eq!(
            matte.header("content-type"),
            Some("image/png"),
            "{host}{base}/"
        );
    }

    // ID photos: the size list and one photo.
    for (host, base) in [("id.test", ""), ("localhost", "/v2/id")] {
        let sizes = on(&server, host, "GET", &format!("{base}/sizes"), None);
        assert_eq!(sizes.status, 200, "{host}{base}/sizes: {}", sizes.text());
        let photo = on(
            &server,
            host,
            "POST",
            &format!("{base}?size=cn-1inch"),
            Some(&portrait),
        );
        assert_eq!(photo.status, 200, "{host}{base}: {}", photo.text());
        assert_eq!(photo.header("content-type"), Some("image/jpeg"));
    }
    assert_eq!(get(&server.url("/v2/id/nothing-here")).status, 404);
}

#[test]
fn guests_are_told_their_route_and_a_client_cannot_forge_it() {
    let server = Server::start(&manifest());
    let forged = [
        ("x-atelier-route", "/evil"),
        ("x-atelier-path-info", "/evil"),
    ];
    let r = post(&server.url("/t/a/b/c?who=x"), "text/plain", b"hi", &forged);
    let seen = r.json();
    assert_eq!(seen["path"], "/t/a/b/c", "{seen}");
    assert_eq!(seen["route"], "/t/a", "{seen}");
    assert_eq!(seen["path_info"], "/b/c", "{seen}");
    let seen = get(&server.url("/t/a")).json();
    assert_eq!(
        (&seen["route"], &seen["path_info"]),
        (&"/t/a".into(), &"".into()),
        "{seen}"
    );
}
