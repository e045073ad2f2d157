//! Perspective maps: the unit square onto a quadrilateral (Heckbert's closed form) and one
//! quadrilateral onto another, to place points of a symbol's module grid from four known ones.

/// A projective map of the plane: `(u, v)` → `(x, y)`, a 3×3 matrix acting on `(u, v, 1)`.
#[derive(Debug, Clone, Copy)]
pub struct Perspective {
    m: [[f64; 3]; 3],
}

impl Perspective {
    /// The map taking (0,0), (1,0), (1,1), (0,1) to `corners` in that order; `None` when the
    /// quadrilateral is degenerate (three corners on a line).
    pub fn from_corners(corners: [[f64; 2]; 4]) -> Option<Perspective> {
        let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = corners;
        let (dx1, dx2, dx3) = (x1 - x2, x3 - x2, x0 - x1 + x2 - x3);
        let (dy1, dy2, dy3) = (y1 - y2, y3 - y2, y0 - y1 + y2 - y3);
        let det = dx1 * dy2 - dx2 * dy1;
        if det.abs() < 1e-9 {
            return None;
        }
        let g = (dx3 * dy2 - dx2 * dy3) / det;
        let h = (dx1 * dy3 - dx3 * dy1) / det;
        Some(Perspective {
            m: [
                [x1 - x0 + g * x1, x3 - x0 + h * x3, x0],
                [y1 - y0 + g * y1, y3 - y0 + h * y3, y0],
                [g, h, 1.0],
            ],
        })
    }

    /// The map taking each corner of `from` to the same corner of `to`.
    pub fn between(from: [[f64; 2]; 4], to: [[f64; 2]; 4]) -> Option<Perspective> {
        let square_to_from = Perspective::from_corners(from)?;
        let square_to_to = Perspective::from_corners(to)?;
        Some(square_to_to.after(&square_to_from.inverse()?))
    }

    pub fn map(&self, u: f64, v: f64) -> [f64; 2] {
        let m = &self.m;
        let w = m[2][0] * u + m[2][1] * v + m[2][2];
        [
            (m[0][0] * u + m[0][1] * v + m[0][2]) / w,
            (m[1][0] * u + m[1][1] * v + m[1][2]) / w,
        ]
    }

    /// The map undoing this one; `None` when it is singular.
    fn inverse(&self) -> Option<Perspective> {
        let m = &self.m;
        let cofactor = |r: usize, c: usize| {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
        };
        let det: f64 = (0..3).map(|c| m[0][c] * cofactor(0, c)).sum();
        if det.abs() < 1e-12 {
            return None;
        }
        // The adjugate (transposed cofactors); the scale of a projective matrix is free.
        Some(Perspective {
            m: std::array::from_fn(|r| std::array::from_fn(|c| cofactor(c, r) / det)),
        })
    }

    /// This map applied after `first`.
    fn after(&self, first: &Perspective) -> Perspective {
        let (a, b) = (&self.m, &first.m);
        Perspective {
            m: std::array::from_fn(|r| {
                std::array::from_fn(|c| (0..3).map(|k| a[r][k] * b[k][c]).sum())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 2], b: [f64; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9
    }

    #[test]
    fn corners_map_to_themselves_and_lines_stay_lines() {
        let quad = [[10.0, 20.0], [110.0, 30.0], [130.0, 140.0], [5.0, 120.0]];
        let p = Perspective::from_corners(quad).unwrap();
        for (uv, corner) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
            .into_iter()
            .zip(quad)
        {
            assert!(close(p.map(uv.0, uv.1), corner), "{uv:?}");
        }
        // The centre of the square is where the quadrilateral's diagonals cross.
        let [x, y] = p.map(0.5, 0.5);
        let on_line = |[ax, ay]: [f64; 2], [bx, by]: [f64; 2]| {
            ((bx - ax) * (y - ay) - (by - ay) * (x - ax)).abs() < 1e-6
        };
        assert!(on_line(quad[0], quad[2]) && on_line(quad[1], quad[3]));
    }

    #[test]
    fn a_parallelogram_maps_affinely_and_a_line_does_not_map() {
        let p =
            Perspective::from_corners([[0.0, 0.0], [4.0, 0.0], [6.0, 2.0], [2.0, 2.0]]).unwrap();
        assert!(close(p.map(0.5, 0.5), [3.0, 1.0]));
        assert!(close(p.map(0.25, 1.0), [3.0, 2.0]));
        assert!(
            Perspective::from_corners([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]).is_none()
        );
    }

    #[test]
    fn a_map_between_quadrilaterals_takes_corner_to_corner_and_back() {
        let from = [[3.5, 3.5], [21.5, 3.5], [18.5, 18.5], [3.5, 21.5]];
        let to = [[10.0, 20.0], [110.0, 30.0], [130.0, 140.0], [5.0, 120.0]];
        let p = Perspective::between(from, to).unwrap();
        for (a, b) in from.into_iter().zip(to) {
            assert!(close(p.map(a[0], a[1]), b), "{a:?}");
        }
        let back = p.inverse().unwrap();
        let [x, y] = p.map(7.0, 9.0);
        assert!(close(back.map(x, y), [7.0, 9.0]));
    }
}
