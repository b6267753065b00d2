//! SVG output, written directly from the [`Drawing`] so that each series is exactly one
//! `<path>` (in `<g class="lines">`, with `class="series"`), lengths keep their fractions
//! and text stays text. Parts are grouped as graphite-web's SVG groups them (`title`,
//! `legend`, `axes`, `grid`, `lines`). The plot area is a clip path; each stacked area
//! adds a clip that keeps later areas off it, as graphite's cairo clipping does. Like
//! graphite's, the document ends with a `<script>` holding `metadata = {…}`: the time
//! range, plot area, y axis and line series.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::color::Rgba;
use super::draw::{Drawing, Op, Point, Rect, Rotation};
use super::font;

/// Writes `d` as an SVG document.
pub fn write(d: &Drawing) -> Vec<u8> {
    let mut s = String::new();
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}px\" height=\"{h}px\" viewBox=\"0 0 {w} {h}\" version=\"1.1\">\n<g class=\"graphite\">\n",
        w = d.width,
        h = d.height
    );
    let mut in_part = false;
    let mut clips = 0usize;
    let mut open_clips = 0usize;
    for op in &d.ops {
        match op {
            Op::Begin(part) => {
                close_clips(&mut s, &mut open_clips);
                if in_part {
                    s.push_str("</g>\n");
                }
                let _ = writeln!(s, "<g class=\"{}\">", part.class());
                in_part = true;
            }
            Op::FillRect { rect, color } => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {}/>",
                    num(rect.x0),
                    num(rect.y0),
                    num(rect.x1 - rect.x0),
                    num(rect.y1 - rect.y0),
                    paint("fill", *color)
                );
            }
            Op::StrokeRect { rect, color } => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke-width=\"1\" {}/>",
                    num(rect.x0 + 0.5),
                    num(rect.y0 + 0.5),
                    num(rect.x1 - rect.x0 - 0.5),
                    num(rect.y1 - rect.y0 - 0.5),
                    paint("stroke", *color)
                );
            }
            Op::Stroke {
                paths,
                width,
                color,
                dash,
                clip,
                series,
            } => {
                let mut attrs = format!(
                    "fill=\"none\" stroke-width=\"{}\" {}",
                    num(*width),
                    paint("stroke", *color)
                );
                if let Some(d) = dash {
                    let _ = write!(attrs, " stroke-dasharray=\"{}\"", num(*d));
                }
                if let Some(c) = clip {
                    clips += 1;
                    let _ = write!(
                        s,
                        "<clipPath id=\"c{clips}\">{}</clipPath>",
                        rect_path_elem(*c)
                    );
                    let _ = write!(attrs, " clip-path=\"url(#c{clips})\"");
                }
                let class = series.map_or(String::new(), |i| {
                    format!("class=\"series\" data-series=\"{i}\" ")
                });
                let _ = writeln!(
                    s,
                    "<path {class}d=\"{}\" {attrs}/>",
                    path_data(paths, false)
                );
            }
            Op::Fill {
                polygons,
                color,
                clip,
                series,
            } => {
                clips += 1;
                let plot = clips;
                let _ = write!(
                    s,
                    "<clipPath id=\"c{plot}\">{}</clipPath>",
                    rect_path_elem(*clip)
                );
                let _ = writeln!(
                    s,
                    "<path class=\"series\" data-series=\"{series}\" d=\"{}\" {} clip-path=\"url(#c{plot})\"/>",
                    path_data(polygons, true),
                    paint("fill", *color)
                );
                // Later areas stay off this one: clip to the plot minus this area.
                clips += 1;
                let _ = writeln!(
                    s,
                    "<clipPath id=\"c{clips}\"><path clip-rule=\"evenodd\" d=\"{} {}\"/></clipPath>\n<g clip-path=\"url(#c{clips})\">",
                    rect_data(*clip),
                    path_data(&wound_against_rect(polygons), true)
                );
                open_clips += 1;
            }
            Op::EndAreas => close_clips(&mut s, &mut open_clips),
            Op::Slice {
                center,
                radius,
                from,
                to,
                color,
            } => {
                let _ = writeln!(
                    s,
                    "<path d=\"{}\" {}/>",
                    slice_data(*center, *radius, *from, *to),
                    paint("fill", *color)
                );
            }
            Op::Text {
                text,
                x,
                y,
                size,
                color,
                rotation,
            } => {
                let transform = match rotation {
                    Rotation::None => String::new(),
                    Rotation::Degrees(d) => {
                        format!(" transform=\"rotate({} {} {})\"", num(*d), num(*x), num(*y))
                    }
                    Rotation::Up => format!(" transform=\"rotate(-90 {} {})\"", num(*x), num(*y)),
                    Rotation::Down => format!(" transform=\"rotate(90 {} {})\"", num(*x), num(*y)),
                };
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" font-family=\"{}\" font-size=\"{}\" {} xml:space=\"preserve\"{transform}>{}</text>",
                    num(*x),
                    num(*y),
                    font::SVG_FAMILY,
                    num(*size),
                    paint("fill", *color),
                    escape(text)
                );
            }
        }
    }
    close_clips(&mut s, &mut open_clips);
    if in_part {
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n");
    let metadata = metadata(d).to_string().replace("]]>", "]]]]><![CDATA[>");
    let _ = write!(
        s,
        "<script>\n  <![CDATA[\n    metadata = {metadata}\n  ]]>\n</script>\n</svg>\n"
    );
    s.into_bytes()
}

