//! The legend under the plot: a colour swatch and the name of each series, in as many
//! columns as fit (graphite-web's `drawLegend`, including its layout for two y axes with
//! right-axis names on the right).

use super::color::Rgba;
use super::draw::{Align, Op, Part, Pen, Rect, Valign};
use super::font;
use super::line::Area;
use super::params::Options;

/// Legend swatch outline (graphite's `darkgrey`).
const SWATCH_BORDER: Rgba = Rgba::rgb(111, 111, 111);

/// Draws the legend of `elements` (name, colour, on the right axis) under the plot and
/// takes its height off the bottom of `area`; draws nothing when too little room to plot
/// would be left.
pub(super) fn legend(
    pen: &mut Pen,
    area: &mut Area,
    elements: &[(String, Rgba, bool)],
    opts: &Options,
    two_axes: bool,
) {
    let fs = opts.font_size;
    let w = f64::from(opts.width);
    let padding = 5.0;
    let fg = opts.foreground;
    // The longest name (the last of the longest, as a stable sort by length gives).
    let longest = elements.iter().map(|e| e.0.as_str()).fold("", |best, n| {
        if n.chars().count() >= best.chars().count() {
            n
        } else {
            best
        }
    });
    let box_size = font::height(fs) - 1.0;
    let line_height = font::height(fs) + 1.0;
    let label_width = font::width(longest, fs) + 2.0 * (box_size + padding);
    let test_width = font::width(&format!("{longest} {longest}"), fs) + 2.0 * (box_size + padding);
    let right_side_labels = test_width + 50.0 < w;
    let n = elements.len() as f64;

    let swatch = |pen: &mut Pen, x: f64, y: f64, color: Rgba| {
        let rect = Rect {
            x0: x,
            y0: y,
            x1: x + box_size,
            y1: y + box_size,
        };
        pen.ops.push(Op::FillRect { rect, color });
        pen.ops.push(Op::StrokeRect {
            rect,
            color: SWATCH_BORDER,
        });
    };
    // A left-side entry: the swatch at `(x, y)`, the name after it. Right-side entries
    // put the name before the swatch, at graphite's different offsets for one and two axes.
    let left_entry = |pen: &mut Pen, x: f64, y: f64, name: &str, color: Rgba| {
        swatch(pen, x, y, color);
        pen.text(
            name,
            x + box_size + padding,
            y,
            fs,
            fg,
            Align::Left,
            Valign::Top,
        );
    };

    if two_axes && right_side_labels {
        let mut columns = ((w - area.xmin) / label_width).floor().max(1.0);
        let num_right = elements.iter().filter(|e| e.2).count() as f64;
        let lines = (n - num_right).max(num_right);
        columns = (columns / 2.0).floor().max(1.0);
        let height = (lines / columns).max(1.0) * line_height + padding;
        if !fits(area, height, fs) {
            return;
        }
        pen.ops.push(Op::Begin(Part::Legend));
        area.ymax -= height;
        let (mut x, mut y) = (area.xmin, area.ymax + 2.0 * padding);
        let right_start = area.xmax - area.xmin;
        let (mut xr, mut yr) = (right_start, y);
        let (mut nl, mut nr) = (0.0, 0.0);
        for (name, color, right) in elements {
            if *right {
                nr += 1.0;
                swatch(pen, xr - padding, yr, *color);
                pen.text(name, xr - box_size, yr, fs, fg, Align::Right, Valign::Top);
                xr -= label_width;
                if nr % columns == 0.0 {
                    xr = right_start;
                    yr += line_height;
                }
            } else {
                nl += 1.0;
                left_entry(pen, x, y, name, *color);
                x += label_width;
                if nl % columns == 0.0 {
                    x = area.xmin;
                    y += line_height;
                }
            }
        }
        return;
    }
    let columns = (w / label_width).floor().max(1.0);
    let lines = (n / columns).ceil();
    let height = lines * line_height + padding;
    if !fits(area, height, fs) {
        return;
    }
    pen.ops.push(Op::Begin(Part::Legend));
    area.ymax -= height;
    let (mut x, mut y) = (area.xmin, area.ymax + 2.0 * padding);
    for (i, (name, color, right)) in elements.iter().enumerate() {
        if *right {
            swatch(pen, x + label_width + padding, y, *color);
            pen.text(name, x + label_width, y, fs, fg, Align::Right, Valign::Top);
        } else {
            left_entry(pen, x, y, name, *color);
        }
        x += label_width;
        if (i + 1) as f64 % columns == 0.0 {
            x = area.xmin;
            y += line_height;
        }
    }
}

/// Whether a legend this tall leaves room to plot (a deviation: graphite draws it anyway
/// and the plot area turns negative).
fn fits(area: &Area, legend_height: f64, font_size: f64) -> bool {
    area.ymax - legend_height - area.ymin >= 4.0 * font::height(font_size)
}
