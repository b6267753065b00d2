//! PNG output: a [`Drawing`] rasterised with plotters' bitmap backend (its anti-aliased
//! lines and polygon filler; text from [`font::raster`]) and encoded with the `png` crate.
//!
//! Lines and areas are first drawn white on a black scratch image; the grey level is then
//! the coverage with which their colour is blended into the picture, inside the clip
//! rectangle. That gives clipping, opacity, widths below one pixel (drawn one pixel wide
//! at proportionally lower opacity) and graphite's stacked-area rule (an area never paints
//! over pixels an earlier area took) without a backend of our own.

use plotters::backend::{BitMapBackend, DrawingBackend};
use plotters::style::{RGBAColor, RGBColor, ShapeStyle};

use super::color::Rgba;
use super::draw::{Drawing, Op, Point, Rect, Rotation};
use super::{font, GraphError};

/// Encodes `d` as an 8-bit RGB PNG.
pub fn encode(d: &Drawing) -> Result<Vec<u8>, GraphError> {
    if !font::ensure() {
        return Err(GraphError::Draw(
            "the embedded font could not be loaded".to_string(),
        ));
    }
    // A see-through background (`bgcolor=rrggbbaa`) makes an RGBA image, as graphite's
    // ARGB surface gives; otherwise RGB.
    let opaque = d.ops.iter().find_map(|op| match op {
        Op::FillRect { color, .. } => Some(color.a >= 1.0),
        _ => None,
    }) != Some(false);
    let mut c = Canvas::new(d.width, d.height, opaque);
    for op in &d.ops {
        c.op(op)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, d.width, d.height);
        enc.set_color(if opaque {
            png::ColorType::Rgb
        } else {
            png::ColorType::Rgba
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = enc
            .write_header()
            .map_err(|e| GraphError::Draw(format!("png: {e}")))?;
        writer
            .write_image_data(&c.image())
            .map_err(|e| GraphError::Draw(format!("png: {e}")))?;
    }
    Ok(out)
}

/// Pixel bounds `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

struct Canvas {
    w: u32,
    h: u32,
    pixels: Vec<u8>,
    /// Opacity per pixel, when the background is not opaque (else empty).
    alpha: Vec<f32>,
    scratch: Vec<u8>,
    /// Pixels taken by areas since the last `EndAreas`.
    taken: Vec<bool>,
}

fn draw_err<E: std::fmt::Debug>(e: E) -> GraphError {
    GraphError::Draw(format!("{e:?}"))
}

/// A pixel index for a coordinate (pixel `i` spans `i..i+1`).
fn px(v: f64) -> i32 {
    (v - 0.5).round().clamp(-1.0e6, 1.0e6) as i32
}

fn point(p: Point) -> (i32, i32) {
    (px(p.0), px(p.1))
}

/// Splits a polyline into dashes `dash` long with gaps as long.
fn dashes(path: &[Point], dash: f64) -> Vec<Vec<Point>> {
    let mut out = Vec::new();
    let mut on = true;
    let mut left = dash;
    let mut current: Vec<Point> = path.first().copied().into_iter().collect();
    for pair in path.windows(2) {
        let (mut a, b) = (pair[0], pair[1]);
        let mut len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        while len > left {
            let t = left / len;
            let m = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if on {
                current.push(m);
                out.push(std::mem::take(&mut current));
            } else {
                current = vec![m];
            }
            on = !on;
            len -= left;
            left = dash;
            a = m;
        }
        left -= len;
        if on {
            current.push(b);
        }
    }
    if on && current.len() > 1 {
        out.push(current);
    }
    out
}

impl Canvas {
    fn new(w: u32, h: u32, opaque: bool) -> Self {
        let n = w as usize * h as usize;
        Canvas {
            w,
            h,
            pixels: vec![if opaque { 255 } else { 0 }; n * 3],
            alpha: if opaque { Vec::new() } else { vec![0.0; n] },
            scratch: vec![0; n * 3],
            taken: vec![false; n],
        }
    }

    fn op(&mut self, op: &Op) -> Result<(), GraphError> {
        match op {
            Op::Begin(_) => {}
            Op::FillRect { rect, color } => self.fill_rect(*rect, *color),
            Op::StrokeRect { rect, color } => {
                let (x0, y0, x1, y1) = (rect.x0 + 0.5, rect.y0 + 0.5, rect.x1, rect.y1);
                let outline = vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
                self.stroke(&[outline], 1.0, *color, None, None)?;
            }
            Op::Stroke {
                paths,
                width,
                color,
                dash,
                clip,
                ..
            } => self.stroke(paths, *width, *color, *dash, *clip)?,
            Op::Fill {
                polygons,
                color,
                clip,
                ..
            } => self.fill(polygons, *color, *clip)?,
            Op::EndAreas => self.taken.fill(false),
            Op::Slice {
                center,
                radius,
                from,
                to,
                color,
            } => self.slice(*center, *radius, *from, *to, *color)?,
            Op::Text {
                text,
                x,
                y,
                size,
                color,
                rotation,
            } => self.text(text, *x, *y, *size, *color, *rotation),
        }
        Ok(())
    }

    fn bounds(&self, rect: Rect) -> Option<Bounds> {
        let clamp = |v: f64, max: u32| v.clamp(0.0, f64::from(max)) as usize;
        let b = Bounds {
            x0: clamp((rect.x0 - 0.5).ceil(), self.w),
            y0: clamp((rect.y0 - 0.5).ceil(), self.h),
            x1: clamp((rect.x1 - 0.5).ceil(), self.w),
            y1: clamp((rect.y1 - 0.5).ceil(), self.h),
        };
        (b.x0 < b.x1 && b.y0 < b.y1).then_some(b)
    }

    /// Paints `color` over pixel `i` at `coverage` ("over" compositing).
    fn blend(&mut self, i: usize, color: Rgba, coverage: f64) {
        let a = (color.a * coverage).clamp(0.0, 1.0);
        let (keep, scale) = if self.alpha.is_empty() {
            (1.0 - a, 1.0)
        } else {
            let below = f64::from(self.alpha[i]);
            let out = a + below * (1.0 - a);
            if out <= 0.0 {
                return;
            }
            self.alpha[i] = out as f32;
            (below * (1.0 - a), out)
        };
        for (k, c) in [color.r, color.g, color.b].into_iter().enumerate() {
            let d = f64::from(self.pixels[i * 3 + k]);
            self.pixels[i * 3 + k] = ((f64::from(c) * a + d * keep) / scale).round() as u8;
        }
    }

    /// The image rows as the PNG encoder takes them: RGB, or RGBA with the opacity.
    fn image(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.alpha.is_empty() {
            return std::borrow::Cow::Borrowed(&self.pixels);
        }
        let mut out = Vec::with_capacity(self.alpha.len() * 4);
        for (rgb, a) in self.pixels.chunks(3).zip(&self.alpha) {
            out.extend_from_slice(rgb);
            out.push((a * 255.0).round() as u8);
        }
        std::borrow::Cow::Owned(out)
    }

    fn fill_rect(&mut self, rect: Rect, color: Rgba) {
        let Some(b) = self.bounds(rect) else { return };
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                self.blend(y * self.w as usize + x, color, 1.0);
            }
        }
    }

    /// The region a set of paths can touch: their bounding box grown by `pad`, inside `clip`.
    fn region(&self, paths: &[Vec<Point>], pad: f64, clip: Option<Rect>) -> Option<Bounds> {
        let mut r = Rect {
            x0: f64::INFINITY,
            y0: f64::INFINITY,
            x1: f64::NEG_INFINITY,
            y1: f64::NEG_INFINITY,
        };
        for p in paths.iter().flatten() {
            r.x0 = r.x0.min(p.0 - pad);
            r.y0 = r.y0.min(p.1 - pad);
            r.x1 = r.x1.max(p.0 + pad);
            r.y1 = r.y1.max(p.1 + pad);
        }
        if let Some(c) = clip {
            r.x0 = r.x0.max(c.x0);
            r.y0 = r.y0.max(c.y0);
            r.x1 = r.x1.min(c.x1);
            r.y1 = r.y1.min(c.y1);
        }
        if !(r.x0.is_finite() && r.y0.is_finite() && r.x1.is_finite() && r.y1.is_finite()) {
            return None;
        }
        self.bounds(r)
    }

    fn clear_scratch(&mut self, b: Bounds) {
        let w = self.w as usize;
        for y in b.y0..b.y1 {
            self.scratch[(y * w + b.x0) * 3..(y * w + b.x1) * 3].fill(0);
        }
    }

    fn stroke(
        &mut self,
        paths: &[Vec<Point>],
        width: f64,
        color: Rgba,
        dash: Option<f64>,
        clip: Option<Rect>,
    ) -> Result<(), GraphError> {
        let Some(b) = self.region(paths, width + 2.0, clip) else {
            return Ok(());
        };
        let stroke_width = width.round().max(1.0) as u32;
        let thin = width.min(1.0);
        let color = color.with_alpha(color.a * thin);
        // Lines well inside the clip go straight onto the picture (the common case; the
        // scratch pass costs the whole region per line).
        let pad = f64::from(stroke_width) / 2.0 + 1.0;
        let inside = clip.is_none_or(|c| {
            paths.iter().flatten().all(|p| {
                p.0 >= c.x0 + pad && p.0 <= c.x1 - pad && p.1 >= c.y0 + pad && p.1 <= c.y1 - pad
            })
        });
        let direct = inside && color.a >= 1.0 && self.alpha.is_empty();
        if !direct {
            self.clear_scratch(b);
        }
        let dashed;
        let paths = match dash {
            Some(d) if d > 0.0 => {
                dashed = paths.iter().flat_map(|p| dashes(p, d)).collect::<Vec<_>>();
                &dashed
            }
            _ => paths,
        };
        {
            let (target, ink) = if direct {
                (&mut self.pixels, RGBAColor(color.r, color.g, color.b, 1.0))
            } else {
                (&mut self.scratch, RGBAColor(255, 255, 255, 1.0))
            };
            let mut bm = BitMapBackend::with_buffer(target, (self.w, self.h));
            let style = ShapeStyle {
                color: ink,
                filled: false,
                stroke_width,
            };
            for path in paths {
                let pts: Vec<(i32, i32)> = path.iter().map(|p| point(*p)).collect();
                if pts.len() >= 2 {
                    bm.draw_path(pts, &style).map_err(draw_err)?;
                }
            }
        }
        if !direct {
            self.composite(b, color, false);
        }
        Ok(())
    }

    fn fill(&mut self, polygons: &[Vec<Point>], color: Rgba, clip: Rect) -> Result<(), GraphError> {
        let Some(b) = self.region(polygons, 1.0, Some(clip)) else {
            return Ok(());
        };
        self.clear_scratch(b);
        {
            let mut bm = BitMapBackend::with_buffer(&mut self.scratch, (self.w, self.h));
            for poly in polygons {
                let pts: Vec<(i32, i32)> = poly.iter().map(|p| point(*p)).collect();
                if pts.len() >= 3 {
                    bm.fill_polygon(pts, &RGBColor(255, 255, 255))
                        .map_err(draw_err)?;
                }
            }
        }
        self.composite(b, color, true);
        Ok(())
    }

    /// Blends `color` into the picture with the scratch image's coverage inside `b`; an
    /// exclusive composite skips taken pixels and takes the ones it paints.
    fn composite(&mut self, b: Bounds, color: Rgba, exclusive: bool) {
        let w = self.w as usize;
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                let i = y * w + x;
                let coverage = f64::from(self.scratch[i * 3]) / 255.0;
                if coverage <= 0.0 {
                    continue;
                }
                if exclusive {
                    if self.taken[i] {
                        continue;
                    }
                    self.taken[i] = true;
                }
                self.blend(i, color, coverage);
            }
        }
    }

    /// A pie slice, its arc as a polygon of at most half a degree per side.
    fn slice(
        &mut self,
        center: Point,
        radius: f64,
        from: f64,
        to: f64,
        color: Rgba,
    ) -> Result<(), GraphError> {
        let polygon = slice_polygon(center, radius, from, to);
        if polygon.len() < 3 {
            return Ok(());
        }
        let Some(b) = self.region(std::slice::from_ref(&polygon), 1.0, None) else {
            return Ok(());
        };
        self.clear_scratch(b);
        {
            let mut bm = BitMapBackend::with_buffer(&mut self.scratch, (self.w, self.h));
            let pts: Vec<(i32, i32)> = polygon.iter().map(|p| point(*p)).collect();
            bm.fill_polygon(pts, &RGBColor(255, 255, 255))
                .map_err(draw_err)?;
        }
        self.composite(b, color, false);
        Ok(())
    }

    /// Anti-aliased text with its baseline's left end at (`x`, `y`), turned by `rotation`
    /// (graphite turns anti-aliasing off, but relies on cairo's hinting to keep glyphs
    /// whole; unhinted glyphs need the grey levels).
    fn text(&mut self, text: &str, x: f64, y: f64, size: f64, color: Rgba, rotation: Rotation) {
        if let Rotation::Degrees(deg) = rotation {
            if deg != 0.0 {
                self.turned_text(text, x, y, size, color, deg.to_radians());
                return;
            }
        }
        let origin = (x.round() as i64, y.round() as i64);
        let (width, height) = (i64::from(self.w), i64::from(self.h));
        font::raster(text, size, |across, up, coverage| {
            let (along, down) = (i64::from(across), i64::from(up));
            let (col, row) = match rotation {
                Rotation::None | Rotation::Degrees(_) => (origin.0 + along, origin.1 + down),
                // Reading upwards: the text's "up" is the image's left.
                Rotation::Up => (origin.0 + down, origin.1 - along),
                Rotation::Down => (origin.0 - down, origin.1 + along),
            };
            if (0..width).contains(&col) && (0..height).contains(&row) {
                let i = (row * width + col) as usize;
                self.blend(i, color, f64::from(coverage));
            }
        });
    }
}

