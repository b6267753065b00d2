//! The line graph (graphite-web's `LineGraph`): lays out title, legend, axes, grid and the
//! series into a [`Drawing`].
//!
//! The order follows graphite: title and vertical title take room from the top and left,
//! the legend from the bottom, x-axis labels from the bottom, then the series are
//! consolidated to the pixels available and the y axis is fitted, repeating until the
//! y-label width stops changing the plot width. Series are drawn last, areas (stacked
//! series) first, each area excluding the ones drawn before it.

use super::color::Rgba;
use super::draw::{Align, Drawing, Meta, Op, Part, Pen, Rect, Rotation, Valign};
use super::legend::legend;
use super::params::{AreaMode, AxisLimits, AxisMax, LineMode, Options};
use super::plot::{consolidate_items, data_limits, draw_lines, items, unquote_name, Item};
use super::yaxis::{self, Axis};
use super::{font, xaxis, GraphError};
use crate::query::series::Series;
use crate::query::time::TimeZone;

/// graphite's `LEGEND_MAX_ITEMS`: with more series the legend is hidden unless asked for.
const LEGEND_MAX_ITEMS: usize = 10;
/// Colour of the "No Data" text (graphite's `red`).
const NO_DATA: Rgba = Rgba::rgb(200, 0, 50);

/// The plot area: where the series are drawn.
#[derive(Debug, Clone, Copy)]
pub(super) struct Area {
    pub(super) xmin: f64,
    pub(super) xmax: f64,
    pub(super) ymin: f64,
    pub(super) ymax: f64,
}

impl Area {
    pub(super) fn rect(self) -> Rect {
        Rect {
            x0: self.xmin,
            y0: self.ymin,
            x1: self.xmax,
            y1: self.ymax,
        }
    }
}

struct YAxes {
    /// The only axis, or the left one when there are two.
    left: Axis,
    left_width: f64,
    right: Option<(Axis, f64)>,
}

