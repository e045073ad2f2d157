//! Sampling a symbol whose module grid is bent (a code on a bottle, on fabric, on crumpled
//! paper), where one perspective map through the finder patterns puts modules far from them
//! half a module or more off.
//!
//! The grid is measured where the symbol says where its modules are: the three finder
//! patterns, the timing patterns along row and column 6 (traced module by module, each found by
//! the alternation it must show) and every alignment pattern. A module's place is the
//! perspective map through the finder patterns (and the bottom-right alignment pattern, when
//! found), plus the timing row's residual at its column and the timing column's residual at
//! its row, plus the alignment patterns' remaining residual interpolated over their grid. That
//! is exact for warps that bend rows and columns independently (a cylinder, a wave) and close
//! for a gentle crumple.
//!
//! Invariants: a grid is a guess; the caller keeps what it reads only when the decoder's
//! Reed–Solomon check accepts it. Samples outside the image read as light; nothing here
//! allocates more than the symbol's own size.

use rxing::common::BitMatrix;
use rxing::qrcode::cpp_port::detector::{
    EstimateModuleSize, FinderPatternSet, LocateAlignmentPattern,
};
use rxing::Point;

use crate::quad::Perspective;

type Xy = [f64; 2];

fn add(a: Xy, b: Xy) -> Xy {
    [a[0] + b[0], a[1] + b[1]]
}

fn sub(a: Xy, b: Xy) -> Xy {
    [a[0] - b[0], a[1] - b[1]]
}

fn scale(a: Xy, s: f64) -> Xy {
    [a[0] * s, a[1] * s]
}

fn distance(a: Xy, b: Xy) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A guess of a symbol's grid: its size in modules and a map from module coordinates (a
/// module's centre at `x + 0.5, y + 0.5`) to pixels.
pub struct BentGrid {
    size: usize,
    base: Perspective,
    /// Residual of the timing row, by column (sorted knots; linear between, flat beyond).
    row: Vec<(f64, Xy)>,
    /// Residual of the timing column, by row.
    column: Vec<(f64, Xy)>,
    /// What both count twice: their residual where they cross.
    crossing: Xy,
    /// Alignment patterns' remaining residuals on their grid (module centres, values).
    alignment: Option<(Vec<f64>, Vec<Vec<Xy>>)>,
    /// Shifts in module coordinates measured at the modules' edges ([`BentGrid::refine`]).
    shift: Option<Shift>,
}

/// Grids to try for the finder patterns `set` in `binary` (set = dark): the version its
/// finder patterns' spacing suggests, then its neighbours.
pub fn grids<'a>(
    binary: &'a BitMatrix,
    set: &'a FinderPatternSet,
) -> impl Iterator<Item = BentGrid> + 'a {
    let xy = |p: Point| [f64::from(p.x), f64::from(p.y)];
    let (tl, tr, bl) = (xy(set.tl.p), xy(set.tr.p), xy(set.bl.p));
    let module = |a, b| (EstimateModuleSize(binary, a, b) + EstimateModuleSize(binary, b, a)) / 2.0;
    let (top, left) = (module(set.tl, set.tr), module(set.tl, set.bl));
    let versions: Vec<usize> = if top > 0.0 && left > 0.0 {
        let modules = (distance(tl, tr) / top + distance(tl, bl) / left) / 2.0 + 7.0;
        let version = ((modules - 17.0) / 4.0).round().clamp(1.0, 40.0) as usize;
        [version, version - 1, version + 1]
            .into_iter()
            .filter(|v| (1..=40).contains(v))
            .collect()
    } else {
        Vec::new()
    };
    let module_px = (top + left) / 2.0;
    versions
        .into_iter()
        .filter_map(move |version| BentGrid::measure(binary, [tl, tr, bl], version, module_px))
}

