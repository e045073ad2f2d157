//! The smallest useful function: answers `Hello, <name>!` (`?name=`, default `world`).
//! Used by the end-to-end tests and as the hello-world benchmark against `wasmtime serve`.
#![cfg(target_arch = "wasm32")]

use atelier_guest::{serve, Response};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        serve(request, out, |req| {
            let name = req
                .query_pairs()
                .into_iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v)
                .unwrap_or_else(|| "world".to_string());
            Response::bytes(
                "text/plain; charset=utf-8",
                format!("Hello, {name}!\n").into_bytes(),
            )
        });
    }
}

wasip2::http::proxy::export!(Hello);
