//! A thin debug function over `atelier:vision`, like rembg's "only mask":
//! - `POST /segment[?model=name][&side=px]` (image body or multipart `file`) → the alpha matte
//!   as a greyscale PNG of the input's size; `side` runs a free-size model (u2netp) with that
//!   many pixels on the image's longer side (`segment-at`) instead of its configured square;
//! - `POST /segment/faces` → `{"faces": [{box, landmarks, score}]}`;
//! - `GET /segment/models` → the configured segmentation models.
//!
//! Answers to images carry `Server-Timing`: `decode`, then `segment` and `encode`, or `faces`.
#![cfg(target_arch = "wasm32")]

use atelier_guest::{serve, Request, Response, ServerTiming};
use atelier_vision_guest::{decode_upload, faces, segmentation, to_image, vision_response};
use serde_json::json;

struct Segment;

fn handle(req: Request) -> Response {
    let sub = req
        .path
        .trim_end_matches('/')
        .rsplit_once("/segment")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    if req.method == "GET" && sub == "/models" {
        return Response::json(200, &json!({ "models": segmentation::models() }));
    }
    if req.method != "POST" {
        return Response::error(405, "method_not_allowed", "POST an image", None);
    }
    let upload = match atelier_guest::upload(&req, "file") {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => return Response::error(400, "empty_body", "send an image", Some("file")),
        Err(m) => return Response::error(400, "bad_upload", m, Some("file")),
    };
    let mut timing = ServerTiming::start();
    let rgb = match decode_upload(&upload) {
        Ok(rgb) => rgb,
        Err(e) => return e.response(),
    };
    timing.mark("decode");
    let image = to_image(&rgb);
    match sub.as_str() {
        "" => {
            let query = req.query_pairs();
            let field = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let model = field("model").map(String::as_str);
            let matte = match field("side").map(|v| v.parse::<u32>()) {
                None => segmentation::segment(&image, model),
                Some(Ok(side @ 32..=4096)) => segmentation::segment_at(&image, model, side),
                Some(_) => {
                    return Response::error(
                        400,
                        "bad_param",
                        "side must be a whole number of pixels, 32 to 4096",
                        Some("side"),
                    )
                }
            };
            timing.mark("segment");
            match matte {
                Ok(matte) => {
                    let mut png = Vec::new();
                    let encoder = image::codecs::png::PngEncoder::new(&mut png);
                    match image::ImageEncoder::write_image(
                        encoder,
                        &matte,
                        rgb.width(),
                        rgb.height(),
                        image::ExtendedColorType::L8,
                    ) {
                        Ok(()) => {
                            timing.mark("encode");
                            Response::bytes("image/png", png)
                                .with_header("server-timing", timing.header())
                        }
                        Err(e) => Response::error(500, "encode_failed", e.to_string(), None),
                    }
                }
                Err(e) => vision_response(&e),
            }
        }
        "/faces" => match faces::detect(&image) {
            Ok(found) => {
                timing.mark("faces");
                Response::json(
                    200,
                    &json!({ "faces": found.iter().map(|f| json!({
                    "box": [f.x, f.y, f.width, f.height],
                    "landmarks": f.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                    "score": f.score,
                })).collect::<Vec<_>>() }),
                )
                .with_header("server-timing", timing.header())
            }
            Err(e) => vision_response(&e),
        },
        _ => Response::error(
            404,
            "not_found",
            format!("no endpoint at {}", req.path),
            None,
        ),
    }
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