impl BentGrid {
    /// Measures the grid of a symbol of `version` whose finder pattern centres are `tl`,
    /// `tr` and `bl`.
    fn measure(
        binary: &BitMatrix,
        [tl, tr, bl]: [Xy; 3],
        version: usize,
        module_px: f64,
    ) -> Option<BentGrid> {
        let size = 17 + 4 * version;
        let n = size as f64;
        let finders = [
            [3.5, 3.5],
            [n - 3.5, 3.5],
            [n - 3.5, n - 3.5],
            [3.5, n - 3.5],
        ];
        let parallelogram = add(tr, sub(bl, tl));
        let base = Perspective::between(finders, [tl, tr, parallelogram, bl])?;
        let row = trace(binary, size, &base, true);
        let column = trace(binary, size, &base, false);
        let mut grid = BentGrid::from_traces(size, base, &row, &column);
        let centres = alignment_centres(version);
        if centres.is_empty() {
            return Some(grid);
        }
        let found = grid.find_alignment(binary, &centres, module_px);
        // The bottom-right alignment pattern, when found, is the perspective map's fourth point.
        let last = centres.len() - 1;
        if let Some(br) = found[last][last] {
            let far = centres[last] as f64 + 0.5;
            let quad = [[3.5, 3.5], [n - 3.5, 3.5], [far, far], [3.5, n - 3.5]];
            if let Some(base) = Perspective::between(quad, [tl, tr, br, bl]) {
                grid = BentGrid::from_traces(size, base, &row, &column);
            }
        }
        grid.alignment = Some(grid.alignment_residuals(&centres, &found));
        Some(grid)
    }

    /// The grid through `base` and the traced timing module centres (module, pixel).
    fn from_traces(
        size: usize,
        base: Perspective,
        row: &[(f64, Xy)],
        column: &[(f64, Xy)],
    ) -> BentGrid {
        let n = size as f64;
        let residuals = |traced: &[(f64, Xy)], along_row: bool| {
            let mut knots = vec![(3.5, [0.0, 0.0])];
            knots.extend(traced.iter().map(|&(m, pixel)| {
                let expected = if along_row {
                    base.map(m, 6.5)
                } else {
                    base.map(6.5, m)
                };
                (m, sub(pixel, expected))
            }));
            knots.push((n - 3.5, [0.0, 0.0]));
            knots
        };
        let row = smoothed(residuals(row, true));
        let column = smoothed(residuals(column, false));
        let crossing = scale(add(interpolate(&row, 6.5), interpolate(&column, 6.5)), 0.5);
        BentGrid {
            size,
            base,
            row,
            column,
            crossing,
            alignment: None,
            shift: None,
        }
    }

    /// Where module coordinates `(x, y)` are in pixels.
    fn locate(&self, x: f64, y: f64) -> Xy {
        let [x, y] = match &self.shift {
            Some(shift) => add([x, y], shift.at(x, y)),
            None => [x, y],
        };
        let mut p = add(self.base.map(x, y), interpolate(&self.row, x));
        p = sub(add(p, interpolate(&self.column, y)), self.crossing);
        if let Some((centres, residuals)) = &self.alignment {
            p = add(p, bilinear(centres, residuals, x, y));
        }
        p
    }

    /// Each alignment pattern searched for where the grid so far puts it (`None` where not
    /// found, and at the three finder patterns' places).
    fn find_alignment(
        &self,
        binary: &BitMatrix,
        centres: &[usize],
        module_px: f64,
    ) -> Vec<Vec<Option<Xy>>> {
        let last = centres.len() - 1;
        (0..centres.len())
            .map(|j| {
                (0..centres.len())
                    .map(|i| {
                        let finder = (i == 0 || j == 0) && (i + j == 0 || i + j == last);
                        if finder {
                            return None;
                        }
                        let m = |c: usize| centres[c] as f64 + 0.5;
                        let expected = self.locate(m(i), m(j));
                        let estimate = Point {
                            x: expected[0] as f32,
                            y: expected[1] as f32,
                        };
                        let found = LocateAlignmentPattern(
                            binary,
                            module_px.round().max(1.0) as i32,
                            estimate,
                        )?;
                        let found = [f64::from(found.x), f64::from(found.y)];
                        (distance(found, expected) < 2.0 * module_px).then_some(found)
                    })
                    .collect()
            })
            .collect()
    }

