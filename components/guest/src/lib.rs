//! Helpers every Atelier component shares: turn a `wasi:http` incoming request into a plain
//! [`Request`] (method, path, query, headers, whole body) and send a [`Response`] back.
//!
//! Invariant: [`serve`] always answers. A handler returns a [`Response`]; errors are JSON
//! `{"error": {"code", "message", "param"?}}` bodies built with [`Response::error`], so a client
//! never sees a guest panic as an empty connection unless the component traps.

pub mod multipart;
mod timing;

pub use timing::ServerTiming;

use std::io::{Read, Write};

use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// A request with its body read completely (the host caps the body size before we run).
pub struct Request {
    pub method: String,
    /// Path without the query string, as the client sent it.
    pub path: String,
    /// The route the host matched, where the function is mounted (`/qr`; `/` at the root),
    /// from `x-atelier-route`; empty when not served by Atelier.
    pub route: String,
    /// The rest of the path under that route (`""`, `/decode`), from `x-atelier-path-info`;
    /// the whole path when not served by Atelier. Route on this, never on `path`: the operator
    /// decides where a function is mounted.
    pub path_info: String,
    /// Raw query string (without `?`), empty when there is none.
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    fn read(incoming: IncomingRequest) -> Result<Self, String> {
        let method = match incoming.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Connect => "CONNECT".to_string(),
            Method::Options => "OPTIONS".to_string(),
            Method::Trace => "TRACE".to_string(),
            Method::Patch => "PATCH".to_string(),
            Method::Other(other) => other,
        };
        let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query, String::new()),
        };
        let headers = incoming.headers().entries();
        let body_resource = incoming
            .consume()
            .map_err(|()| "request body already consumed".to_string())?;
        let mut body = Vec::new();
        {
            let mut stream = body_resource
                .stream()
                .map_err(|()| "request body stream unavailable".to_string())?;
            stream
                .read_to_end(&mut body)
                .map_err(|e| format!("reading request body: {e}"))?;
        }
        IncomingBody::finish(body_resource);
        let told = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
        };
        let route = told("x-atelier-route").unwrap_or_default();
        let path_info = told("x-atelier-path-info").unwrap_or_else(|| path.clone());
        Ok(Request {
            method,
            path,
            route,
            path_info,
            query,
            headers,
            body,
        })
    }

    /// The first value of a header, compared case-insensitively, as UTF-8 text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Decoded `key=value` pairs of the query string.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_form(&self.query)
    }
}

/// Decodes an `application/x-www-form-urlencoded` string (also used for query strings).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'+' => Some((b' ', 1)),
            b'%' => bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .map(|b| (b, 3)),
            _ => None,
        };
        let (byte, width) = decoded.unwrap_or((bytes[i], 1));
        out.push(byte);
        i += width;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A bad request parameter: its name and what is wrong (answered 400, naming it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

impl ParamError {
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        ParamError {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

/// A complete response: status, headers and body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A 200 response with the given content type.
    pub fn bytes(content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status: 200,
            headers: vec![("content-type".into(), content_type.as_bytes().to_vec())],
            body,
        }
    }

    /// A response whose body is the JSON value.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// A JSON error: `{"error": {"code": ..., "message": ..., "param": ...}}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>, param: Option<&str>) -> Self {
        let mut err = serde_json::json!({ "code": code, "message": message.into() });
        if let Some(p) = param {
            err["param"] = serde_json::Value::String(p.to_string());
        }
        Self::json(status, &serde_json::json!({ "error": err }))
    }

    /// 400 `bad_parameter` naming the parameter.
    pub fn bad_param(e: &ParamError) -> Self {
        Self::error(
            400,
            "bad_parameter",
            format!("{}: {}", e.param, e.message),
            Some(&e.param),
        )
    }

    /// 405 for a known path asked with the wrong method; `allow` lists the methods it serves
    /// (the `Allow` header RFC 9110 §15.5.6 requires, e.g. `"GET, HEAD"`).
    pub fn method_not_allowed(method: &str, allow: &str) -> Self {
        Self::error(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here; use {allow}"),
            None,
        )
        .with_header("allow", allow)
    }

    /// 404 for a path under the function's route that it does not serve.
    pub fn not_found(path: &str) -> Self {
        Self::error(
            404,
            "not_found",
            format!("nothing is served at {path}"),
            None,
        )
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn send(self, out: ResponseOutparam) {
        let fields = Fields::new();
        for (name, value) in &self.headers {
            // Invalid header names/values are a component bug; skip them rather than trap.
            let _ = fields.append(name, value);
        }
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(self.status);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(mut stream) = body.write() {
            let _ = stream.write_all(&self.body);
            let _ = stream.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

/// Reads the request, runs `handler`, and sends its response.
pub fn serve(
    incoming: IncomingRequest,
    out: ResponseOutparam,
    handler: impl FnOnce(Request) -> Response,
) {
    let response = match Request::read(incoming) {
        Ok(request) => handler(request),
        Err(message) => Response::error(400, "bad_request", message, None),
    };
    response.send(out);
}

/// A file sent to a function and the options sent with it.
pub struct Upload {
    /// The file's bytes (never empty).
    pub bytes: Vec<u8>,
    /// Option fields: the query's pairs, then a form's other fields, so a form field given
    /// twice wins over the query's.
    pub fields: Vec<(String, String)>,
}

/// The upload of a request: the `field` part of a `multipart/form-data` body (its other parts
/// become option fields), or the whole body for any other content type. Refused with a 400
/// naming `field`: `bad_upload` for a broken form or one without the field, `empty_body` when
/// nothing was sent.
pub fn upload(req: &Request, field: &str) -> Result<Upload, Response> {
    let bad_upload = |message: String| Response::error(400, "bad_upload", message, Some(field));
    let mut fields = req.query_pairs();
    let content_type = req.header("content-type").unwrap_or_default();
    let bytes = if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let (file, others): (Vec<_>, Vec<_>) = multipart::parse(content_type, &req.body)
            .map_err(bad_upload)?
            .into_iter()
            .partition(|part| part.name == field);
        fields.extend(multipart::text_fields(&others));
        file.into_iter()
            .next()
            .ok_or_else(|| bad_upload(format!("the multipart body has no `{field}` field")))?
            .data
    } else {
        req.body.clone()
    };
    if bytes.is_empty() {
        return Err(Response::error(
            400,
            "empty_body",
            format!("send the file as the body or as a multipart `{field}` field"),
            Some(field),
        ));
    }
    Ok(Upload { bytes, fields })
}