/// A pie slice's outline: the centre, the arc from `from` to `to` (at most a full turn)
/// in steps of at most half a degree, back to the centre. Empty for a slice with no
/// angle or a radius or angle that is not a number.
fn slice_polygon(center: Point, radius: f64, from: f64, to: f64) -> Vec<Point> {
    let sweep = (to - from).min(std::f64::consts::TAU);
    if !(sweep > 0.0 && radius > 0.0 && from.is_finite() && center.0.is_finite()) {
        return Vec::new();
    }
    let steps = (sweep / 0.5f64.to_radians()).ceil().max(1.0) as usize;
    let mut out = Vec::with_capacity(steps + 2);
    out.push(center);
    for i in 0..=steps {
        let a = from + sweep * i as f64 / steps as f64;
        out.push((center.0 + radius * a.cos(), center.1 + radius * a.sin()));
    }
    out
}

impl Canvas {
    /// Text turned by `angle` radians (clockwise) about the left end of its baseline at
    /// (`x`, `y`): rasterised upright, then each image pixel near it takes the coverage of
    /// the upright pixel it comes from (bilinear), so the turned glyphs have no holes.
    fn turned_text(&mut self, text: &str, x: f64, y: f64, size: f64, color: Rgba, angle: f64) {
        let mut upright: Vec<(i32, i32, f32)> = Vec::new();
        font::raster(text, size, |across, up, coverage| {
            upright.push((across, up, coverage));
        });
        let Some(x0) = upright.iter().map(|p| p.0).min() else {
            return;
        };
        let x1 = upright.iter().map(|p| p.0).max().unwrap_or(x0);
        let y0 = upright.iter().map(|p| p.1).min().unwrap_or(0);
        let y1 = upright.iter().map(|p| p.1).max().unwrap_or(0);
        let (gw, gh) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
        let mut grid = vec![0f32; gw * gh];
        for (a, u, c) in upright {
            let i = (u - y0) as usize * gw + (a - x0) as usize;
            grid[i] = grid[i].max(c);
        }
        let at = |a: i64, u: i64| -> f64 {
            if a < 0 || u < 0 || a >= gw as i64 || u >= gh as i64 {
                0.0
            } else {
                f64::from(grid[u as usize * gw + a as usize])
            }
        };
        let (sin, cos) = angle.sin_cos();
        // The image box the turned text covers.
        let corners = [
            (f64::from(x0), f64::from(y0)),
            (f64::from(x1 + 1), f64::from(y0)),
            (f64::from(x0), f64::from(y1 + 1)),
            (f64::from(x1 + 1), f64::from(y1 + 1)),
        ];
        let turned: Vec<Point> = corners
            .iter()
            .map(|(a, u)| (x + a * cos - u * sin, y + a * sin + u * cos))
            .collect();
        let fold = |f: fn(f64, f64) -> f64, start: f64, k: fn(&Point) -> f64| {
            turned.iter().map(k).fold(start, f)
        };
        let (cx0, cx1) = (
            fold(f64::min, f64::INFINITY, |p| p.0).floor() as i64 - 1,
            fold(f64::max, f64::NEG_INFINITY, |p| p.0).ceil() as i64 + 1,
        );
        let (cy0, cy1) = (
            fold(f64::min, f64::INFINITY, |p| p.1).floor() as i64 - 1,
            fold(f64::max, f64::NEG_INFINITY, |p| p.1).ceil() as i64 + 1,
        );
        let (width, height) = (i64::from(self.w), i64::from(self.h));
        for row in cy0.max(0)..=cy1.min(height - 1) {
            for col in cx0.max(0)..=cx1.min(width - 1) {
                // The pixel centre, turned back into the upright text's frame.
                let (dx, dy) = (col as f64 + 0.5 - x, row as f64 + 0.5 - y);
                let a = dx * cos + dy * sin - 0.5 - f64::from(x0);
                let u = -dx * sin + dy * cos - 0.5 - f64::from(y0);
                let (fa, fu) = (a.floor(), u.floor());
                let (ta, tu) = (a - fa, u - fu);
                let (ia, iu) = (fa as i64, fu as i64);
                let coverage = at(ia, iu) * (1.0 - ta) * (1.0 - tu)
                    + at(ia + 1, iu) * ta * (1.0 - tu)
                    + at(ia, iu + 1) * (1.0 - ta) * tu
                    + at(ia + 1, iu + 1) * ta * tu;
                if coverage > 0.0 {
                    self.blend((row * width + col) as usize, color, coverage.min(1.0));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_splitting() {
        let d = dashes(&[(0.0, 0.0), (10.0, 0.0)], 2.0);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], vec![(0.0, 0.0), (2.0, 0.0)]);
        assert_eq!(d[2], vec![(8.0, 0.0), (10.0, 0.0)]);
    }
}