    /// What is left between the alignment patterns found and where the grid puts them; zero
    /// at the finder patterns and where none was found.
    fn alignment_residuals(
        &self,
        centres: &[usize],
        found: &[Vec<Option<Xy>>],
    ) -> (Vec<f64>, Vec<Vec<Xy>>) {
        let m: Vec<f64> = centres.iter().map(|&c| c as f64 + 0.5).collect();
        let residuals = found
            .iter()
            .enumerate()
            .map(|(j, row)| {
                row.iter()
                    .enumerate()
                    .map(|(i, at)| at.map_or([0.0, 0.0], |at| sub(at, self.locate(m[i], m[j]))))
                    .collect()
            })
            .collect();
        (m, residuals)
    }

    /// The share of the modules whose colour the standard fixes (finder, timing and alignment
    /// patterns) that `bits` has right: near 1 for a grid worth refining.
    pub fn agreement(&self, bits: &BitMatrix) -> f64 {
        let function = FunctionPatterns::of(self.size);
        let (mut known, mut right) = (0u32, 0u32);
        for y in 0..self.size {
            for x in 0..self.size {
                if let Some(dark) = function.colour(x, y) {
                    known += 1;
                    right += u32::from(bits.get(x as u32, y as u32) == dark);
                }
            }
        }
        f64::from(right) / f64::from(known.max(1))
    }

    /// The symbol's modules sampled at their centres (set = dark), for the decoder.
    pub fn bits(&self, binary: &BitMatrix) -> Option<BitMatrix> {
        let mut bits = BitMatrix::with_single_dimension(self.size as u32).ok()?;
        for y in 0..self.size {
            for x in 0..self.size {
                if is_dark(binary, self.locate(x as f64 + 0.5, y as f64 + 0.5)) {
                    bits.set(x as u32, y as u32);
                }
            }
        }
        Some(bits)
    }

    /// Moves the grid to where the image shows its modules' edges: every edge between two
    /// modules of different colours (sampled, or known for the function patterns) is looked
    /// for across ±0.45 module of where the grid puts it, and the shifts found are smoothed
    /// over a few modules and added to the grid. `bits` is what the grid sampled as it stands;
    /// most modules must already be right.
    pub fn refine(&mut self, binary: &BitMatrix, bits: &BitMatrix, spread: f64) {
        let size = self.size;
        let function = FunctionPatterns::of(size);
        let colour = |x: usize, y: usize| {
            function
                .colour(x, y)
                .unwrap_or_else(|| bits.get(x as u32, y as u32))
        };
        let mut across = Vec::new();
        let mut down = Vec::new();
        for y in 0..size {
            for x in 0..size {
                let here = colour(x, y);
                if x + 1 < size && colour(x + 1, y) != here {
                    let at = |s: f64| self.locate(x as f64 + 1.0 + s, y as f64 + 0.5);
                    if let Some(s) = edge(binary, here, at) {
                        across.push(([x as f64 + 1.0, y as f64 + 0.5], s));
                    }
                }
                if y + 1 < size && colour(x, y + 1) != here {
                    let at = |s: f64| self.locate(x as f64 + 0.5, y as f64 + 1.0 + s);
                    if let Some(s) = edge(binary, here, at) {
                        down.push(([x as f64 + 0.5, y as f64 + 1.0], s));
                    }
                }
            }
        }
        let measured = Shift::smoothed(size, &across, &down, spread);
        self.shift = Some(match self.shift.take() {
            Some(shift) => shift.plus(&measured),
            None => measured,
        });
    }

    /// The symbol's corners in pixels: top-left, top-right, bottom-right, bottom-left.
    pub fn corners(&self) -> [[f32; 2]; 4] {
        let n = self.size as f64;
        [(0.0, 0.0), (n, 0.0), (n, n), (0.0, n)].map(|(x, y)| {
            let [px, py] = self.locate(x, y);
            [px as f32, py as f32]
        })
    }
}

