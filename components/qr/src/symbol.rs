//! Text → QR symbol: `qrcodegen` encodes, this module picks the mask.
//!
//! `qrcodegen` (Nayuki's reference encoder) segments the text, adds error correction and places
//! the codewords; given a mask it does nothing more. Choosing the mask is where encoders spend
//! their time (qrcodegen's own choice is ~90% of its run in wasm, fast_qr's ~80%), because they
//! score eight masked copies module by module. Here the symbol is built once with mask 0, the
//! mask is undone on the data modules, and each candidate is the unmasked symbol XOR the mask's
//! pattern on data modules, with its own format bits, one 64-module word at a time; `penalty`
//! scores rows and columns as bit lines. The result is the symbol qrcodegen itself would
//! produce (the tests check every version, level and mask against it).

use qrcodegen::{DataTooLong, Mask, QrCode, QrCodeEcc, QrSegment, Version};

use crate::bits::Bits;
use crate::penalty;

/// An encoded symbol, quiet zone excluded.
pub struct Symbol {
    /// Modules per side.
    pub size: usize,
    /// 1 ..= 40.
    pub version: u8,
    /// Row-major, dark = true.
    modules: Vec<bool>,
}

impl Symbol {
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.modules[y * self.size + x]
    }

    /// The runs of dark modules in row `y`, left to right.
    pub fn dark_runs(&self, y: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let row = &self.modules[y * self.size..][..self.size];
        let mut x = 0;
        std::iter::from_fn(move || {
            let start = x + row[x..].iter().position(|&dark| dark)?;
            x = start
                + row[start..]
                    .iter()
                    .position(|&dark| !dark)
                    .unwrap_or(row.len() - start);
            Some(start..x)
        })
    }
}

/// Encodes `text` at level `ecl` in the smallest version that holds it (the level is not raised).
pub fn encode(text: &str, ecl: QrCodeEcc) -> Result<Symbol, DataTooLong> {
    let segments = QrSegment::make_segments(text);
    let code = QrCode::encode_segments_advanced(
        &segments,
        ecl,
        Version::MIN,
        Version::MAX,
        Some(Mask::new(0)),
        false,
    )?;
    // Versions 1–11 (up to 61 modules) fit a line in one word; 177 modules need three.
    let modules = if code.size() <= 64 {
        best_candidate::<1>(&code)
    } else {
        best_candidate::<3>(&code)
    };
    Ok(Symbol {
        size: code.size() as usize,
        version: code.version().value(),
        modules,
    })
}

/// The modules under the mask with the lowest penalty (the first of equals), row-major.
fn best_candidate<const W: usize>(code: &QrCode) -> Vec<bool> {
    let mut candidates = Candidates::<W>::new(code);
    let mut best = (u32::MAX, 0);
    for mask in 0..8 {
        candidates.apply(mask);
        let score = penalty::score(&candidates.rows, &candidates.columns);
        if score < best.0 {
            best = (score, mask);
        }
    }
    candidates.apply(best.1);
    let size = candidates.size;
    candidates
        .rows
        .iter()
        .flat_map(|row| (0..size).map(|x| row.get(x)))
        .collect()
}

/// The symbol under each mask in turn, as rows and as columns.
struct Candidates<const W: usize> {
    size: usize,
    ecl: QrCodeEcc,
    /// Unmasked modules, format bits aside, by row and by column.
    plain_rows: Vec<Bits<W>>,
    plain_columns: Vec<Bits<W>>,
    /// Data modules (the ones a mask flips) by row; the layout is symmetric, so also by column.
    data_modules: Vec<Bits<W>>,
    /// The last candidate applied.
    rows: Vec<Bits<W>>,
    columns: Vec<Bits<W>>,
}

impl<const W: usize> Candidates<W> {
    /// From `code` built with mask 0.
    fn new(code: &QrCode) -> Self {
        let size = code.size() as usize;
        let data_rows = data_modules::<W>(size, code.version().value());
        let plain_rows: Vec<Bits<W>> = (0..size)
            .map(|y| {
                let mut row = Bits::ZERO;
                for x in 0..size {
                    row.set(x, code.get_module(x as i32, y as i32));
                }
                row ^ (mask_line(0, y, Axis::Row, size) & data_rows[y])
            })
            .collect();
        Candidates {
            size,
            ecl: code.error_correction_level(),
            plain_columns: transpose(&plain_rows),
            plain_rows,
            data_modules: data_rows,
            rows: vec![Bits::ZERO; size],
            columns: vec![Bits::ZERO; size],
        }
    }

