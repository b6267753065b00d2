//! The pie graph (graphite-web's `PieGraph`): one slice per `(name, value)`, laid out into a
//! [`Drawing`] as glyph.py draws it.
//!
//! The order follows graphite: the background, the title (in a font `floor(ln(size))`
//! larger) taking room from the top, the legend (every name, in as many columns as fit)
//! from the bottom, then the pie, centred in what is left with a radius of 95 % of the
//! smaller half-side, its first slice starting straight up and the slices going
//! clockwise in the colour list's order, then the value labels (`valueLabels`: the share as
//! `%50.00`, or the value) halfway out along each slice's middle, horizontal or turned
//! along it (`pieLabels=rotated`). No slices: graphite's "No Data".
//!
//! Where graphite fails (a total of 0 divides by zero: HTTP 500), slices get no angle and
//! the legend is drawn alone; docs/graph.md says so.

use std::f64::consts::{PI, TAU};

use super::color::Rgba;
use super::draw::{Align, Drawing, Op, Part, Pen, Rotation, Valign};
use super::font;
use super::legend::legend;
use super::line::{background, no_data, Area};
use super::params::{Options, PieOptions, ValueLabels};

struct Slice<'a> {
    name: &'a str,
    value: f64,
    percent: f64,
    color: Rgba,
    mid_angle: f64,
}

/// Lays out the pie graph of `data` (name and value of each slice, in order).
pub fn layout(data: &[(String, f64)], opts: &Options, pie: &PieOptions) -> Drawing {
    let mut pen = background(opts);
    if data.is_empty() {
        return no_data(pen, opts);
    }
    let total: f64 = data.iter().map(|d| d.1).sum();
    let mut slices: Vec<Slice<'_>> = data
        .iter()
        .zip(opts.colors.iter().cycle())
        .map(|((name, value), color)| Slice {
            name,
            value: *value,
            percent: if total == 0.0 { 0.0 } else { value / total },
            color: *color,
            mid_angle: 0.0,
        })
        .collect();
    let (w, h) = (f64::from(opts.width), f64::from(opts.height));
    let margin = opts.margin;
    let mut area = Area {
        xmin: margin + 10.0,
        xmax: w - margin,
        ymin: margin,
        ymax: h - margin,
    };
    let fs = opts.font_size;
    if let Some(title) = opts.title.as_deref().filter(|t| !t.is_empty()) {
        let size = fs + fs.ln().floor();
        pen.ops.push(Op::Begin(Part::Title));
        let mut y = area.ymin;
        for line in title.split('\n') {
            pen.text(
                line,
                w / 2.0,
                y,
                size,
                opts.foreground,
                Align::Center,
                Valign::Top,
            );
            y += font::height(size);
        }
        area.ymin = if opts.y_axis_right { y } else { y + margin };
    }
    if !opts.hide_legend.unwrap_or(false) {
        let elements: Vec<(String, Rgba, bool)> = slices
            .iter()
            .map(|s| (s.name.to_string(), s.color, false))
            .collect();
        legend(&mut pen, &mut area, &elements, opts, false);
    }
    pen.ops.push(Op::Begin(Part::Pie));
    let half_x = (area.xmax - area.xmin) / 2.0;
    let half_y = (area.ymax - area.ymin) / 2.0;
    let center = (area.xmin + half_x, area.ymin + half_y);
    let radius = half_x.min(half_y) * 0.95;
    let mut theta = 3.0 * PI / 2.0;
    for s in &mut slices {
        let phi = theta + TAU * s.percent;
        // cairo's arc turns an end before its start into one a whole turn further on.
        let mut to = phi;
        if to.is_finite() {
            while to < theta {
                to += TAU;
            }
        }
        // A colour with its own alpha keeps it (graphite's setColor); others take areaAlpha.
        let color = if s.color.a < 1.0 {
            s.color
        } else {
            s.color.with_alpha(pie.alpha)
        };
        pen.ops.push(Op::Slice {
            center,
            radius,
            from: theta,
            to,
            color,
        });
        s.mid_angle = f64::midpoint(theta, phi).rem_euclid(TAU);
        theta = phi;
    }
    if pie.value_labels != ValueLabels::None {
        labels(&mut pen, &slices, center, radius, opts, pie);
    }
    Drawing {
        width: opts.width,
        height: opts.height,
        ops: pen.ops,
        meta: None,
    }
}

/// The label of a slice, `None` under `valueLabelsMin` (or for a value Python cannot
/// write as an int).
fn label(s: &Slice<'_>, pie: &PieOptions) -> Option<String> {
    match pie.value_labels {
        ValueLabels::None => None,
        ValueLabels::Percent => {
            let p = s.percent * 100.0;
            (p >= pie.value_labels_min || p.is_nan()).then(|| format!("%{p:.2}"))
        }
        ValueLabels::Number => {
            let v = s.value;
            if v < pie.value_labels_min || !v.is_finite() {
                None
            } else if v < 10.0 && v.fract() != 0.0 {
                Some(format!("{v:.2}"))
            } else {
                Some(format!("{}", v.trunc()))
            }
        }
    }
}

/// The value labels, halfway out along each slice's middle, centred there.
fn labels(
    pen: &mut Pen,
    slices: &[Slice<'_>],
    center: (f64, f64),
    radius: f64,
    opts: &Options,
    pie: &PieOptions,
) {
    let fs = opts.font_size;
    let color = pie.value_labels_color;
    for s in slices {
        let Some(text) = label(s, pie) else { continue };
        let mut theta = s.mid_angle;
        let x = center.0 + radius / 2.0 * theta.cos();
        let y = center.1 + radius / 2.0 * theta.sin();
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        if !pie.rotated_labels {
            pen.text(&text, x, y, fs, color, Align::Center, Valign::Middle);
            continue;
        }
        if theta > PI / 2.0 && theta <= 3.0 * PI / 2.0 {
            theta -= PI;
        }
        // glyph.py's drawText: centred and middle-aligned in the turned frame.
        let half = font::width(&text, fs) / 2.0;
        let v = font::height(fs) / 2.0 - font::descent(fs);
        let (sin, cos) = theta.sin_cos();
        pen.ops.push(Op::Text {
            text,
            x: x - sin * v - cos * half,
            y: y + cos * v - sin * half,
            size: fs,
            color,
            rotation: Rotation::Degrees(theta.to_degrees()),
        });
    }
}
