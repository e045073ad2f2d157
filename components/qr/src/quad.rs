//! The perspective map of the unit square onto a quadrilateral (Heckbert's closed form), to
//! place points of a symbol's module grid from four known corners.

/// `(u, v)` in the unit square → the point of the quadrilateral it corresponds to.
pub struct Perspective {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
    g: f64,
    h: f64,
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
            a: x1 - x0 + g * x1,
            b: x3 - x0 + h * x3,
            c: x0,
            d: y1 - y0 + g * y1,
            e: y3 - y0 + h * y3,
            f: y0,
            g,
            h,
        })
    }

    pub fn map(&self, u: f64, v: f64) -> [f64; 2] {
        let w = self.g * u + self.h * v + 1.0;
        [
            (self.a * u + self.b * v + self.c) / w,
            (self.d * u + self.e * v + self.f) / w,
        ]
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
}
