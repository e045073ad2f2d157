//! The admin API from a test's side: the tokens test manifests use (and their `sha256:` form),
//! deploy and management calls, and components made to measure for deploy tests.

use sha2::{Digest, Sha256};

use crate::{call, Reply, Server};

pub const OPERATOR: &str = "operator-token";
pub const KEY_A: &str = "key-a";
pub const KEY_B: &str = "key-b";

/// `sha256:<hex>` of a token, as `[admin] token` and `api_keys` hold it.
pub fn hashed(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `PUT /admin/v1/tenants/{tenant}/functions/{name}?{query}` with the component as the body.
pub fn deploy(
    server: &Server,
    token: &str,
    tenant: &str,
    name: &str,
    query: &str,
    wasm: &[u8],
) -> Reply {
    call(
        "PUT",
        &server.url(&format!(
            "/admin/v1/tenants/{tenant}/functions/{name}?{query}"
        )),
        &[
            ("authorization", &bearer(token)),
            ("content-type", "application/wasm"),
        ],
        Some(wasm),
    )
}

/// Any other admin call, without a body; `path` is under `/admin/v1`.
pub fn admin(server: &Server, method: &str, token: &str, path: &str) -> Reply {
    call(
        method,
        &server.url(&format!("/admin/v1{path}")),
        &[("authorization", &bearer(token))],
        None,
    )
}

/// `wasm` with a custom section of `len` bytes appended: a component that behaves the same but
/// has another digest (so it is compiled afresh) and another size.
pub fn with_padding(wasm: &[u8], len: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"atelier-test-padding";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + len, 0x5a);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// A small component that takes Cranelift long and much memory to compile: one function with
/// `locals` 64-bit locals, all live, and `ops` multiplications among them (20,000 × 20,000 is
/// ~0.5 MB and ~20 s of one core on a 2-core CI machine).
pub fn compile_bomb(locals: usize, ops: usize) -> Vec<u8> {
    let mut body = String::new();
    for i in 1..locals {
        body.push_str(&format!(
            "local.get 0 i64.const {} i64.add local.set {i}\n",
            i * 7919
        ));
    }
    let mut x: u64 = 1;
    for _ in 0..ops {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = |shift: u32| (x >> shift) as usize % locals;
        let (a, b, c) = (pick(10), pick(30), pick(45));
        body.push_str(&format!(
            "local.get {a} local.get {b} i64.mul local.set {c}\n"
        ));
    }
    body.push_str("i64.const 0\n");
    for i in 0..locals {
        body.push_str(&format!("local.get {i} i64.add\n"));
    }
    let wat = format!(
        "(component (core module (func (export \"f\") (param i64) (result i64) (local {}) {body})))",
        "i64 ".repeat(locals)
    );
    wat::parse_str(wat).expect("the bomb is valid text")
}