    /// Makes `rows` and `columns` the symbol under `mask`.
    fn apply(&mut self, mask: u8) {
        masked(
            &mut self.rows,
            &self.plain_rows,
            &self.data_modules,
            mask,
            Axis::Row,
        );
        masked(
            &mut self.columns,
            &self.plain_columns,
            &self.data_modules,
            mask,
            Axis::Column,
        );
        let bits = format_bits(self.ecl, mask);
        for (i, copies) in format_positions(self.size).iter().enumerate() {
            let dark = bits >> i & 1 == 1;
            for &(x, y) in copies {
                self.rows[y].set(x, dark);
                self.columns[x].set(y, dark);
            }
        }
    }
}

/// Whether a line runs along a row (fixed y) or a column (fixed x).
#[derive(Clone, Copy)]
enum Axis {
    Row = 0,
    Column = 1,
}

/// `out[i] = plain[i] ^ (pattern of mask along line i & data[i])`.
fn masked<const W: usize>(
    out: &mut [Bits<W>],
    plain: &[Bits<W>],
    data: &[Bits<W>],
    mask: u8,
    axis: Axis,
) {
    let size = plain.len();
    for (i, line) in out.iter_mut().enumerate() {
        *line = plain[i] ^ (mask_line(mask, i, axis, size) & data[i]);
    }
}

/// Every mask pattern repeats every 12 modules both ways: bit `a` of `TILES[axis][mask][b]` is
/// whether the mask flips module `a` (mod 12) along line `b` (mod 12).
const TILES: [[[u16; 12]; 8]; 2] = [tiles(Axis::Row), tiles(Axis::Column)];

const fn tiles(axis: Axis) -> [[u16; 12]; 8] {
    let mut tiles = [[0u16; 12]; 8];
    let mut mask = 0;
    while mask < 8 {
        let mut line = 0;
        while line < 12 {
            let mut along = 0;
            while along < 12 {
                let (x, y) = match axis {
                    Axis::Row => (along, line),
                    Axis::Column => (line, along),
                };
                if flips(mask as u8, x, y) {
                    tiles[mask][line] |= 1 << along;
                }
                along += 1;
            }
            line += 1;
        }
        mask += 1;
    }
    tiles
}

/// A 1 every 12 bits: multiplying a 12-bit tile row by it repeats the row across a word.
const EVERY_12: u64 = 1 | 1 << 12 | 1 << 24 | 1 << 36 | 1 << 48 | 1 << 60;

/// The modules mask `mask` would flip along line `index` (all of them, data or not).
fn mask_line<const W: usize>(mask: u8, index: usize, axis: Axis, size: usize) -> Bits<W> {
    let tile = u64::from(TILES[axis as usize][usize::from(mask)][index % 12]);
    let words = Bits(std::array::from_fn(|w| {
        // Word w starts at module 64 w, this far into the 12-module period.
        let phase = w * 64 % 12;
        let rotated = (tile >> phase | tile << (12 - phase)) & 0xfff;
        rotated * EVERY_12
    }));
    words & Bits::first(size)
}

/// ISO/IEC 18004 Table 10: the eight mask conditions, `x` the column and `y` the row.
const fn flips(mask: u8, x: usize, y: usize) -> bool {
    match mask {
        0 => (x + y).is_multiple_of(2),
        1 => y.is_multiple_of(2),
        2 => x.is_multiple_of(3),
        3 => (x + y).is_multiple_of(3),
        4 => (y / 2 + x / 3).is_multiple_of(2),
        5 => (x * y) % 2 + (x * y) % 3 == 0,
        6 => ((x * y) % 2 + (x * y) % 3).is_multiple_of(2),
        _ => ((x + y) % 2 + (x * y) % 3).is_multiple_of(2),
    }
}