/// Where along `at(s)`, `s` from -0.45 to 0.45 module, the colour changes from `first` to the
/// other: the boundary that the fewest samples contradict; `None` when more than three do.
fn edge(binary: &BitMatrix, first: bool, at: impl Fn(f64) -> Xy) -> Option<f64> {
    const STEPS: usize = 19;
    let samples: [bool; STEPS] =
        std::array::from_fn(|i| is_dark(binary, at(-0.45 + 0.05 * i as f64)) == first);
    // Boundary b: samples before it are `first`, from it on the other colour.
    let mut wrong = samples.iter().filter(|&&same| same).count();
    let (mut best, mut best_at) = (wrong, 0);
    for (b, &same) in samples.iter().enumerate() {
        wrong = if same { wrong - 1 } else { wrong + 1 };
        if wrong < best {
            (best, best_at) = (wrong, b + 1);
        }
    }
    (best <= 3 && best_at > 0 && best_at < STEPS).then(|| -0.45 + 0.05 * (best_at as f64 - 0.5))
}

/// Colours the standard fixes: the finder patterns with their separators, the timing
/// patterns and the alignment patterns.
struct FunctionPatterns {
    size: usize,
    alignment: Vec<usize>,
}

impl FunctionPatterns {
    fn of(size: usize) -> FunctionPatterns {
        FunctionPatterns {
            size,
            alignment: alignment_centres((size - 17) / 4),
        }
    }

    /// Whether module `(x, y)` is dark, where the standard says; `None` elsewhere.
    fn colour(&self, x: usize, y: usize) -> Option<bool> {
        let n = self.size as i64;
        let (x, y) = (x as i64, y as i64);
        for (fx, fy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
            if (fx - 1..=fx + 7).contains(&x) && (fy - 1..=fy + 7).contains(&y) {
                let (dx, dy) = (x - fx, y - fy);
                if !(0..7).contains(&dx) || !(0..7).contains(&dy) {
                    return Some(false);
                }
                return Some((dx - 3).abs().max((dy - 3).abs()) != 2);
            }
        }
        if y == 6 || x == 6 {
            return Some((x + y) % 2 == 0);
        }
        let last = self.alignment.len().checked_sub(1)?;
        for (j, &cy) in self.alignment.iter().enumerate() {
            for (i, &cx) in self.alignment.iter().enumerate() {
                let finder = (i == 0 || j == 0) && (i + j == 0 || i + j == last);
                let d = (x - cx as i64).abs().max((y - cy as i64).abs());
                if !finder && d <= 2 {
                    return Some(d != 1);
                }
            }
        }
        None
    }
}

/// A smooth field of shifts in module coordinates, on nodes [`Shift::SPACING`] modules apart.
struct Shift {
    /// Nodes a side.
    side: usize,
    /// (x, y) shift at each node, row by row.
    nodes: Vec<Xy>,
}

impl Shift {
    const SPACING: f64 = 2.0;

    /// Each node's shift: the mean of the edges measured near it (across edges say how far x
    /// moves, down edges how far y moves) weighed by a Gaussian of `spread` modules, pulled to
    /// zero where few were.
    fn smoothed(size: usize, across: &[(Xy, f64)], down: &[(Xy, f64)], spread: f64) -> Shift {
        let reach = 2.5 * spread;
        let side = (size as f64 / Self::SPACING).ceil() as usize + 1;
        let mut sums = vec![[0.0f64; 4]; side * side];
        for (axis, measured) in [across, down].into_iter().enumerate() {
            for &([x, y], s) in measured {
                let near = |c: f64| {
                    let lo = ((c - reach) / Self::SPACING).ceil().max(0.0) as usize;
                    let hi = (((c + reach) / Self::SPACING).floor() as usize).min(side - 1);
                    lo..=hi
                };
                for j in near(y) {
                    for i in near(x) {
                        let d2 = (i as f64 * Self::SPACING - x).powi(2)
                            + (j as f64 * Self::SPACING - y).powi(2);
                        let w = (-d2 / (2.0 * spread * spread)).exp();
                        let sum = &mut sums[j * side + i];
                        sum[axis * 2] += w * s;
                        sum[axis * 2 + 1] += w;
                    }
                }
            }
        }
        let nodes = sums
            .iter()
            .map(|[sx, wx, sy, wy]| [sx / (wx + 0.5), sy / (wy + 0.5)])
            .collect();
        Shift { side, nodes }
    }

    fn plus(&self, other: &Shift) -> Shift {
        Shift {
            side: self.side,
            nodes: self
                .nodes
                .iter()
                .zip(&other.nodes)
                .map(|(&a, &b)| add(a, b))
                .collect(),
        }
    }

