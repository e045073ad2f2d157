//! QR codes as an HTTP function.
//!
//! - `GET /qr?text=…` / `POST /qr` (JSON) → the code as PNG (default) or SVG;
//! - `POST /qr/batch` → a ZIP of numbered images;
//! - `POST /qr/decode` (image bytes or multipart `file`) → every code found, as JSON.
//!
//! Every bad parameter answers 400 naming it; oversized inputs 413; nothing here panics on
//! input (a panic would trap the instance, which the host reports as a 500).

pub mod batch;
mod bent;
pub mod bilevel;
mod bits;
pub mod decode;
pub mod encode;
#[cfg(target_arch = "wasm32")]
mod http;
pub mod load;
pub mod options;
mod penalty;
mod quad;
pub mod symbol;

#[cfg(target_arch = "wasm32")]
struct Qr;

#[cfg(target_arch = "wasm32")]
impl wasip2::exports::http::incoming_handler::Guest for Qr {
    fn handle(
        request: wasip2::http::types::IncomingRequest,
        out: wasip2::http::types::ResponseOutparam,
    ) {
        atelier_guest::serve(request, out, http::route);
    }
}

#[cfg(target_arch = "wasm32")]
wasip2::http::proxy::export!(Qr);