/// The data modules of a version's symbol: everything but the finder patterns and their
/// separators, timing patterns, alignment patterns, format and version information and the
/// dark module.
fn data_modules<const W: usize>(size: usize, version: u8) -> Vec<Bits<W>> {
    let mut function = vec![Bits::<W>::ZERO; size];
    let mut fill = |x0: usize, y0: usize, w: usize, h: usize| {
        for row in &mut function[y0..y0 + h] {
            for x in x0..x0 + w {
                row.set(x, true);
            }
        }
    };
    // Finders with separators and the format information beside them (and the dark module).
    fill(0, 0, 9, 9);
    fill(size - 8, 0, 8, 9);
    fill(0, size - 8, 9, 8);
    // Timing patterns.
    fill(0, 6, size, 1);
    fill(6, 0, 1, size);
    let centres = alignment_centres(version, size);
    for &cy in &centres {
        for &cx in &centres {
            // None where a finder is: the corners other than bottom-right.
            let at_edge = |c: usize| c == 6 || c == size - 7;
            let at_finder = (cx == 6 || cy == 6) && at_edge(cx) && at_edge(cy);
            if !at_finder {
                fill(cx - 2, cy - 2, 5, 5);
            }
        }
    }
    if version >= 7 {
        fill(size - 11, 0, 3, 6);
        fill(0, size - 11, 6, 3);
    }
    let inside = Bits::first(size);
    function.into_iter().map(|row| !row & inside).collect()
}

/// Alignment pattern centres on either axis (ISO/IEC 18004 Annex E): 6, then evenly spaced from
/// `size - 7` down, the step the smallest even number that fits them in; the table makes one
/// exception, version 32, whose step is 26.
fn alignment_centres(version: u8, size: usize) -> Vec<usize> {
    if version == 1 {
        return Vec::new();
    }
    let count = usize::from(version) / 7 + 2;
    let last = size - 7;
    let step = if version == 32 {
        26
    } else {
        (last - 6).div_ceil(count - 1).next_multiple_of(2)
    };
    let mut centres: Vec<usize> = (0..count - 1).map(|i| last - i * step).collect();
    centres.push(6);
    centres.reverse();
    centres
}

/// The 15 format bits (level and mask, BCH-protected, XOR 0x5412), bit 0 first.
fn format_bits(ecl: QrCodeEcc, mask: u8) -> u32 {
    let level = match ecl {
        QrCodeEcc::Low => 1,
        QrCodeEcc::Medium => 0,
        QrCodeEcc::Quartile => 3,
        QrCodeEcc::High => 2,
    };
    let data = level << 3 | u32::from(mask);
    let mut remainder = data << 10;
    for bit in (10..15).rev() {
        if remainder >> bit & 1 == 1 {
            remainder ^= 0x537 << (bit - 10);
        }
    }
    (data << 10 | remainder) ^ 0x5412
}

/// Where format bit `i` goes: one copy beside the top-left finder, one split between the other
/// two, as (x, y).
fn format_positions(size: usize) -> [[(usize, usize); 2]; 15] {
    std::array::from_fn(|i| {
        let near = match i {
            0..=5 => (8, i),
            6 => (8, 7),
            7 => (8, 8),
            8 => (7, 8),
            _ => (14 - i, 8),
        };
        let split = if i < 8 {
            (size - 1 - i, 8)
        } else {
            (8, size - 15 + i)
        };
        [near, split]
    })
}