    /// The shift at module coordinates `(x, y)`, bilinear between nodes.
    fn at(&self, x: f64, y: f64) -> Xy {
        let cell = |c: f64| {
            let c = (c / Self::SPACING).clamp(0.0, (self.side - 1) as f64);
            let i = (c.floor() as usize).min(self.side - 2);
            (i, c - i as f64)
        };
        let ((i, s), (j, t)) = (cell(x), cell(y));
        let node = |i: usize, j: usize| self.nodes[j * self.side + i];
        let top = add(scale(node(i, j), 1.0 - s), scale(node(i + 1, j), s));
        let bottom = add(scale(node(i, j + 1), 1.0 - s), scale(node(i + 1, j + 1), s));
        add(scale(top, 1.0 - t), scale(bottom, t))
    }
}

/// Whether the pixel under `p` is dark; outside the image, light.
fn is_dark(binary: &BitMatrix, [x, y]: Xy) -> bool {
    let (x, y) = (x.floor(), y.floor());
    x >= 0.0
        && y >= 0.0
        && x < f64::from(binary.width())
        && y < f64::from(binary.height())
        && binary.get(x as u32, y as u32)
}

/// The colour row 6 (and column 6) must have at module `j`: the finder patterns' dark edge,
/// their light separators, and the timing pattern's alternation between them (dark at even).
fn timing_is_dark(j: i64, size: i64) -> bool {
    match j {
        ..=6 => true,
        7 => false,
        j if j >= size - 7 => true,
        j if j == size - 8 => false,
        j => j % 2 == 0,
    }
}

/// Offsets tried around a predicted module centre, in modules each way.
const SEARCH: [f64; 9] = [-0.5, -0.375, -0.25, -0.125, 0.0, 0.125, 0.25, 0.375, 0.5];

/// The timing pattern's module centres along row 6 (`along_row`) or column 6, from module 8 to
/// `size - 9`: each one is looked for around where the previous one and the local step put
/// it, at the offset whose neighbourhood best shows the alternation it must have (the centre
/// of the best offsets when several tie). Returns (module centre, pixel) pairs.
fn trace(binary: &BitMatrix, size: usize, base: &Perspective, along_row: bool) -> Vec<(f64, Xy)> {
    let at = |along: f64, across: f64| {
        if along_row {
            base.map(along, across)
        } else {
            base.map(across, along)
        }
    };
    let mut predicted = at(8.5, 6.5);
    let mut step = sub(at(9.5, 6.5), predicted);
    let mut traced: Vec<(f64, Xy)> = Vec::with_capacity(size.saturating_sub(16));
    for k in 8..size.saturating_sub(8) {
        let m = k as f64 + 0.5;
        let across = sub(at(m, 7.5), at(m, 6.5));
        let score = |q: Xy| {
            let mut matches = 0;
            for t in [-1.0, -0.3, 0.0, 0.3, 1.0] {
                for w in [-0.3, 0.0, 0.3] {
                    let p = add(add(q, scale(step, t)), scale(across, w));
                    let expected = timing_is_dark(k as i64 + t.round() as i64, size as i64);
                    matches += u32::from(is_dark(binary, p) == expected);
                }
            }
            matches
        };
        let mut best = 0;
        let mut sum = [0.0, 0.0];
        let mut count = 0.0;
        for a in SEARCH {
            for b in SEARCH {
                let q = add(add(predicted, scale(step, a)), scale(across, b));
                let s = score(q);
                if s > best {
                    (best, sum, count) = (s, [0.0, 0.0], 0.0);
                }
                if s == best {
                    sum = add(sum, q);
                    count += 1.0;
                }
            }
        }
        let centre = scale(sum, 1.0 / count);
        if let Some(&(_, previous)) = traced.last() {
            step = scale(add(step, sub(centre, previous)), 0.5);
        }
        traced.push((m, centre));
        predicted = add(centre, step);
    }
    traced
}

