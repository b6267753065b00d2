//! The line graph (graphite-web's `LineGraph`): lays out title, legend, axes, grid and the
//! series into a [`Drawing`].
//!
//! The order follows graphite: title and vertical title take room from the top and left,
//! the legend from the bottom, x-axis labels from the bottom, then the series are
//! consolidated to the pixels available and the y axis is fitted, repeating until the
//! y-label width stops changing the plot width. Series are drawn last, areas (stacked
//! series) first, each area excluding the ones drawn before it.

use super::color::{self, Rgba};
use super::draw::{Drawing, Op, Part, Point, Rect, Rotation};
use super::params::{AreaMode, AxisLimits, LineMode, Options};
use super::yaxis::{self, Axis};
use super::{font, xaxis, GraphError};
use crate::query::json::consolidate;
use crate::query::series::Series;
use crate::query::time::TimeZone;

/// graphite's `LEGEND_MAX_ITEMS`: with more series the legend is hidden unless asked for.
const LEGEND_MAX_ITEMS: usize = 10;
/// Legend swatch outline (graphite's `darkgrey`).
const SWATCH_BORDER: Rgba = Rgba::rgb(111, 111, 111);
/// Colour of the "No Data" text (graphite's `red`).
const NO_DATA: Rgba = Rgba::rgb(200, 0, 50);

/// One series as drawn.
#[derive(Debug, Clone)]
struct Item {
    name: String,
    start: i64,
    end: i64,
    step: i64,
    raw: Vec<Option<f64>>,
    /// `raw` consolidated by `vpp`.
    values: Vec<Option<f64>>,
    vpp: usize,
    x_step: f64,
    consolidation: crate::query::json::Consolidation,
    x_files_factor: f64,
    color: Rgba,
    /// The colour had its own opacity (`rrggbbaa`), which `alpha()` does not override.
    color_has_alpha: bool,
    alpha: Option<f64>,
    line_width: Option<f64>,
    dash: Option<f64>,
    right: bool,
    infinite: bool,
    invisible: bool,
    stacked: bool,
}

impl Item {
    fn reconsolidate(&mut self) {
        self.values = consolidate(&self.raw, self.vpp, self.consolidation, self.x_files_factor);
    }
}

#[derive(Debug, Clone, Copy)]
struct Area {
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

impl Area {
    fn rect(self) -> Rect {
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

/// Text drawing helpers on a list of operations.
struct Pen {
    ops: Vec<Op>,
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy)]
enum Valign {
    Top,
    Middle,
}

impl Pen {
    /// graphite's `drawText` for horizontal text.
    #[expect(clippy::too_many_arguments, reason = "mirrors the text call's parts")]
    fn text(
        &mut self,
        text: &str,
        x: f64,
        y: f64,
        size: f64,
        color: Rgba,
        align: Align,
        valign: Valign,
    ) {
        let w = font::width(text, size);
        let dx = match align {
            Align::Left => 0.0,
            Align::Center => w / 2.0,
            Align::Right => w,
        };
        let dy = match valign {
            Valign::Top => font::ascent(size),
            Valign::Middle => font::height(size) / 2.0 - font::descent(size),
        };
        self.ops.push(Op::Text {
            text: text.to_string(),
            x: x - dx,
            y: y + dy,
            size,
            color,
            rotation: Rotation::None,
        });
    }

    /// Vertical text centred on `y`, its baseline on the line `x`.
    fn vtext(&mut self, text: &str, x: f64, y: f64, size: f64, color: Rgba, rotation: Rotation) {
        let half = font::width(text, size) / 2.0;
        let y = match rotation {
            Rotation::Down => y - half,
            _ => y + half,
        };
        self.ops.push(Op::Text {
            text: text.to_string(),
            x,
            y,
            size,
            color,
            rotation,
        });
    }

    fn line(&mut self, from: Point, to: Point, width: f64, color: Rgba) {
        self.ops.push(Op::Stroke {
            paths: vec![vec![from, to]],
            width,
            color,
            dash: None,
            clip: None,
            series: None,
        });
    }
}

/// A path being built with cairo's rules: `line_to` without a current point starts one.
#[derive(Default)]
struct Path {
    subpaths: Vec<Vec<Point>>,
    open: bool,
}

impl Path {
    fn move_to(&mut self, p: Point) {
        self.subpaths.push(vec![p]);
        self.open = true;
    }

    fn line_to(&mut self, p: Point) {
        match self.subpaths.last_mut() {
            Some(last) if self.open => last.push(p),
            _ => self.move_to(p),
        }
    }

