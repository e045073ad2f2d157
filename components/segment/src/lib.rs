//! A thin debug function over `atelier:vision`, like rembg's "only mask":
//! - `POST /segment[?model=name][&side=px]` (image body, or multipart `file` with the options
//!   as query or form fields) → the alpha matte
//!   as a greyscale PNG of the input's size; `side` runs a free-size model (u2netp) with that
//!   many pixels on the image's longer side (`segment-at`) instead of its configured square;
//! - `POST /segment/faces` → `{"faces": [{box, landmarks, score}]}`;
//! - `GET /segment/models` → the configured segmentation models.
//!
//! Answers to images carry `Server-Timing`: `decode`, then `segment` and `encode`, or `faces`.
#![cfg(target_arch = "wasm32")]

use atelier_guest::{serve, ParamError, Request, Response, ServerTiming};
use atelier_vision_guest::{decode_upload, faces, segmentation, vision_response};
use serde_json::json;

struct Segment;

fn handle(req: Request) -> Response {
    let sub = req.path_info.trim_end_matches('/').to_string();
    // HEAD is answered as GET; the server sends the headers without the body.
    match (req.method.as_str(), sub.as_str()) {
        ("GET" | "HEAD", "/models") => {
            Response::json(200, &json!({ "models": segmentation::models() }))
        }
        ("POST", "" | "/faces") => analyse(&req, &sub),
        (_, "/models") => Response::method_not_allowed(&req.method, "GET, HEAD"),
        (_, "" | "/faces") => Response::method_not_allowed(&req.method, "POST"),
        _ => Response::not_found(&req.path),
    }
}

/// `POST /segment` (the matte) or `POST /segment/faces`: options (query or form fields, the
/// last given wins) are checked before the upload is decoded.
fn analyse(req: &Request, sub: &str) -> Response {
    let upload = match atelier_guest::upload(req, "file") {
        Ok(u) => u,
        Err(refusal) => return refusal,
    };
    let field = |name: &str| {
        upload
            .fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let model = field("model");
    let side = match field("side").map(str::parse::<u32>) {
        None => None,
        Some(Ok(side @ 32..=4096)) => Some(side),
        Some(_) => {
            return Response::bad_param(&ParamError::new(
                "side",
                "must be a whole number of pixels, 32 to 4096",
            ))
        }
    };
    let mut timing = ServerTiming::start();
    // The image stays in the host: the models read it there, nothing is copied in here.
    let image = match decode_upload(&upload.bytes) {
        Ok(image) => image,
        Err(e) => return e.response(),
    };
    timing.mark("decode");
    if sub == "/faces" {
        return match faces::detect(&image) {
            Ok(found) => {
                timing.mark("faces");
                Response::json(
                    200,
                    &json!({ "faces": found.iter().map(face_json).collect::<Vec<_>>() }),
                )
                .with_header("server-timing", timing.header())
            }
            Err(e) => vision_response(&e),
        };
    }
    let matte = match side {
        None => segmentation::segment(&image, model),
        Some(side) => segmentation::segment_at(&image, model, side),
    };
    timing.mark("segment");
    let matte = match matte {
        Ok(matte) => matte,
        Err(e) => return vision_response(&e),
    };
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    match image::ImageEncoder::write_image(
        encoder,
        &matte,
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    ) {
        Ok(()) => {
            timing.mark("encode");
            Response::bytes("image/png", png).with_header("server-timing", timing.header())
        }
        Err(e) => Response::error(500, "encode_failed", e.to_string(), None),
    }
}

fn face_json(f: &faces::Face) -> serde_json::Value {
    json!({
        "box": [f.x, f.y, f.width, f.height],
        "landmarks": f.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
        "score": f.score,
    })
}

impl wasip2::exports::http::incoming_handler::Guest for Segment {
    fn handle(
        request: wasip2::http::types::IncomingRequest,
        out: wasip2::http::types::ResponseOutparam,
    ) {
        serve(request, out, handle);
    }
}

wasip2::http::proxy::export!(Segment);
