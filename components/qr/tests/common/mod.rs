//! What the integration tests share: ZXing's black-box QR images from `../shared`.

use std::path::PathBuf;

/// `testdata/qr/zxing` of the shared directory (`ATELIER_SHARED`, or `../shared` beside the
/// repository).
pub fn zxing_dir() -> PathBuf {
    std::env::var_os("ATELIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("testdata/qr/zxing")
}

/// Every PNG of the three QR sets, in name order, with the text it holds.
pub fn zxing_images() -> Vec<(PathBuf, Vec<u8>)> {
    let mut cases = Vec::new();
    for set in ["qrcode-1", "qrcode-2", "qrcode-3"] {
        let dir = zxing_dir().join(set);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        entries.sort();
        for png in entries {
            let expected = std::fs::read(png.with_extension("txt")).unwrap();
            cases.push((png, expected));
        }
    }
    cases
}