    fn take(&mut self) -> Vec<Vec<Point>> {
        self.open = false;
        std::mem::take(&mut self.subpaths)
    }
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
    draw_lines(
        &mut pen, items, &opts, area, line_mode, start_time, two_axes, &ycoord,
    );
    Ok(Drawing {
        width: opts.width,
        height: opts.height,
        ops: pen.ops,
    })
}

/// graphite's legend names are URL-decoded once more (`unquote_plus`).
fn unquote_name(name: &str) -> String {
    super::params::unquote_plus(name)
}

/// The series with their colours and styles resolved.
fn items(series: &[Series], opts: &Options) -> Result<Vec<Item>, GraphError> {
    let mut palette = opts.colors.iter().cycle();
    let mut out: Vec<Item> = Vec::with_capacity(series.len());
    for s in series {
        let st = &s.style;
        let mut line_width = st.line_width;
        let mut dash = st.dashed;
        let mut explicit = match &st.color {
            Some(c) => Some(
                color::parse(c)
                    .map(|rgba| {
                        (
                            rgba,
                            c.trim_start_matches('#').trim_start_matches("%23").len() == 8,
                        )
                    })
                    .ok_or_else(|| GraphError::Parameter {
                        name: "color".to_string(),
                        value: c.clone(),
                        message: format!(
                            "series {:?} has a colour that is neither a name nor hex rrggbb[aa]",
                            s.name
                        ),
                    })?,
            ),
            None => None,
        };
        let side = if st.second_y_axis {
            &opts.right
        } else {
            &opts.left
        };
        if series.iter().any(|x| x.style.second_y_axis) {
            if let Some(wd) = side.width {
                line_width = Some(wd);
            }
            if let Some(d) = side.dashed {
                dash = Some(d);
            }
            if let Some(c) = side.color {
                explicit = Some((c, c.a < 1.0));
            }
        }
        let (color, color_has_alpha) = match explicit {
            Some(c) => c,
            None => (palette.next().copied().unwrap_or(Rgba::rgb(0, 0, 0)), false),
        };
        let step = s.step.max(1);
        out.push(Item {
            name: s.name.clone(),
            start: s.start,
            end: s.end,
            step,
            raw: s.values.iter().map(|v| v.filter(|x| !x.is_nan())).collect(),
            values: Vec::new(),
            vpp: 1,
            x_step: 1.0,
            consolidation: s.consolidation,
            x_files_factor: s.x_files_factor,
            color,
            color_has_alpha,
            alpha: st.alpha,
            line_width,
            dash,
            right: st.second_y_axis,
            infinite: st.draw_as_infinite,
            invisible: st.invisible,
            stacked: st.stack.is_some(),
        });
    }
    Ok(out)
}

/// graphite's `consolidateDataPoints`: more points than pixels are merged with the
/// series' consolidation function.
fn consolidate_items(items: &mut [Item], area: Area, opts: &Options, time_range: i64) {
    let pixels = area.xmax - area.xmin - (opts.line_width + 1.0);
    for item in items {
        let points = time_range as f64 / item.step as f64;
        let best = pixels / points;
        if best < opts.min_x_step {
            let drawable = (pixels / opts.min_x_step).floor().max(1.0);
            let per_pixel = (points / drawable).ceil().max(1.0);
            item.vpp = per_pixel as usize;
            item.x_step = pixels * per_pixel / points;
        } else {
            item.vpp = 1;
            item.x_step = best;
        }
        item.reconsolidate();
    }
}

/// graphite's `dataLimits`.
fn data_limits(items: &[&Item], null_as_zero: bool, stacked: bool) -> (f64, f64) {
    let missing = items.iter().any(|i| i.values.iter().any(Option::is_none));
    let finite: Vec<&&Item> = items.iter().filter(|i| !i.infinite).collect();
    let usable = |v: &Option<f64>| v.filter(|x| x.is_finite());
    let min = finite
        .iter()
        .flat_map(|i| i.values.iter().filter_map(usable))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
    let Some(mut min) = min else {
        return (0.0, 1.0);
    };
    if min > 0.0 && null_as_zero && missing {
        min = 0.0;
    }
    let mut max = if stacked {
        let len = finite.iter().map(|i| i.raw.len()).min().unwrap_or(0);
        (0..len)
            .map(|k| finite.iter().filter_map(|i| usable(&i.raw[k])).sum::<f64>())
            .fold(f64::NEG_INFINITY, f64::max)
    } else {
        finite
            .iter()
            .flat_map(|i| i.values.iter().filter_map(usable))
            .fold(f64::NEG_INFINITY, f64::max)
    };
    if !max.is_finite() {
        max = min;
    }
    if max < 0.0 && null_as_zero && missing {
        max = 0.0;
    }
    (min, max)
}

fn axis_error((name, message): (&'static str, String), opts: &Options) -> GraphError {
    let _ = opts;
    GraphError::Parameter {
        name: name.to_string(),
        value: String::new(),
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

fn legend(
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
                swatch(pen, x, y, *color);
                pen.text(
                    name,
                    x + box_size + padding,
                    y,
                    fs,
                    fg,
                    Align::Left,
                    Valign::Top,
                );
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
            swatch(pen, x, y, *color);
            pen.text(
                name,
                x + box_size + padding,
                y,
                fs,
                fg,
                Align::Left,
                Valign::Top,
            );
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

/// graphite's `drawLines`.
#[expect(clippy::too_many_arguments, reason = "the graph state drawLines reads")]
fn draw_lines(
    pen: &mut Pen,
    mut items: Vec<Item>,
    opts: &Options,
    area: Area,
    line_mode: LineMode,
    start_time: i64,
    two_axes: bool,
    ycoord: &dyn Fn(f64, bool) -> Option<f64>,
) {
    if items.iter().any(|i| i.stacked) {
        let (stacked, rest): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| i.stacked);
        items = stacked;
        items.extend(rest);
    }
    match opts.area_mode {
        AreaMode::Stacked if !two_axes => {
            let mut total: Vec<f64> = Vec::new();
            for item in items.iter_mut().filter(|i| !i.infinite) {
                item.stacked = true;
                for (k, v) in item.raw.iter_mut().enumerate() {
                    if total.len() <= k {
                        total.push(0.0);
                    }
                    if let Some(x) = v {
                        let original = *x;
                        *x += total[k];
                        total[k] += original;
                    }
                }
                item.reconsolidate();
            }
        }
        AreaMode::First => {
            if let Some(first) = items.first_mut() {
                first.stacked = true;
            }
        }
        AreaMode::All => {
            for item in items.iter_mut().filter(|i| !i.infinite) {
                item.stacked = true;
            }
        }
        _ => {}
    }
    if let Some(alpha) = opts.area_alpha.filter(|a| *a != 0.0) {
        let mut strokes = Vec::new();
        for item in items.iter_mut().filter(|i| i.stacked) {
            item.alpha = Some(alpha);
            strokes.push(Item {
                raw: item.values.clone(),
                step: item.step * item.vpp as i64,
                vpp: 1,
                alpha: None,
                line_width: None,
                dash: None,
                infinite: false,
                invisible: false,
                stacked: false,
                ..item.clone()
            });
        }
        items.extend(strokes);
    }

    let clip = area.rect();
    let mut areas_open = true;
    for (index, item) in items.iter().enumerate() {
        if !item.stacked && areas_open {
            areas_open = false;
            pen.ops.push(Op::EndAreas);
        }
        let width = item.line_width.unwrap_or(opts.line_width);
        let missing = (item.start - start_time) as f64 / item.step as f64;
        let shift = item.x_step * (missing / item.vpp as f64);
        let mut x = area.xmin + shift + opts.line_width / 2.0;
        let mut y = area.ymin;
        let mut start_x = x;
        let color = if item.invisible {
            item.color.with_alpha(0.0)
        } else if item.color_has_alpha {
            item.color
        } else {
            item.color.with_alpha(item.alpha.unwrap_or(1.0))
        };
        let zero_y = |right: bool| {
            ycoord(0.0, right)
                .filter(|y| *y != 0.0)
                .unwrap_or(area.ymax)
        };
        let mut path = Path::default();
        let mut fills: Vec<Vec<Point>> = Vec::new();
        let fill = |path: &mut Path, x: f64, start_x: f64, fills: &mut Vec<Vec<Point>>| {
            let from = zero_y(item.right);
            let start_x = if start_x == 0.0 { area.xmin } else { start_x };
            path.line_to((x, from));
            path.line_to((start_x, from));
            fills.extend(path.take());
        };
        let mut nones = 0usize;
        for (k, value) in item.values.iter().enumerate() {
            let value = match value {
                None if opts.draw_null_as_zero => Some(0.0),
                v => *v,
            };
            let point = value.and_then(|v| ycoord(v, item.right).map(|y| (v, y.max(0.0))));
            let Some((value, py)) = point else {
                if nones == 0 {
                    path.line_to((x, y));
                    if item.stacked {
                        fill(&mut path, x, start_x, &mut fills);
                    }
                }
                x += item.x_step;
                nones += 1;
                continue;
            };
            y = py;
            if item.infinite && value > 0.0 {
                path.move_to((x, area.ymax));
                path.line_to((x, area.ymin));
                path.open = false;
                x += item.x_step;
                continue;
            }
            if nones > 0 {
                start_x = x;
            }
            match line_mode {
                LineMode::Staircase => {
                    if nones > 0 {
                        path.move_to((x, y));
                    } else {
                        path.line_to((x, y));
                    }
                    x += item.x_step;
                    path.line_to((x, y));
                }
                LineMode::Slope => {
                    if nones > 0 {
                        path.move_to((x, y));
                    }
                    path.line_to((x, y));
                    x += item.x_step;
                }
                LineMode::Connected => {
                    if opts.connected_limit.is_some_and(|l| nones > l) || nones == k {
                        path.move_to((x, y));
                    }
                    path.line_to((x, y));
                    x += item.x_step;
                }
            }
            nones = 0;
        }
        if item.stacked {
            let x_end = if line_mode == LineMode::Staircase {
                x
            } else {
                x - item.x_step
            };
            fill(&mut path, x_end, start_x, &mut fills);
            pen.ops.push(Op::Fill {
                polygons: fills,
                color,
                clip,
                series: index,
            });
        } else {
            pen.ops.push(Op::Stroke {
                paths: path.take(),
                width,
                color,
                dash: item.dash,
                clip: Some(clip),
                series: Some(index),
            });
        }
    }
}
