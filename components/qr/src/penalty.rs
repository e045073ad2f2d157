//! ISO/IEC 18004 §7.8.3 mask penalty, scored on bit lines ([`Bits`]) a word at a time.
//!
//! The rules are those of the reference encoders: a line is framed by light modules (the
//! quiet zone), and a 1:1:3:1:1 finder lookalike of any unit scores when four units of light
//! lie on one side of it. Runs (N1), 2×2 blocks (N2), the dark share (N4) and unit-1 finder
//! lookalikes (N3) are counted with shifts and `count_ones`; only a line with a dark run of
//! 6, 9, 12… modules, the middle of a wider lookalike, is walked run by run for N3.

use crate::bits::Bits;

const N1: u32 = 3;
const N2: u32 = 3;
const N3: u32 = 40;
const N4: u32 = 10;

/// The penalty of a symbol given as its rows and its columns (the same modules, transposed).
pub fn score<const W: usize>(rows: &[Bits<W>], columns: &[Bits<W>]) -> u32 {
    let width = rows.len();
    let lines: u32 = rows
        .iter()
        .chain(columns)
        .map(|line| long_runs(line, width) + N3 * finder_lookalikes(line, width))
        .sum();
    let blocks: u32 = rows
        .windows(2)
        .map(|pair| same_colour_blocks(&pair[0], &pair[1], width))
        .sum();
    let dark: u32 = rows.iter().map(Bits::count).sum();
    lines + N2 * blocks + N4 * balance_steps(dark, (width * width) as u32)
}

/// Rule N1: a run of `L >= 5` modules of one colour scores `N1 + L - 5`.
fn long_runs<const W: usize>(line: &Bits<W>, width: usize) -> u32 {
    // Bit i: modules i and i + 1 share a colour.
    let pairs = !(*line ^ line.down(1)) & Bits::first(width - 1);
    // Bit i: modules i ..= i + 4 share a colour; a run of L has L - 4 of these.
    let fives = pairs & pairs.down(1) & pairs.down(2) & pairs.down(3);
    let run_starts = fives & !fives.up(1);
    fives.count() + (N1 - 1) * run_starts.count()
}

/// Rule N3: how many finder lookalikes the line holds, counted once per light side of four units.
fn finder_lookalikes<const W: usize>(line: &Bits<W>, width: usize) -> u32 {
    let m = *line;
    if has_wide_finder_middle(line, width) {
        return finder_lookalikes_by_runs(line, width);
    }
    // Bit i: modules i - 1 ..= i + 7 read light, 1011101, light.
    let core = m
        & !m.down(1)
        & m.down(2)
        & m.down(3)
        & m.down(4)
        & !m.down(5)
        & m.down(6)
        & !m.up(1)
        & !m.down(7);
    let light_after = !(m.down(8) | m.down(9) | m.down(10));
    let light_before = !(m.up(2) | m.up(3) | m.up(4));
    (core & light_after).count() + (core & light_before).count()
}

/// Whether the line has a dark run of 3u modules for a unit u >= 2 that fits in it: the middle
/// of a lookalike wider than one unit.
fn has_wide_finder_middle<const W: usize>(m: &Bits<W>, width: usize) -> bool {
    let six = *m & m.down(1) & m.down(2) & m.down(3) & m.down(4) & m.down(5);
    if !six.any() {
        return false;
    }
    let long_starts = six & !m.up(1);
    let ends = *m & !m.down(1);
    long_starts.ones().any(|start| {
        let end = ends.ones().find(|&end| end >= start).unwrap_or(width - 1);
        let run = end + 1 - start;
        run % 3 == 0 && run / 3 <= width / 7
    })
}

/// Rule N3 for lookalikes of any unit, from the line's runs.
fn finder_lookalikes_by_runs<const W: usize>(line: &Bits<W>, width: usize) -> u32 {
    let mut found = 0;
    let mut history = RunHistory::default();
    let mut dark = line.get(0);
    // The light border before the line joins its first light run (empty when it starts dark).
    let mut border = width as u32;
    if dark {
        history.push(border);
        border = 0;
    }
    let mut start = 0;
    for last in run_ends(line, width).ones() {
        let end = last + 1;
        let run = (end - start) as u32;
        if dark {
            history.push(run);
        } else {
            history.push(run + border);
            border = 0;
        }
        if end == width {
            // The light border after the line: a light run of its own, or part of the last.
            if dark {
                history.push(width as u32);
            } else {
                history.extend_newest(width as u32);
            }
            return found + history.finder_lookalikes();
        }
        if !dark {
            found += history.finder_lookalikes();
        }
        start = end;
        dark = !dark;
    }
    unreachable!("the last module always ends a run")
}

/// Bit `i` set where a run ends at module `i`: module `i + 1` differs, or `i` is the last.
fn run_ends<const W: usize>(line: &Bits<W>, width: usize) -> Bits<W> {
    let mut ends = (*line ^ line.down(1)) & Bits::first(width - 1);
    ends.set(width - 1, true);
    ends
}

/// The last seven run lengths of a line, alternating colours, in a ring.
#[derive(Default)]
struct RunHistory {
    runs: [u32; 8],
    pushed: usize,
}

