//! HTTP surface of the QR function: routes, parameter sources, status codes. Successful
//! generate and decode answers carry a `Server-Timing` header with the time spent in the QR
//! code itself (µs precision; generate: `matrix` of `render`, decode: `load` and `decode`), so
//! the in-component cost can be compared with native runs.

use atelier_guest::{Request, Response, ServerTiming};
use serde_json::{json, Value};

use crate::decode;
use crate::load::{self, LoadError};
use crate::options::{ParamError, RawOptions};
use crate::{batch, encode};

pub fn route(req: Request) -> Response {
    let sub = req.path_info.trim_end_matches('/').to_string();
    // HEAD is answered as GET; the server sends the headers without the body.
    match (req.method.as_str(), sub.as_str()) {
        ("GET" | "HEAD", "") => generate(RawOptions::from_pairs(&req.query_pairs())),
        ("POST", "") => generate(json_body(&req).and_then(|v| RawOptions::from_json(&v))),
        ("POST", "/batch") => batch_zip(&req),
        ("POST", "/decode") => decode_codes(&req),
        (_, "") => Response::method_not_allowed(&req.method, "GET, HEAD, POST"),
        (_, "/batch" | "/decode") => Response::method_not_allowed(&req.method, "POST"),
        _ => Response::not_found(&req.path),
    }
}

fn json_body(req: &Request) -> Result<Value, ParamError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| ParamError::new("body", format!("invalid JSON: {e}")))
}

fn generate(raw: Result<RawOptions, ParamError>) -> Response {
    let mut timing = ServerTiming::start();
    match raw
        .and_then(|r| r.validate())
        .and_then(|o| encode::render(&o))
    {
        Ok(rendered) => {
            timing.add("matrix", rendered.matrix_time);
            timing.mark("render");
            Response::bytes(rendered.content_type, rendered.bytes)
                .with_header("server-timing", timing.header())
                .with_header("x-qr-version", rendered.version.to_string())
                .with_header("cache-control", "public, max-age=86400")
        }
        Err(e) => Response::bad_param(&e),
    }
}

fn batch_zip(req: &Request) -> Response {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(e) => return Response::bad_param(&e),
    };
    match batch::build(&body) {
        Ok(zip) => Response::bytes("application/zip", zip).with_header(
            "content-disposition",
            "attachment; filename=\"qr-codes.zip\"",
        ),
        Err(batch::BatchError::TooMany { count }) => Response::error(
            413,
            "too_many_items",
            format!("{count} items; at most {} per batch", batch::MAX_ITEMS),
            Some("items"),
        ),
        Err(batch::BatchError::Param(e)) => Response::bad_param(&e),
    }
}

/// The decode route's one option, in the query or a form field: `effort=fast|thorough`
/// (default fast).
fn decode_effort(fields: &[(String, String)]) -> Result<decode::Effort, ParamError> {
    let mut effort = decode::Effort::Fast;
    for (key, value) in fields {
        effort = match (key.as_str(), value.as_str()) {
            ("effort", "fast") => decode::Effort::Fast,
            ("effort", "thorough") => decode::Effort::Thorough,
            ("effort", other) => {
                return Err(ParamError::new(
                    "effort",
                    format!("{other:?} is not one of fast, thorough"),
                ))
            }
            (other, _) => return Err(ParamError::new(other, "unknown parameter")),
        };
    }
    Ok(effort)
}

fn decode_codes(req: &Request) -> Response {
    let upload = match atelier_guest::upload(req, "file") {
        Ok(upload) => upload,
        Err(refusal) => return refusal,
    };
    let effort = match decode_effort(&upload.fields) {
        Ok(effort) => effort,
        Err(e) => return Response::bad_param(&e),
    };
    let image = upload.bytes;
    let mut timing = ServerTiming::start();
    let picture = match load::load(&image) {
        Ok(g) => g,
        Err(LoadError::TooLarge { width, height }) => {
            return Response::error(
                413,
                "image_too_large",
                format!("{width}×{height} exceeds {} pixels", load::MAX_PIXELS),
                Some("file"),
            )
        }
        Err(LoadError::Unsupported(m)) => {
            return Response::error(400, "unsupported_image", m, Some("file"))
        }
        Err(LoadError::Corrupt(m)) => {
            return Response::error(
                400,
                "corrupt_image",
                format!("cannot decode the image: {m}"),
                Some("file"),
            )
        }
    };
    timing.mark("load");
    let codes: Vec<Value> = decode::decode(&picture, effort)
        .into_iter()
        .map(|c| json!({ "text": c.text, "corners": c.corners, "version": c.version }))
        .collect();
    timing.mark("decode");
    let (width, height) = picture.dimensions();
    Response::json(
        200,
        &json!({ "codes": codes, "width": width, "height": height }),
    )
    .with_header("server-timing", timing.header())
}