/// Lays out the graph of `series` with options `opts`, times labelled in `tz`.
pub fn layout(series: &[Series], opts: &Options, tz: &TimeZone) -> Result<Drawing, GraphError> {
    let (w, h) = (f64::from(opts.width), f64::from(opts.height));
    let mut pen = Pen { ops: Vec::new() };
    pen.ops.push(Op::Begin(Part::Background));
    pen.ops.push(Op::FillRect {
        rect: Rect {
            x0: 0.0,
            y0: 0.0,
            x1: w,
            y1: h,
        },
        color: opts.background,
    });
    let start_time = series.iter().map(|s| s.start).min().unwrap_or(0);
    let max_end = series.iter().map(|s| s.end).max().unwrap_or(0);
    if series.is_empty() || max_end <= start_time {
        let size = (w * h).ln();
        pen.ops.push(Op::Begin(Part::Title));
        pen.text(
            "No Data",
            w / 2.0,
            h / 2.0,
            size,
            NO_DATA,
            Align::Center,
            Valign::Top,
        );
        return Ok(Drawing {
            width: opts.width,
            height: opts.height,
            ops: pen.ops,
            meta: None,
        });
    }

    let mut opts = opts.clone();
    let mut area = Area {
        xmin: opts.margin + 10.0,
        xmax: w - opts.margin,
        ymin: opts.margin,
        ymax: h - opts.margin,
    };
    if opts.graph_only {
        opts.hide_legend = Some(true);
        opts.hide_grid = true;
        opts.hide_axes = true;
        opts.hide_x_axis = false;
        opts.hide_y_axis = false;
        opts.y_axis_right = false;
        opts.title = None;
        opts.vtitle = None;
        opts.margin = 0.0;
        area = Area {
            xmin: 0.0,
            xmax: w,
            ymin: 0.0,
            ymax: h,
        };
    }
    let mut items = items(series, &opts)?;
    let two_axes = items.iter().any(|i| i.right);
    if two_axes {
        opts.y_axis_right = false;
    }
    let mut line_mode = opts.line_mode;
    if line_mode == LineMode::Slope && items.iter().any(|i| i.raw.len() == 1) {
        line_mode = LineMode::Staircase;
    }

    // Title and vertical titles, in the title font.
    let fs = opts.font_size;
    let title_size = fs + fs.ln().floor();
    let fg = opts.foreground;
    if let Some(title) = opts.title.as_deref().filter(|t| !t.is_empty()) {
        pen.ops.push(Op::Begin(Part::Title));
        let mut y = area.ymin;
        for line in title.split('\n') {
            pen.text(line, w / 2.0, y, title_size, fg, Align::Center, Valign::Top);
            y += font::height(title_size);
        }
        area.ymin = if opts.y_axis_right {
            y
        } else {
            y + opts.margin
        };
    }
    if let Some(vtitle) = opts.vtitle.as_deref().filter(|t| !t.is_empty()) {
        pen.ops.push(Op::Begin(Part::Vtitle));
        let lh = font::height(title_size);
        let mut x = area.xmin + lh;
        for line in vtitle.split('\n') {
            pen.vtext(line, x, h / 2.0, title_size, fg, Rotation::Up);
            x += lh;
        }
        area.xmin = x + opts.margin + lh;
    }
    if two_axes {
        if let Some(vtitle) = opts.vtitle_right.as_deref().filter(|t| !t.is_empty()) {
            pen.ops.push(Op::Begin(Part::Vtitle));
            let lh = font::height(title_size);
            let mut x = area.xmax - lh;
            for line in vtitle.split('\n') {
                pen.vtext(line, x, h / 2.0, title_size, fg, Rotation::Down);
                x -= lh;
            }
            area.xmax = x - opts.margin - lh;
        }
    }

    // Legend.
    if !opts.hide_legend.unwrap_or(items.len() > LEGEND_MAX_ITEMS) {
        let mut elements: Vec<(String, Rgba, bool)> = items
            .iter()
            .filter(|i| !i.name.is_empty())
            .filter(|i| !(opts.hide_null_from_legend && i.raw.iter().all(Option::is_none)))
            .map(|i| (unquote_name(&i.name), i.color, i.right))
            .collect();
        if opts.unique_legend {
            let mut seen = std::collections::HashSet::new();
            elements.retain(|e| seen.insert(e.0.clone()));
        }
        if !elements.is_empty() {
            legend(&mut pen, &mut area, &elements, &opts, two_axes);
        }
    }

    if !opts.hide_axes && !opts.hide_x_axis {
        area.ymax -= font::ascent(fs) * 2.0;
    }

    let end_time = if line_mode == LineMode::Staircase {
        max_end
    } else {
        items
            .iter()
            .map(|i| i.end - i.step)
            .max()
            .unwrap_or(max_end)
    };
    let (end_time, line_mode) = if end_time > start_time {
        (end_time, line_mode)
    } else {
        (max_end, LineMode::Staircase)
    };
    let time_range = end_time - start_time;

    // Consolidate to the plot width and fit the y axis until the width settles.
    let mut axes = None;
    for _ in 0..10 {
        let before = (area.xmin, area.xmax);
        consolidate_items(&mut items, area, &opts, time_range);
        axes = Some(setup_y(&items, &opts, &mut area, w)?);
        if before == (area.xmin, area.xmax) {
            break;
        }
    }
    let Some(axes) = axes else {
        return Err(GraphError::Draw("no y axis".to_string()));
    };
    let graph_width = area.xmax - area.xmin - (opts.line_width + 1.0);
    let ycoord = |value: f64, right: bool| match (&axes.right, right) {
        (Some((r, _)), true) => r.y(value, area.ymin, area.ymax),
        _ => axes.left.y(value, area.ymin, area.ymax),
    };

    // X axis.
    let offset = i64::from(tz.offset_at(start_time));
    let xconf = xaxis::choose(time_range, graph_width);
    let x_scale = graph_width / time_range as f64;
    let x_of = |t: i64| area.xmin + (t - start_time) as f64 * x_scale;

    if !opts.hide_axes {
        pen.ops.push(Op::Begin(Part::Axes));
        if !opts.hide_y_axis {
            let mid = |y: f64| y.max(0.0);
            match &axes.right {
                None => {
                    for (value, label) in axes.left.label_values.iter().zip(&axes.left.labels) {
                        let Some(y) = ycoord(*value, false) else {
                            continue;
                        };
                        if opts.y_axis_right {
                            let x = area.xmax + axes.left_width * 0.02;
                            pen.text(label, x, mid(y), fs, fg, Align::Left, Valign::Middle);
                        } else {
                            let x = area.xmin - axes.left_width * 0.02;
                            pen.text(label, x, mid(y), fs, fg, Align::Right, Valign::Middle);
                        }
                    }
                }
                Some((right, right_width)) => {
                    for (value, label) in axes.left.label_values.iter().zip(&axes.left.labels) {
                        let Some(y) = ycoord(*value, false) else {
                            continue;
                        };
                        let x = area.xmin - axes.left_width * 0.02;
                        pen.text(label, x, mid(y), fs, fg, Align::Right, Valign::Middle);
                    }
                    for (value, label) in right.label_values.iter().zip(&right.labels) {
                        let Some(y) = ycoord(*value, true) else {
                            continue;
                        };
                        let x = area.xmax + right_width * 0.02 + 3.0;
                        pen.text(label, x, mid(y), fs, fg, Align::Left, Valign::Middle);
                    }
                }
            }
        }
        if !opts.hide_x_axis {
            let format = opts.x_format.as_deref().unwrap_or(xconf.format);
            let y = area.ymax + font::ascent(fs);
            for t in xaxis::times(
                start_time,
                end_time,
                offset,
                xconf.label_unit,
                xconf.label_step,
            ) {
                let label = xaxis::strftime(format, t, offset, tz);
                pen.text(&label, x_of(t), y, fs, fg, Align::Center, Valign::Top);
            }
        }
        if !opts.hide_grid {
            pen.ops.push(Op::Begin(Part::Grid));
            grid(&mut pen, &opts, area, &axes.left, &ycoord);
            let (top, bottom) = (area.ymin, area.ymax);
            for t in xaxis::times(
                start_time,
                end_time,
                offset,
                xconf.minor_unit,
                xconf.minor_step,
            ) {
                let x = x_of(t);
                if x < area.xmax {
                    pen.line((x, bottom), (x, top), 0.25, opts.minor_grid);
                }
            }
            for t in xaxis::times(
                start_time,
                end_time,
                offset,
                xconf.major_unit,
                xconf.major_step,
            ) {
                let x = x_of(t);
                if x < area.xmax {
                    pen.line((x, bottom), (x, top), 0.33, opts.major_grid);
                }
            }
            pen.line((area.xmax, bottom), (area.xmax, top), 0.5, opts.major_grid);
            pen.line((area.xmin, bottom), (area.xmin, top), 0.5, opts.major_grid);
        }
    }

    pen.ops.push(Op::Begin(Part::Lines));
    let series_meta = draw_lines(
        &mut pen, items, &opts, area, line_mode, start_time, two_axes, &ycoord,
    );
    Ok(Drawing {
        width: opts.width,
        height: opts.height,
        ops: pen.ops,
        meta: Some(Meta {
            area: area.rect(),
            start: start_time,
            end: end_time,
            y: axes.left,
            y_right: axes.right.map(|(axis, _)| axis),
            line_width: opts.line_width,
            font_size: opts.font_size,
            series: series_meta,
        }),
    })
}