fn transpose<const W: usize>(lines: &[Bits<W>]) -> Vec<Bits<W>> {
    let size = lines.len();
    let mut out = vec![Bits::ZERO; size];
    for (y, line) in lines.iter().enumerate() {
        for (x, column) in out.iter_mut().enumerate() {
            if line.get(x) {
                column.set(y, true);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [QrCodeEcc; 4] = [
        QrCodeEcc::Low,
        QrCodeEcc::Medium,
        QrCodeEcc::Quartile,
        QrCodeEcc::High,
    ];

    fn at_version(text: &str, ecl: QrCodeEcc, version: u8, mask: Option<u8>) -> QrCode {
        let v = Version::new(version);
        QrCode::encode_segments_advanced(
            &QrSegment::make_segments(text),
            ecl,
            v,
            v,
            mask.map(Mask::new),
            false,
        )
        .unwrap()
    }

    fn same_modules(is_dark: impl Fn(usize, usize) -> bool, code: &QrCode) -> bool {
        let size = code.size() as usize;
        (0..size).all(|y| (0..size).all(|x| is_dark(x, y) == code.get_module(x as i32, y as i32)))
    }

    fn candidates_match<const W: usize>(version: u8, ecl: QrCodeEcc) {
        let mut candidates = Candidates::<W>::new(&at_version("Atelier", ecl, version, Some(0)));
        for mask in 0..8 {
            candidates.apply(mask);
            let reference = at_version("Atelier", ecl, version, Some(mask));
            assert!(
                same_modules(|x, y| candidates.rows[y].get(x), &reference),
                "version {version}, {ecl:?}, mask {mask}: rows differ"
            );
            assert_eq!(candidates.columns, transpose(&candidates.rows), "columns");
        }
    }

    #[test]
    fn every_candidate_is_the_symbol_qrcodegen_draws_with_that_mask() {
        for version in 1..=40 {
            for ecl in LEVELS {
                if version <= 11 {
                    candidates_match::<1>(version, ecl);
                }
                candidates_match::<3>(version, ecl);
            }
        }
    }

    #[test]
    fn the_chosen_mask_is_the_one_qrcodegen_chooses() {
        let texts = [
            "https://example.com/some/path".to_string(),
            "0123456789".repeat(7),
            "HELLO WORLD $%*+-./: 42".to_string(),
            "Grüße aus Zürich — 東京 🚀".repeat(3),
            "x".repeat(1200),
        ];
        // And many more, so that every mask and penalty rule decides some choice.
        let varied = (0..160).map(|i| format!("{i:x}/{}", "Zq7-".repeat(i % 53)));
        let mut masks = [0; 8];
        for text in texts.into_iter().chain(varied) {
            let text = &text;
            for ecl in LEVELS {
                let Ok(reference) = QrCode::encode_text(text, ecl) else {
                    continue;
                };
                // encode_text raises the level when it fits; compare at the level it used.
                let ecl = reference.error_correction_level();
                let ours = encode(text, ecl).unwrap();
                masks[usize::from(reference.mask().value())] += 1;
                assert_eq!(
                    usize::from(ours.version),
                    reference.version().value() as usize
                );
                assert!(
                    same_modules(|x, y| ours.is_dark(x, y), &reference),
                    "{text:.20}… at {ecl:?}: ours differs from qrcodegen's (mask {})",
                    reference.mask().value()
                );
            }
        }
        assert!(
            masks.iter().all(|&n| n > 0),
            "some mask never chosen: {masks:?}"
        );
    }

    #[test]
    fn alignment_centres_match_the_standard_table() {
        let size = |v: u8| 17 + 4 * usize::from(v);
        assert_eq!(alignment_centres(1, size(1)), Vec::<usize>::new());
        assert_eq!(alignment_centres(2, size(2)), [6, 18]);
        assert_eq!(alignment_centres(7, size(7)), [6, 22, 38]);
        assert_eq!(alignment_centres(32, size(32)), [6, 34, 60, 86, 112, 138]);
        assert_eq!(
            alignment_centres(36, size(36)),
            [6, 24, 50, 76, 102, 128, 154]
        );
        assert_eq!(
            alignment_centres(40, size(40)),
            [6, 30, 58, 86, 114, 142, 170]
        );
    }

    #[test]
    fn dark_runs_cover_exactly_the_dark_modules_of_a_row() {
        for text in ["a", "runs of dark modules", &"x".repeat(300)] {
            let symbol = encode(text, QrCodeEcc::Medium).unwrap();
            for y in 0..symbol.size {
                let mut from_runs = vec![false; symbol.size];
                let mut last_end = None;
                for run in symbol.dark_runs(y) {
                    assert!(!run.is_empty() && last_end.is_none_or(|end| run.start > end));
                    from_runs[run.clone()].fill(true);
                    last_end = Some(run.end);
                }
                let modules: Vec<bool> = (0..symbol.size).map(|x| symbol.is_dark(x, y)).collect();
                assert_eq!(from_runs, modules, "{text:?} row {y}");
            }
        }
    }

    #[test]
    fn too_much_text_is_refused() {
        assert!(encode(&"x".repeat(3000), QrCodeEcc::Low).is_err());
        assert!(encode(&"x".repeat(2900), QrCodeEcc::Low).is_ok());
    }
}
