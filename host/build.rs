//! Embeds Swagger UI (npm `swagger-ui-dist`, installed into `host/web/node_modules` by
//! `scripts/setup.sh`) for the `/docs` page. Without it the binary still builds and serves
//! `/openapi.json`; `/docs` then says how to install it.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules/swagger-ui-dist");
    let bundle = dist.join("swagger-ui-bundle.js");
    let css = dist.join("swagger-ui.css");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", bundle.display());
    let code = if bundle.is_file() && css.is_file() {
        format!(
            "pub const SWAGGER_UI: Option<(&[u8], &[u8])> = Some((include_bytes!({:?}), include_bytes!({:?})));\n",
            bundle, css
        )
    } else {
        "pub const SWAGGER_UI: Option<(&[u8], &[u8])> = None;\n".to_string()
    };
    std::fs::write(Path::new(&out).join("swagger_ui.rs"), code).expect("OUT_DIR is writable");
}