impl RunHistory {
    fn push(&mut self, run: u32) {
        self.runs[self.pushed & 7] = run;
        self.pushed += 1;
    }

    fn extend_newest(&mut self, by: u32) {
        self.runs[(self.pushed + 7) & 7] += by;
    }

    /// The `k`-th newest run (0 = newest); 0 before the line had that many.
    fn newest(&self, k: usize) -> u32 {
        self.runs[(self.pushed + 7 - k) & 7]
    }

    /// Finder lookalikes ending at the newest run, which must be light: 0, 1 or 2.
    fn finder_lookalikes(&self) -> u32 {
        let unit = self.newest(1);
        let core = unit > 0
            && self.newest(2) == unit
            && self.newest(3) == 3 * unit
            && self.newest(4) == unit
            && self.newest(5) == unit;
        if !core {
            return 0;
        }
        let (after, before) = (self.newest(0), self.newest(6));
        u32::from(after >= 4 * unit && before >= unit)
            + u32::from(before >= 4 * unit && after >= unit)
    }
}

/// Rule N2: 2×2 blocks of one colour whose top row is `upper`.
fn same_colour_blocks<const W: usize>(upper: &Bits<W>, lower: &Bits<W>, width: usize) -> u32 {
    let same_below = !(*upper ^ *lower);
    let same_right = !(*upper ^ upper.down(1));
    (same_below & same_below.down(1) & same_right & Bits::first(width - 1)).count()
}

/// Rule N4: how many 5% steps the dark share lies beyond 45–55%.
fn balance_steps(dark: u32, total: u32) -> u32 {
    let off = (i64::from(dark) * 20 - i64::from(total) * 10).unsigned_abs() as u32;
    off.div_ceil(total).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(modules: &str) -> Bits<3> {
        let mut line = Bits::ZERO;
        for (i, c) in modules.chars().enumerate() {
            line.set(i, c == '#');
        }
        line
    }

    fn n1(modules: &str) -> u32 {
        long_runs(&line(modules), modules.len())
    }

    /// N3 both ways: word-parallel where it applies, and run by run.
    fn n3(modules: &str) -> (u32, u32) {
        let l = line(modules);
        (
            finder_lookalikes(&l, modules.len()),
            finder_lookalikes_by_runs(&l, modules.len()),
        )
    }

    #[test]
    fn runs_of_five_or_more_score_three_plus_the_excess() {
        assert_eq!(n1("#.#.#.#.#.#."), 0);
        assert_eq!(n1("#####.#.#.#."), 3);
        assert_eq!(n1("#######.#.#."), 5);
        // The light border counts only for finder lookalikes, never for runs.
        assert_eq!(n1("#.#.#.#......"), 4);
        assert_eq!(n1("....##....."), 3);
        let mut long = String::from(".");
        long.push_str(&"#".repeat(130));
        long.push('.');
        assert_eq!(n1(&long), N1 + 125);
    }

    #[test]
    fn finder_lookalikes_need_four_light_units_on_one_side() {
        // 1:1:3:1:1 with the light border on both sides: counted from both sides.
        assert_eq!(n3("#.###.#"), (2, 2));
        // Four light modules after, a dark module right before: once.
        assert_eq!(n3("##.#.###.#....#"), (1, 1));
        // Only three light modules on each side (dark beyond): none.
        assert_eq!(n3("#...#.###.#...#"), (0, 0));
        // Not a lookalike when a run is off by one.
        assert_eq!(n3("....#.####.#...."), (0, 0));
        // Across a word boundary.
        let shifted = format!("{}#.###.#....#", "#.".repeat(30));
        assert_eq!(n3(&shifted), (1, 1));
    }

    #[test]
    fn wider_lookalikes_are_found_run_by_run() {
        // 2:2:6:2:2 with 8 light after and 2 before.
        assert_eq!(n3("#..##..######..##........#").0, 1);
        // With only 1 light before it does not count.
        assert_eq!(n3("#.##..######..##........#").0, 0);
        // A unit-1 lookalike in a line that also has a dark run of six.
        assert_eq!(n3("######....#.###.#....").0, 2);
        // 3:3:9:3:3 across a word boundary.
        let wide = format!("{}...###...#########...###............", "#.".repeat(28));
        assert_eq!(n3(&wide).0, 1);
    }

    #[test]
    fn blocks_are_counted_once_per_top_left_module() {
        let upper = line("##..#");
        // Blocks at 0 (dark) and 2 (light); 1 and 3 mix colours; none starts at the last module.
        assert_eq!(same_colour_blocks(&upper, &upper, 5), 2);
        let wide = line(&"#".repeat(150));
        assert_eq!(same_colour_blocks(&wide, &wide, 150), 149);
        assert_eq!(same_colour_blocks(&wide, &Bits::ZERO, 150), 0);
    }

    #[test]
    fn balance_counts_whole_steps_beyond_the_middle_band() {
        // A symbol has an odd number of modules, so the share is never exactly 50%.
        assert_eq!(balance_steps(544, 1089), 0);
        assert_eq!(balance_steps(598, 1089), 0); // 54.9%
        assert_eq!(balance_steps(599, 1089), 1); // 55.0%
        assert_eq!(balance_steps(1089, 1089), 9);
    }
}
