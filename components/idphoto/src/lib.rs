//! ID photos as an HTTP function.
//!
//! - `POST /idphoto` (image body or multipart `file`, options in the query or form fields) →
//!   the ID photo (JPEG or PNG with its dpi), or with `Accept: application/json` the image as
//!   base64 with the face box and the geometry achieved;
//! - `GET /idphoto/sizes` → the presets with their pixel and mm sizes, dpi and head rules.
//!
//! The person is cut out with `atelier:vision` segmentation (of the head-and-shoulders
//! region only, see [`region`]) and placed by the face detector's
//! landmarks plus the matte's top of head; everything else (geometry, compositing, encoding,
//! print sheets) runs here. Bad options are 400 naming the parameter; a photo that cannot
//! become an ID photo is 422 with the reason.

pub mod encode;
pub mod geometry;
#[cfg(target_arch = "wasm32")]
mod http;
pub mod matting;
pub mod options;
pub mod photo;
pub mod presets;
pub mod region;
pub mod sheet;

#[cfg(target_arch = "wasm32")]
struct IdPhoto;

#[cfg(target_arch = "wasm32")]
impl wasip2::exports::http::incoming_handler::Guest for IdPhoto {
    fn handle(
        request: wasip2::http::types::IncomingRequest,
        out: wasip2::http::types::ResponseOutparam,
    ) {
        atelier_guest::serve(request, out, http::route);
    }
}

#[cfg(target_arch = "wasm32")]
wasip2::http::proxy::export!(IdPhoto);
