//! A small 2-D rasteriser for the classic-control envs, with the primitives Gymnasium's pygame
//! code uses (filled polygons, filled circles, polylines, vertical lines) in pygame's
//! coordinates: x to the right, y down from the top row, pixel (x, y) covering
//! [x, x+1) × [y, y+1). A pixel belongs to a shape when its centre does; there is no
//! anti-aliasing (pygame's `aapolygon`/`aacircle` soften the shapes' edges by about one pixel).

use super::Frame;

pub struct Canvas {
    frame: Frame,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Canvas {
        Canvas { frame: Frame::filled(width, height, background) }
    }

    fn put(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.frame.width as i64 || y >= self.frame.height as i64 {
            return;
        }
        let i = 3 * (y as usize * self.frame.width + x as usize);
        self.frame.rgb[i..i + 3].copy_from_slice(&rgb);
    }

    /// Fills a polygon (even–odd rule), scanline by scanline at pixel centres.
    pub fn polygon(&mut self, points: &[(f64, f64)], rgb: [u8; 3]) {
        if points.len() < 3 {
            return;
        }
        let top = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).floor().max(0.0) as i64;
        let bottom = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max).ceil() as i64;
        let mut crossings = Vec::new();
        for y in top..bottom.min(self.frame.height as i64) {
            let cy = y as f64 + 0.5;
            crossings.clear();
            for (i, &(x0, y0)) in points.iter().enumerate() {
                let (x1, y1) = points[(i + 1) % points.len()];
                // Half-open in y, so a vertex shared by two edges counts once.
                if (y0 <= cy) != (y1 <= cy) {
                    crossings.push(x0 + (cy - y0) / (y1 - y0) * (x1 - x0));
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                // Pixels whose centre x + 0.5 lies in [pair[0], pair[1]).
                let (from, to) = ((pair[0] - 0.5).ceil() as i64, (pair[1] - 0.5).ceil() as i64);
                for x in from..to {
                    self.put(x, y, rgb);
                }
            }
        }
    }

    /// Fills a disc of integer centre and radius as pygame's `gfxdraw.filled_circle`: the pixels
    /// (x, y) with (x − cx)² + (y − cy)² ≤ r².
    pub fn circle(&mut self, cx: i64, cy: i64, r: i64, rgb: [u8; 3]) {
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r * r {
                    self.put(cx + dx, cy + dy, rgb);
                }
            }
        }
    }

    /// A one-pixel polyline through `points` (Bresenham between rounded points).
    pub fn polyline(&mut self, points: &[(f64, f64)], rgb: [u8; 3]) {
        for w in points.windows(2) {
            let (mut x0, mut y0) = (w[0].0.round() as i64, w[0].1.round() as i64);
            let (x1, y1) = (w[1].0.round() as i64, w[1].1.round() as i64);
            let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
            let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
            let mut err = dx + dy;
            loop {
                self.put(x0, y0, rgb);
                if x0 == x1 && y0 == y1 {
                    break;
                }
                let e2 = 2 * err;
                if e2 >= dy {
                    err += dy;
                    x0 += sx;
                }
                if e2 <= dx {
                    err += dx;
                    y0 += sy;
                }
            }
        }
    }

    /// A vertical line at column `x` from row `y0` to row `y1`, both included
    /// (`gfxdraw.vline`).
    pub fn vline(&mut self, x: i64, y0: i64, y1: i64, rgb: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.put(x, y, rgb);
        }
    }

    /// The picture turned upside down, as Gymnasium's envs flip pygame's surface
    /// (`pygame.transform.flip(surf, False, True)`) so that y points up.
    pub fn into_flipped(self) -> Frame {
        let Frame { width, height, rgb } = self.frame;
        Frame::from_bottom_up(width, height, &rgb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_aligned_square_covers_exactly_its_pixels() {
        let mut c = Canvas::new(10, 10, [255; 3]);
        c.polygon(&[(2.0, 3.0), (6.0, 3.0), (6.0, 5.0), (2.0, 5.0)], [1, 2, 3]);
        let f = c.into_flipped();
        let painted: Vec<(usize, usize)> =
            (0..10).flat_map(|y| (0..10).map(move |x| (x, y))).filter(|&(x, y)| f.pixel(x, y) == [1, 2, 3]).collect();
        // Rows 3 and 4 of the canvas are rows 6 and 5 after the flip; columns 2..6.
        let expected: Vec<(usize, usize)> = [5, 6].iter().flat_map(|&y| (2..6).map(move |x| (x, y))).collect();
        let mut painted_sorted = painted.clone();
        painted_sorted.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(painted_sorted, expected);
    }

    #[test]
    fn a_disc_of_radius_two_has_thirteen_pixels() {
        let mut c = Canvas::new(9, 9, [0; 3]);
        c.circle(4, 4, 2, [9, 9, 9]);
        let f = c.into_flipped();
        assert_eq!(f.rgb.chunks_exact(3).filter(|p| p == &[9, 9, 9]).count(), 13);
        assert_eq!(f.pixel(4, 2), [9, 9, 9]);
        assert_eq!(f.pixel(5, 2), [0, 0, 0]);
    }

    #[test]
    fn a_diagonal_line_touches_each_row_once() {
        let mut c = Canvas::new(5, 5, [0; 3]);
        c.polyline(&[(0.0, 0.0), (4.0, 4.0)], [7, 7, 7]);
        let f = c.into_flipped();
        for i in 0..5 {
            assert_eq!(f.pixel(i, 4 - i), [7, 7, 7]);
        }
        assert_eq!(f.rgb.chunks_exact(3).filter(|p| p == &[7, 7, 7]).count(), 5);
    }
}
