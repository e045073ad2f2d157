//! Decode rate on codes photographed on bent surfaces (`tests/common/bent.rs`):
//! `cargo run --release -p qr --example bent -- make DIR [SEEDS]` writes the photos and
//! `DIR/cases.tsv`; `... -- read DIR` decodes each one with and without the bent-grid stage and
//! prints `file, plain, bent` (1 = read exactly) as TSV. `bench/qr-bent.sh` adds zxing-cpp.

#[path = "../tests/common/bent.rs"]
mod bent;

use std::io::Write;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [verb, dir, rest @ ..] if verb == "make" => {
            let seeds = rest
                .first()
                .map_or(2, |s| s.parse().expect("SEEDS: a number"));
            make(Path::new(dir), seeds)
        }
        [verb, dir] if verb == "read" => read(Path::new(dir)),
        _ => {
            eprintln!("usage: bent make DIR [SEEDS] | bent read DIR");
            std::process::exit(2);
        }
    }
}

fn make(dir: &Path, seeds: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut tsv = String::from("file\twarp\tstrength\tversion\tborder\tsurround\ttext\n");
    for case in bent::bench_cases(seeds) {
        let file = format!("{}.jpg", case.name());
        std::fs::write(dir.join(&file), case.photo()).unwrap();
        tsv += &format!(
            "{file}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            case.warp.name(),
            case.warp.strength(),
            case.version,
            case.border,
            if case.dark_surround { "dark" } else { "paper" },
            case.text()
        );
    }
    std::fs::write(dir.join("cases.tsv"), tsv).unwrap();
}

fn read(dir: &Path) {
    let tsv = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "file\tplain\tbent").unwrap();
    for line in tsv.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (file, text) = (fields[0], fields[6]);
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let picture = qr::load::load(&bytes).unwrap();
        let found = |plain: bool| {
            let codes = if plain {
                qr::decode::decode_plain(&picture, qr::decode::Effort::Fast)
            } else {
                qr::decode::decode(&picture, qr::decode::Effort::Fast)
            };
            u8::from(codes.iter().any(|c| c.text == text))
        };
        writeln!(out, "{file}\t{}\t{}", found(true), found(false)).unwrap();
    }
}
