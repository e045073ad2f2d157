//! Links the component with 4 MiB of initial linear memory.
//!
//! Every request runs in a fresh instance. An instance that grows its memory makes the host
//! change page protections twice per request (grow, then reset), and each change of a shared
//! address space costs a TLB shootdown on the other cores. 4 MiB covers generating a code and
//! decoding an upload of a few hundred kilobytes, so those never grow; larger photos still do.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=4194304");
    }
}
