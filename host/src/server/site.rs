//! The host's own pages, embedded in the binary (nothing is fetched at run time):
//! - the web page (`host/web/index.html`, `app.css`, `app.js`: plain HTML, CSS and
//!   JavaScript) at the manifest's `[server] web_page` path (`/` in the embedded manifest;
//!   absent: no page), its files under `/_atelier/web/`;
//! - `/openapi.json`, the OpenAPI 3.1 description of every built-in endpoint
//!   (`host/web/openapi.json`);
//! - `/docs`, Swagger UI (npm `swagger-ui-dist`, embedded by `host/build.rs`) over it.
//!
//! Invariants: GET and HEAD only (405 with `Allow` otherwise). Every answer carries a Content
//! Security Policy allowing this origin only (no inline script, no framing) and `nosniff`. The
//! page at `web_page` is answered only when no function is routed there (a tenant's function
//! on its own host wins); the other paths are reserved (`routes::RESERVED_PATHS`).

use http::{header, Method, Response, StatusCode};

use super::reply::{self, Body};

mod swagger {
    include!(concat!(env!("OUT_DIR"), "/swagger_ui.rs"));
}

/// Where the page's own files are served.
pub const WEB_FILES: &str = "/_atelier/web/";
/// Where Swagger UI's files are served.
const DOCS_FILES: &str = "/_atelier/docs/";

const INDEX: &str = include_str!("../../web/index.html");
const OPENAPI: &str = include_str!("../../web/openapi.json");
const DOCS: &str = include_str!("../../web/docs.html");

/// `(name, content type, bytes)` of every file under [`WEB_FILES`].
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/app.js"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/docs.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../web/icon.svg"),
    ),
];

/// This origin only; images and media also from `blob:` (previews of what the page made) and
/// `data:` (Swagger UI's icons); styles inline for Swagger UI; camera streams as `mediastream:`.
const POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The answer for a reserved site path (`/openapi.json`, `/docs`, files), or `None`.
pub fn reserved(method: &Method, path: &str) -> Option<Response<Body>> {
    let found = match path {
        "/openapi.json" => Some(file("application/json", OPENAPI.as_bytes())),
        "/docs" | "/docs/" => Some(file("text/html; charset=utf-8", DOCS.as_bytes())),
        _ => path
            .strip_prefix(WEB_FILES)
            .map(|name| match FILES.iter().find(|(n, _, _)| *n == name) {
                Some((_, kind, bytes)) => file(kind, bytes),
                None => not_found(path),
            })
            .or_else(|| {
                path.strip_prefix(DOCS_FILES)
                    .map(|name| docs_file(name, path))
            }),
    }?;
    Some(only_reads(method, found))
}

/// The web page, when `path` is `web_page` (with or without a trailing `/`).
pub fn page(method: &Method, path: &str, web_page: Option<&str>) -> Option<Response<Body>> {
    let page = web_page?;
    let trimmed = |p: &str| p.trim_end_matches('/').to_string();
    (trimmed(path) == trimmed(page))
        .then(|| only_reads(method, file("text/html; charset=utf-8", INDEX.as_bytes())))
}

fn docs_file(name: &str, path: &str) -> Response<Body> {
    match (name, swagger::SWAGGER_UI) {
        ("swagger-ui-bundle.js", Some((bundle, _))) => {
            file("text/javascript; charset=utf-8", bundle)
        }
        ("swagger-ui.css", Some((_, css))) => file("text/css; charset=utf-8", css),
        ("swagger-ui-bundle.js" | "swagger-ui.css", None) => reply::error(
            StatusCode::NOT_FOUND,
            "docs_not_built",
            "this binary was built without Swagger UI: run scripts/setup.sh (npm ci in host/web) and rebuild; /openapi.json is served",
            None,
        ),
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response<Body> {
    reply::error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no file {path}"),
        None,
    )
}

fn only_reads(method: &Method, response: Response<Body>) -> Response<Body> {
    if method == Method::GET || method == Method::HEAD {
        response
    } else {
        reply::method_not_allowed(method, "GET, HEAD")
    }
}

fn file(content_type: &'static str, bytes: &'static [u8]) -> Response<Body> {
    let mut response = Response::new(reply::full(bytes));
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        response
            .headers_mut()
            .insert(name, header::HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_json_of_openapi_3_1() {
        let spec: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        assert!(spec["paths"]["/idphoto"]["post"].is_object());
    }

    #[test]
    fn the_page_is_served_at_its_path_only_and_read_only() {
        let get = |path, at| page(&Method::GET, path, at).map(|r| r.status());
        assert_eq!(get("/", Some("/")), Some(StatusCode::OK));
        assert_eq!(get("/ui/", Some("/ui")), Some(StatusCode::OK));
        assert_eq!(get("/ui/x", Some("/ui")), None);
        assert_eq!(get("/", None), None);
        let post = page(&Method::POST, "/", Some("/")).unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        let file = reserved(&Method::GET, "/_atelier/web/app.js").unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert!(file.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let missing = reserved(&Method::GET, "/_atelier/web/../Cargo.toml").unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(reserved(&Method::GET, "/other").is_none());
    }
}
