//! A function to copy: answers every request with JSON describing it.
//!
//! - `GET  /any/path?who=you` → `{"greeting": "Hello, you!", "method": "GET", "path": …}`
//! - `POST` with a body → the same, with `"body_bytes"` counting what arrived.
//!
//! Replace [`answer`] with your own logic; the plumbing around it (reading the request, writing
//! the response) is what every `wasi:http` function needs.
#![cfg(target_arch = "wasm32")]

use std::io::{Read, Write};

use serde_json::json;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The request as plain data.
struct Request {
    method: String,
    path: String,
    /// Where the operator mounted this function, and the rest of the path under it: route
    /// on `path_info`, not on `path` (the host sends both as headers).
    route: Option<String>,
    path_info: Option<String>,
    query: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Your logic: from a request to (status, JSON body).
fn answer(req: &Request) -> (u16, serde_json::Value) {
    let who = req
        .query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "who")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| "world".into());
    if req.method == "POST" && req.body.is_empty() {
        return (
            400,
            json!({ "error": { "code": "empty_body", "message": "POST a body" } }),
        );
    }
    (
        200,
        json!({
            "greeting": format!("Hello, {who}!"),
            "method": req.method,
            "path": req.path,
            "route": req.route,
            "path_info": req.path_info,
            "content_type": req.content_type,
            "body_bytes": req.body.len(),
        }),
    )
}

fn read(request: &IncomingRequest) -> Result<Request, String> {
    let method = match request.method() {
        wasip2::http::types::Method::Get => "GET".to_string(),
        wasip2::http::types::Method::Post => "POST".to_string(),
        wasip2::http::types::Method::Put => "PUT".to_string(),
        wasip2::http::types::Method::Delete => "DELETE".to_string(),
        other => format!("{other:?}").to_uppercase(),
    };
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, query) = path_with_query
        .split_once('?')
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .unwrap_or((path_with_query.clone(), String::new()));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let content_type = header("content-type");
    let route = header("x-atelier-route");
    let path_info = header("x-atelier-path-info");
    let incoming = request.consume().map_err(|()| "body already taken")?;
    let mut body = Vec::new();
    {
        let mut stream = incoming.stream().map_err(|()| "no body stream")?;
        stream
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the body: {e}"))?;
    }
    IncomingBody::finish(incoming);
    Ok(Request {
        method,
        path,
        route,
        path_info,
        query,
        content_type,
        body,
    })
}

fn send(out: ResponseOutparam, status: u16, value: &serde_json::Value) {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"application/json");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(mut stream) = body.write() {
        let _ = stream.write_all(&serde_json::to_vec(value).unwrap_or_default());
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(body, None);
}

struct Template;

impl wasip2::exports::http::incoming_handler::Guest for Template {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, value) = match read(&request) {
            Ok(req) => answer(&req),
            Err(message) => (
                400,
                json!({ "error": { "code": "bad_request", "message": message } }),
            ),
        };
        send(out, status, &value);
    }
}

wasip2::http::proxy::export!(Template);