/// Each knot's value averaged with its two neighbours each way (the first and last kept): the
/// trace places each module to a fraction of a module; the warp is smoother than that.
fn smoothed(knots: Vec<(f64, Xy)>) -> Vec<(f64, Xy)> {
    let last = knots.len().saturating_sub(1);
    (0..knots.len())
        .map(|i| {
            if i == 0 || i == last {
                return knots[i];
            }
            let window = &knots[i.saturating_sub(2).max(1)..(i + 3).min(last)];
            let sum = window.iter().fold([0.0, 0.0], |s, &(_, r)| add(s, r));
            (knots[i].0, scale(sum, 1.0 / window.len() as f64))
        })
        .collect()
}

/// Piecewise-linear interpolation through sorted knots, flat beyond the first and last.
fn interpolate(knots: &[(f64, Xy)], at: f64) -> Xy {
    let i = knots.partition_point(|&(m, _)| m <= at);
    if i == 0 {
        return knots[0].1;
    }
    if i == knots.len() {
        return knots[i - 1].1;
    }
    let ((m0, a), (m1, b)) = (knots[i - 1], knots[i]);
    let t = (at - m0) / (m1 - m0);
    add(scale(a, 1.0 - t), scale(b, t))
}

/// Bilinear interpolation of `values[row][column]` on the grid `centres` × `centres`, flat
/// beyond its edges.
fn bilinear(centres: &[f64], values: &[Vec<Xy>], x: f64, y: f64) -> Xy {
    let cell = |at: f64| {
        let i = centres
            .partition_point(|&c| c <= at)
            .clamp(1, centres.len() - 1);
        let t = ((at - centres[i - 1]) / (centres[i] - centres[i - 1])).clamp(0.0, 1.0);
        (i - 1, t)
    };
    let ((i, s), (j, t)) = (cell(x), cell(y));
    let top = add(scale(values[j][i], 1.0 - s), scale(values[j][i + 1], s));
    let bottom = add(
        scale(values[j + 1][i], 1.0 - s),
        scale(values[j + 1][i + 1], s),
    );
    add(scale(top, 1.0 - t), scale(bottom, t))
}

/// Rows (and columns) of the alignment pattern centres of `version` (ISO/IEC 18004 Annex E):
/// 6, then evenly spaced up to `size - 7`; none for version 1.
fn alignment_centres(version: usize) -> Vec<usize> {
    if version == 1 {
        return Vec::new();
    }
    let size = 17 + 4 * version;
    let count = version / 7 + 2;
    let step = if version == 32 {
        26
    } else {
        (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let mut centres: Vec<usize> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    centres.push(6);
    centres.reverse();
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_centres_follow_the_standard_table() {
        assert!(alignment_centres(1).is_empty());
        assert_eq!(alignment_centres(2), [6, 18]);
        assert_eq!(alignment_centres(7), [6, 22, 38]);
        assert_eq!(alignment_centres(15), [6, 26, 48, 70]);
        assert_eq!(alignment_centres(32), [6, 34, 60, 86, 112, 138]);
        assert_eq!(alignment_centres(36), [6, 24, 50, 76, 102, 128, 154]);
        assert_eq!(alignment_centres(40), [6, 30, 58, 86, 114, 142, 170]);
    }

    #[test]
    fn row_six_is_dark_edge_light_separator_then_alternating() {
        let row: String = (0..25)
            .map(|j| if timing_is_dark(j, 25) { '#' } else { '.' })
            .collect();
        assert_eq!(row, "#######.#.#.#.#.#.#######");
    }

    #[test]
    fn interpolation_is_linear_between_knots_and_flat_beyond() {
        let knots = [(1.0, [0.0, 0.0]), (3.0, [2.0, -2.0])];
        assert_eq!(interpolate(&knots, 2.0), [1.0, -1.0]);
        assert_eq!(interpolate(&knots, 0.0), [0.0, 0.0]);
        assert_eq!(interpolate(&knots, 9.0), [2.0, -2.0]);
        let values = vec![vec![[0.0, 0.0], [0.0, 0.0]], vec![[0.0, 0.0], [4.0, 8.0]]];
        assert_eq!(bilinear(&[6.5, 18.5], &values, 12.5, 12.5), [1.0, 2.0]);
        assert_eq!(bilinear(&[6.5, 18.5], &values, 30.0, 30.0), [4.0, 8.0]);
    }
}
