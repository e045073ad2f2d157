//! The host's layers point one way (docs/ARCHITECTURE.md, "Layers"): a top-level module of
//! `host/src` may name (`crate::x`) only modules of a lower layer. A new top-level module must
//! be given a layer here and in the document.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first; modules of one layer may not name each other.
const LAYERS: &[&[&str]] = &[
    &["routes", "telemetry"],
    &["config"],
    &["vision"],
    &["runtime", "cluster"],
    &["tenancy", "jobs"],
    &["server"],
    &["app", "oneshot", "deploy_client"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::x` or `crate::{x, y::z}`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group only: skip nested braces.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        found.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let path = entry.path();
        let Some(module) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(mine) = layer_of(&module) else {
            violations.push(format!(
                "{module}: not in a layer (tests/layers.rs, docs/ARCHITECTURE.md)"
            ));
            continue;
        };
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for named in named_modules(&text) {
                if named == module {
                    continue;
                }
                match layer_of(&named) {
                    Some(theirs) if theirs < mine => {}
                    _ => violations.push(format!(
                        "{} names crate::{named}, which is not below {module}",
                        file.strip_prefix(&src).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_and_groups() {
    let text =
        "use crate::config::X;\nuse crate::{runtime::{A, B}, vision};\nlet _ = crate::routes::f();";
    let found: Vec<_> = named_modules(text).into_iter().collect();
    assert_eq!(found, ["config", "routes", "runtime", "vision"]);
}
