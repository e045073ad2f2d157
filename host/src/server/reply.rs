//! Responses the host writes itself: JSON errors and small ops bodies.
//!
//! Every error the host returns is `{"error": {"code": "...", "message": "..."}}` with a status
//! that says who is at fault, plus `function` when one was routed.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The body type of every response the server sends (guest bodies stream through it too).
pub type Body = HyperOutgoingBody;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A plain response with the given content type.
pub fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(full(body))
        .expect("static headers are valid")
}

/// A JSON error response.
pub fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    function: Option<&str>,
) -> Response<Body> {
    let mut err = serde_json::json!({ "code": code, "message": message });
    if let Some(f) = function {
        err["function"] = serde_json::Value::String(f.to_string());
    }
    let body = serde_json::to_vec(&serde_json::json!({ "error": err })).expect("JSON of strings");
    text(status, "application/json", body)
}

/// 405 with the `Allow` header RFC 9110 §15.5.6 requires (`allow`: e.g. `"GET, HEAD"`).
pub fn method_not_allowed(method: &http::Method, allow: &'static str) -> Response<Body> {
    let message = format!("{method} is not allowed here; use {allow}");
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &message,
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

/// 503 with `Retry-After`, for saturation and back-pressure.
pub fn overloaded(message: &str, function: Option<&str>, retry_after_s: u32) -> Response<Body> {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        message,
        function,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_s.into());
    response
}