/// graphite's SVG `metadata`: the time range, the plot area, the y axis and the line
/// series, for scripts that work on the SVG (`{}` for "No Data").
fn metadata(d: &Drawing) -> Value {
    let Some(m) = &d.meta else {
        return json!({});
    };
    let number = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let series: Vec<Value> = m
        .series
        .iter()
        .map(|s| {
            let mut options = serde_json::Map::new();
            if let Some(w) = s.line_width {
                options.insert("lineWidth".into(), number(w));
            }
            if let Some(d) = s.dashed {
                options.insert("dashed".into(), number(d));
            }
            if s.second_y_axis {
                options.insert("secondYAxis".into(), json!(true));
            }
            if s.draw_as_infinite {
                options.insert("drawAsInfinite".into(), json!(true));
            }
            json!({
                "name": s.name,
                "start": s.start,
                "end": s.end,
                "step": s.step,
                "valuesPerPoint": s.values_per_point,
                "color": s.color,
                "data": s.values.iter().map(|v| v.map_or(Value::Null, number)).collect::<Vec<_>>(),
                "options": options,
            })
        })
        .collect();
    let mut out = json!({
        "x": {"start": m.start, "end": m.end},
        "options": {"lineWidth": number(m.line_width)},
        "font": {"name": "DejaVu Sans", "size": number(m.font_size), "bold": false, "italic": false},
        "area": {
            "xmin": number(m.area.x0),
            "xmax": number(m.area.x1),
            "ymin": number(m.area.y0),
            "ymax": number(m.area.y1),
        },
        "series": series,
    });
    if m.y_right.is_none() {
        out["y"] = json!({
            "top": number(m.y.top),
            "bottom": number(m.y.bottom),
            "step": m.y.step.map_or(Value::Null, number),
            "labels": m.y.labels,
            "labelValues": m.y.label_values.iter().map(|v| number(*v)).collect::<Vec<_>>(),
        });
    }
    out
}

/// Twice the signed area of a polygon (the sign says which way it winds).
fn signed_area(p: &[Point]) -> f64 {
    p.iter()
        .zip(p.iter().cycle().skip(1))
        .map(|(a, b)| a.0 * b.1 - b.0 * a.1)
        .sum()
}

/// The polygons wound against the plot rectangle's direction, so that they cut holes in it
/// under the non-zero rule too (for renderers that ignore `clip-rule`).
fn wound_against_rect(polygons: &[Vec<Point>]) -> Vec<Vec<Point>> {
    // rect_data goes right, down, left: positive in screen coordinates.
    polygons
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if signed_area(&p) > 0.0 {
                p.reverse();
            }
            p
        })
        .collect()
}

fn close_clips(s: &mut String, open: &mut usize) {
    for _ in 0..*open {
        s.push_str("</g>\n");
    }
    *open = 0;
}

/// A length with at most three decimals.
fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn paint(what: &str, c: Rgba) -> String {
    if c.a >= 1.0 {
        format!("{what}=\"{}\"", c.hex())
    } else {
        format!("{what}=\"{}\" {what}-opacity=\"{}\"", c.hex(), num(c.a))
    }
}

fn rect_data(r: Rect) -> String {
    format!(
        "M{} {}H{}V{}H{}Z",
        num(r.x0),
        num(r.y0),
        num(r.x1),
        num(r.y1),
        num(r.x0)
    )
}

fn rect_path_elem(r: Rect) -> String {
    format!("<path d=\"{}\"/>", rect_data(r))
}

fn path_data(paths: &[Vec<Point>], close: bool) -> String {
    let mut d = String::new();
    for path in paths {
        for (i, p) in path.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { 'M' } else { 'L' },
                num(p.0),
                num(p.1)
            );
        }
        if close && !path.is_empty() {
            d.push('Z');
        }
    }
    if d.is_empty() {
        // An empty path is still one element per series; M0 0 draws nothing.
        d.push_str("M0 0");
    }
    d
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The path of a pie slice: centre, arc, back to the centre (a full turn as two halves,
/// which one SVG arc cannot draw).
fn slice_data(center: Point, radius: f64, from: f64, to: f64) -> String {
    let sweep = (to - from).min(std::f64::consts::TAU);
    if !(sweep > 0.0 && radius > 0.0 && from.is_finite() && center.0.is_finite()) {
        return String::new();
    }
    let at = |a: f64| (center.0 + radius * a.cos(), center.1 + radius * a.sin());
    let (sx, sy) = at(from);
    let mut d = format!(
        "M{} {}L{} {}",
        num(center.0),
        num(center.1),
        num(sx),
        num(sy)
    );
    let mut arc = |a0: f64, a1: f64| {
        let (ex, ey) = at(a1);
        let large = u8::from(a1 - a0 > std::f64::consts::PI);
        let r = num(radius);
        let _ = write!(d, "A{r} {r} 0 {large} 1 {} {}", num(ex), num(ey));
    };
    if sweep > std::f64::consts::PI {
        arc(from, from + sweep / 2.0);
        arc(from + sweep / 2.0, from + sweep);
    } else {
        arc(from, from + sweep);
    }
    d.push('Z');
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_holes_wind_against_the_plot() {
        let rect = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        let same_way = vec![(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0)];
        let other_way: Vec<Point> = same_way.iter().rev().copied().collect();
        assert!(signed_area(&rect) > 0.0 && signed_area(&same_way) > 0.0);
        for p in wound_against_rect(&[same_way, other_way]) {
            assert!(signed_area(&p) < 0.0);
        }
    }

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