/// An axis that cannot be drawn, blamed on the parameter that decides it, with its value.
fn axis_error((name, message): (&'static str, String), opts: &Options) -> GraphError {
    let show = |v: Option<f64>| v.map_or_else(|| "(from the data)".to_string(), |v| v.to_string());
    let value = match name {
        "yMin" => show(opts.y.min.or(opts.y_left.min).or(opts.y_right.min)),
        "yMax" => match opts.y.max {
            AxisMax::Value(v) => v.to_string(),
            AxisMax::Extremum => "max".to_string(),
            AxisMax::Auto => show(None),
        },
        "logBase" => show(opts.log_base),
        "yStep" => show(opts.y.step),
        _ => String::new(),
    };
    GraphError::Parameter {
        name: name.to_string(),
        value,
        message,
    }
}

fn label_width(axis: &Axis, size: f64) -> f64 {
    axis.labels
        .iter()
        .map(|l| font::width(l, size))
        .fold(0.0, f64::max)
}

/// graphite's `setupYAxis` / `setupTwoYAxes`: the axes, and the plot area narrowed to fit
/// their labels.
fn setup_y(
    items: &[Item],
    opts: &Options,
    area: &mut Area,
    width: f64,
) -> Result<YAxes, GraphError> {
    let stacked = opts.area_mode == AreaMode::Stacked;
    let fs = opts.font_size;
    let axis = |items: Vec<&Item>, limits: &AxisLimits, labels: bool| {
        let data = data_limits(&items, opts.draw_null_as_zero, stacked);
        yaxis::compute(
            data,
            limits,
            &opts.y_divisors,
            opts.unit_system,
            opts.log_base,
            labels,
        )
        .map_err(|e| axis_error(e, opts))
    };
    if !items.iter().any(|i| i.right) {
        let left = axis(items.iter().collect(), &opts.y, !opts.hide_axes)?;
        let lw = label_width(&left, fs);
        if !opts.hide_axes && !opts.hide_y_axis {
            if opts.y_axis_right {
                let xmax = width - lw * 1.02;
                if area.xmax >= xmax {
                    area.xmax = xmax;
                }
            } else {
                let xmin = opts.margin + lw * 1.02;
                if area.xmin < xmin {
                    area.xmin = xmin;
                }
            }
        }
        return Ok(YAxes {
            left,
            left_width: lw,
            right: None,
        });
    }
    let left = axis(
        items.iter().filter(|i| !i.right).collect(),
        &opts.y_left,
        true,
    )?;
    let right = axis(
        items.iter().filter(|i| i.right).collect(),
        &opts.y_right,
        true,
    )?;
    let (lw, rw) = (label_width(&left, fs), label_width(&right, fs));
    let xmin = opts.margin + lw * 1.02;
    if area.xmin < xmin {
        area.xmin = xmin;
    }
    let xmax = width - rw * 1.02;
    if area.xmax >= xmax {
        area.xmax = xmax;
    }
    Ok(YAxes {
        left,
        left_width: lw,
        right: Some((right, rw)),
    })
}

/// Horizontal grid lines at the (left) axis labels, with `minorY` lines between.
fn grid(
    pen: &mut Pen,
    opts: &Options,
    area: Area,
    axis: &Axis,
    ycoord: &dyn Fn(f64, bool) -> Option<f64>,
) {
    let labels = &axis.label_values;
    for (i, value) in labels.iter().enumerate() {
        let Some(y) = ycoord(*value, false).filter(|y| *y >= 0.0) else {
            continue;
        };
        pen.line((area.xmin, y), (area.xmax, y), 0.4, opts.major_grid);
        if opts.minor_y >= 1 && i + 1 < labels.len() {
            let (lower, upper) = if *value <= labels[i + 1] {
                (*value, labels[i + 1])
            } else {
                (labels[i + 1], *value)
            };
            let distance = (upper - lower) / f64::from(1 + opts.minor_y);
            let top_factor = opts.log_base.map_or(1.0, |b| b * b);
            for minor in 0..opts.minor_y {
                let v = lower + f64::from(1 + minor) * distance;
                if v >= top_factor * axis.top {
                    continue;
                }
                let Some(y) = ycoord(v, false).filter(|y| *y >= 0.0) else {
                    continue;
                };
                pen.line((area.xmin, y), (area.xmax, y), 0.3, opts.minor_grid);
            }
        }
    }
}
