//! The line graph (graphite-web's `LineGraph`): lays out title, legend, axes, grid and the
//! series into a [`Drawing`].
//!
//! The order follows graphite: title and vertical title take room from the top and left,
//! the legend from the bottom, x-axis labels from the bottom, then the series are
//! consolidated to the pixels available and the y axis is fitted, repeating until the
//! y-label width stops changing the plot width. Series are drawn last, areas (stacked
//! series) first, each area excluding the ones drawn before it.
//!
//! [`layout`] runs those steps in that order, one function each, on a `Graph` that holds
//! what they share: the options (as `graphOnly` and a second y axis adjust them), the
//! operations drawn so far and the plot area, which each step narrows.

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
/// Rounds of consolidating and fitting the y axis before the plot width is taken as settled.
const MAX_FIT_ROUNDS: usize = 10;

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

/// The fitted y axes and the width of their labels.
struct YAxes {
    /// The only axis, or the left one when there are two.
    left: Axis,
    left_width: f64,
    right: Option<(Axis, f64)>,
}

impl YAxes {
    /// The pixel row of `value` on the right axis (when `right` and there is one) or the
    /// left one; `None` for values a log axis cannot show.
    fn y(&self, value: f64, right: bool, area: Area) -> Option<f64> {
        match (&self.right, right) {
            (Some((r, _)), true) => r.y(value, area.ymin, area.ymax),
            _ => self.left.y(value, area.ymin, area.ymax),
        }
    }
}

/// The time axis as drawn (graphite's `setupXAxis`): the span, the `xAxisConfigs` row for
/// the plot width, and the pixel column of a time.
struct TimeAxis<'a> {
    start: i64,
    end: i64,
    /// The zone's UTC offset at `start`, used for the whole axis.
    offset: i64,
    tz: &'a TimeZone,
    config: &'static xaxis::Config,
    xmin: f64,
    /// Pixels per second.
    scale: f64,
}

impl<'a> TimeAxis<'a> {
    /// The axis from `start` to `end` across the settled plot area.
    fn new(start: i64, end: i64, tz: &'a TimeZone, area: Area, line_width: f64) -> Self {
        let graph_width = area.xmax - area.xmin - (line_width + 1.0);
        let time_range = end - start;
        TimeAxis {
            start,
            end,
            offset: i64::from(tz.offset_at(start)),
            tz,
            config: xaxis::choose(time_range, graph_width),
            xmin: area.xmin,
            scale: graph_width / time_range as f64,
        }
    }

    /// The times on the axis every `step` × `unit` seconds.
    fn times(&self, unit: i64, step: f64) -> Vec<i64> {
        xaxis::times(self.start, self.end, self.offset, unit, step)
    }

    /// The pixel column of time `t`.
    fn x(&self, t: i64) -> f64 {
        self.xmin + (t - self.start) as f64 * self.scale
    }
}

/// Lays out the graph of `series` with options `opts`, times labelled in `tz`.
pub fn layout(series: &[Series], opts: &Options, tz: &TimeZone) -> Result<Drawing, GraphError> {
    let pen = background(opts);
    let start_time = series.iter().map(|s| s.start).min().unwrap_or(0);
    let max_end = series.iter().map(|s| s.end).max().unwrap_or(0);
    if series.is_empty() || max_end <= start_time {
        return Ok(no_data(pen, opts));
    }
    let mut graph = Graph::new(opts, pen);
    let mut items = items(series, &graph.opts)?;
    let two_axes = items.iter().any(|i| i.right);
    if two_axes {
        graph.opts.y_axis_right = false;
    }
    graph.draw_title();
    graph.draw_vtitles(two_axes);
    graph.draw_legend(&items, two_axes);
    graph.make_room_for_x_labels();
    let (end_time, line_mode) = time_span(&items, graph.opts.line_mode, start_time, max_end);
    let axes = graph.fit_y_axes(&mut items, end_time - start_time)?;
    let time = TimeAxis::new(start_time, end_time, tz, graph.area, graph.opts.line_width);
    graph.draw_axes(&axes, &time);
    Ok(graph.draw_series(items, line_mode, two_axes, axes, &time))
}

/// The background rectangle over the whole image, which every graph starts with.
pub(super) fn background(opts: &Options) -> Pen {
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
    pen
}

/// graphite's "No Data" image, for no series or series without a time span.
pub(super) fn no_data(mut pen: Pen, opts: &Options) -> Drawing {
    let (w, h) = (f64::from(opts.width), f64::from(opts.height));
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
    Drawing {
        width: opts.width,
        height: opts.height,
        ops: pen.ops,
        meta: None,
    }
}

/// The end of the time axis (graphite's `endTime`) and the line mode to draw with: the
/// latest time of a last point, or in staircase mode the latest series end. A slope graph
/// with a single-point series is drawn as a staircase, and so is one whose span would
/// otherwise be empty.
fn time_span(
    items: &[Item],
    line_mode: LineMode,
    start_time: i64,
    max_end: i64,
) -> (i64, LineMode) {
    let mut line_mode = line_mode;
    if line_mode == LineMode::Slope && items.iter().any(|i| i.raw.len() == 1) {
        line_mode = LineMode::Staircase;
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
    if end_time > start_time {
        (end_time, line_mode)
    } else {
        (max_end, LineMode::Staircase)
    }
}

/// What the layout steps share.
struct Graph {
    /// The options, as `graphOnly` and a second y axis adjust them.
    opts: Options,
    /// The operations drawn so far.
    pen: Pen,
    /// The plot area, narrowed by each step that takes room.
    area: Area,
    /// Image width in pixels.
    width: f64,
    /// Image height in pixels.
    height: f64,
}

impl Graph {
    /// graphite's margins: the plot area starts as the image less `margin` on each side
    /// (10 more on the left); `graphOnly` hides everything but the lines and gives them the
    /// whole image.
    fn new(opts: &Options, pen: Pen) -> Self {
        let (width, height) = (f64::from(opts.width), f64::from(opts.height));
        let mut opts = opts.clone();
        let mut area = Area {
            xmin: opts.margin + 10.0,
            xmax: width - opts.margin,
            ymin: opts.margin,
            ymax: height - opts.margin,
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
                xmax: width,
                ymin: 0.0,
                ymax: height,
            };
        }
        Graph {
            opts,
            pen,
            area,
            width,
            height,
        }
    }

    /// The size of the title font: `fontSize` plus its natural logarithm rounded down.
    fn title_size(&self) -> f64 {
        let fs = self.opts.font_size;
        fs + fs.ln().floor()
    }

    /// graphite's `drawTitle`: the title's lines centred at the top, taking their height
    /// (and a margin, unless the y axis is on the right) off the plot area.
    fn draw_title(&mut self) {
        let Some(title) = self.opts.title.as_deref().filter(|t| !t.is_empty()) else {
            return;
        };
        let (size, fg, x) = (self.title_size(), self.opts.foreground, self.width / 2.0);
        self.pen.ops.push(Op::Begin(Part::Title));
        let mut y = self.area.ymin;
        for line in title.split('\n') {
            self.pen
                .text(line, x, y, size, fg, Align::Center, Valign::Top);
            y += font::height(size);
        }
        self.area.ymin = if self.opts.y_axis_right {
            y
        } else {
            y + self.opts.margin
        };
    }

    /// graphite's `drawVTitle`: `vtitle` reading upwards on the left and, with two y axes,
    /// `vtitleRight` reading downwards on the right, each taking its lines, a margin and a
    /// line more off that side of the plot area.
    fn draw_vtitles(&mut self, two_axes: bool) {
        if let Some(vtitle) = self.opts.vtitle.clone().filter(|t| !t.is_empty()) {
            self.draw_vtitle(&vtitle, false);
        }
        if two_axes {
            if let Some(vtitle) = self.opts.vtitle_right.clone().filter(|t| !t.is_empty()) {
                self.draw_vtitle(&vtitle, true);
            }
        }
    }

    /// One vertical title, on the right when `right` (graphite's `rightAlign`).
    fn draw_vtitle(&mut self, text: &str, right: bool) {
        self.pen.ops.push(Op::Begin(Part::Vtitle));
        let (size, fg, y) = (self.title_size(), self.opts.foreground, self.height / 2.0);
        let lh = font::height(size);
        // Lines go inwards from the edge: rightwards on the left, leftwards on the right.
        let (step, edge, rotation) = if right {
            (-lh, self.area.xmax, Rotation::Down)
        } else {
            (lh, self.area.xmin, Rotation::Up)
        };
        let mut x = edge + step;
        for line in text.split('\n') {
            self.pen.vtext(line, x, y, size, fg, rotation);
            x += step;
        }
        if right {
            self.area.xmax = x - self.opts.margin - lh;
        } else {
            self.area.xmin = x + self.opts.margin + lh;
        }
    }

    /// The legend (graphite's `drawLegend` and the element list `drawGraph` gives it): the
    /// named series, less all-null ones with `hideNullFromLegend` and repeated names with
    /// `uniqueLegend`; hidden by default for more than [`LEGEND_MAX_ITEMS`] series.
    fn draw_legend(&mut self, items: &[Item], two_axes: bool) {
        if self
            .opts
            .hide_legend
            .unwrap_or(items.len() > LEGEND_MAX_ITEMS)
        {
            return;
        }
        let mut elements: Vec<(String, Rgba, bool)> = items
            .iter()
            .filter(|i| !i.name.is_empty())
            .filter(|i| !(self.opts.hide_null_from_legend && i.raw.iter().all(Option::is_none)))
            .map(|i| (unquote_name(&i.name), i.color, i.right))
            .collect();
        if self.opts.unique_legend {
            let mut seen = std::collections::HashSet::new();
            elements.retain(|e| seen.insert(e.0.clone()));
        }
        if !elements.is_empty() {
            legend(
                &mut self.pen,
                &mut self.area,
                &elements,
                &self.opts,
                two_axes,
            );
        }
    }

    /// graphite's room for the x-axis labels: two ascents off the bottom of the plot area.
    fn make_room_for_x_labels(&mut self) {
        if !self.opts.hide_axes && !self.opts.hide_x_axis {
            self.area.ymax -= font::ascent(self.opts.font_size) * 2.0;
        }
    }

    /// graphite's `consolidateDataPoints` and `setupYAxis` loop: consolidate to the plot
    /// width, fit the y axes, which narrows the plot to fit their labels, and repeat until
    /// the width stops changing.
    fn fit_y_axes(&mut self, items: &mut [Item], time_range: i64) -> Result<YAxes, GraphError> {
        let mut rounds = 0;
        loop {
            let before = (self.area.xmin, self.area.xmax);
            consolidate_items(items, self.area, &self.opts, time_range);
            let axes = setup_y(items, &self.opts, &mut self.area, self.width)?;
            rounds += 1;
            if before == (self.area.xmin, self.area.xmax) || rounds == MAX_FIT_ROUNDS {
                return Ok(axes);
            }
        }
    }

    /// The `axes` part, unless `hideAxes`: the labels (`drawLabels`), then in the `grid`
    /// part the grid lines (`drawGridLines`), each unless hidden on its own.
    fn draw_axes(&mut self, axes: &YAxes, time: &TimeAxis) {
        if self.opts.hide_axes {
            return;
        }
        self.pen.ops.push(Op::Begin(Part::Axes));
        if !self.opts.hide_y_axis {
            self.draw_y_labels(axes);
        }
        if !self.opts.hide_x_axis {
            self.draw_x_labels(time);
        }
        if !self.opts.hide_grid {
            self.pen.ops.push(Op::Begin(Part::Grid));
            self.draw_y_grid(axes);
            self.draw_x_grid(time);
        }
    }

    /// The y labels of `drawLabels`: right-aligned left of the plot, or left-aligned right
    /// of it for `yAxisSide=right` and for the right axis of two.
    fn draw_y_labels(&mut self, axes: &YAxes) {
        let (xmin, xmax) = (self.area.xmin, self.area.xmax);
        let lw = axes.left_width;
        match &axes.right {
            None if self.opts.y_axis_right => {
                self.y_labels(&axes.left, xmax + lw * 0.02, Align::Left);
            }
            None => self.y_labels(&axes.left, xmin - lw * 0.02, Align::Right),
            Some((right, rw)) => {
                self.y_labels(&axes.left, xmin - lw * 0.02, Align::Right);
                self.y_labels(right, xmax + rw * 0.02 + 3.0, Align::Left);
            }
        }
    }

    /// One axis' labels at column `x`, each centred on its value's row (kept on the image).
    fn y_labels(&mut self, axis: &Axis, x: f64, align: Align) {
        let (fs, fg) = (self.opts.font_size, self.opts.foreground);
        for (value, label) in axis.label_values.iter().zip(&axis.labels) {
            let Some(y) = axis.y(*value, self.area.ymin, self.area.ymax) else {
                continue;
            };
            self.pen
                .text(label, x, y.max(0.0), fs, fg, align, Valign::Middle);
        }
    }

    /// The x labels of `drawLabels`: the times of the label step, centred under the plot,
    /// formatted by `xFormat` or the axis row's format.
    fn draw_x_labels(&mut self, time: &TimeAxis) {
        let (fs, fg) = (self.opts.font_size, self.opts.foreground);
        let format = self.opts.x_format.as_deref().unwrap_or(time.config.format);
        let y = self.area.ymax + font::ascent(fs);
        for t in time.times(time.config.label_unit, time.config.label_step) {
            let label = xaxis::strftime(format, t, time.offset, time.tz);
            self.pen
                .text(&label, time.x(t), y, fs, fg, Align::Center, Valign::Top);
        }
    }

    /// The horizontal lines of `drawGridLines`: one at each (left) axis label, with
    /// `minorY` minor lines between.
    fn draw_y_grid(&mut self, axes: &YAxes) {
        let (opts, area, axis) = (&self.opts, self.area, &axes.left);
        let pen = &mut self.pen;
        let row = |value: f64| axis.y(value, area.ymin, area.ymax).filter(|y| *y >= 0.0);
        let labels = &axis.label_values;
        for (i, value) in labels.iter().enumerate() {
            let Some(y) = row(*value) else {
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
                    let Some(y) = row(v) else {
                        continue;
                    };
                    pen.line((area.xmin, y), (area.xmax, y), 0.3, opts.minor_grid);
                }
            }
        }
    }

    /// The vertical lines of `drawGridLines`: minor, then major lines at the axis row's
    /// steps (those inside the plot), then both edges of the plot.
    fn draw_x_grid(&mut self, time: &TimeAxis) {
        let c = time.config;
        let (minor, major) = (self.opts.minor_grid, self.opts.major_grid);
        self.vertical_lines(time, c.minor_unit, c.minor_step, 0.25, minor);
        self.vertical_lines(time, c.major_unit, c.major_step, 0.33, major);
        let (top, bottom) = (self.area.ymin, self.area.ymax);
        let (xmin, xmax) = (self.area.xmin, self.area.xmax);
        self.pen.line((xmax, bottom), (xmax, top), 0.5, major);
        self.pen.line((xmin, bottom), (xmin, top), 0.5, major);
    }

    /// A full-height line at every time of the step left of the plot's right edge.
    fn vertical_lines(&mut self, time: &TimeAxis, unit: i64, step: f64, width: f64, color: Rgba) {
        let (top, bottom) = (self.area.ymin, self.area.ymax);
        for t in time.times(unit, step) {
            let x = time.x(t);
            if x < self.area.xmax {
                self.pen.line((x, bottom), (x, top), width, color);
            }
        }
    }

    /// graphite's `drawLines`, last, and the finished drawing with the metadata of where
    /// everything went.
    fn draw_series(
        mut self,
        items: Vec<Item>,
        line_mode: LineMode,
        two_axes: bool,
        axes: YAxes,
        time: &TimeAxis,
    ) -> Drawing {
        let area = self.area;
        self.pen.ops.push(Op::Begin(Part::Lines));
        let series_meta = draw_lines(
            &mut self.pen,
            items,
            &self.opts,
            area,
            line_mode,
            time.start,
            two_axes,
            &|value, right| axes.y(value, right, area),
        );
        Drawing {
            width: self.opts.width,
            height: self.opts.height,
            ops: self.pen.ops,
            meta: Some(Meta {
                area: area.rect(),
                start: time.start,
                end: time.end,
                y: axes.left,
                y_right: axes.right.map(|(axis, _)| axis),
                line_width: self.opts.line_width,
                font_size: self.opts.font_size,
                series: series_meta,
            }),
        }
    }
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
    // Labels take their width and 2 % more from the side they are on.
    let room_left = |area: &mut Area, label_width: f64| {
        let xmin = opts.margin + label_width * 1.02;
        if area.xmin < xmin {
            area.xmin = xmin;
        }
    };
    let room_right = |area: &mut Area, label_width: f64| {
        let xmax = width - label_width * 1.02;
        if area.xmax >= xmax {
            area.xmax = xmax;
        }
    };
    if !items.iter().any(|i| i.right) {
        let left = axis(items.iter().collect(), &opts.y, !opts.hide_axes)?;
        let lw = label_width(&left, fs);
        if !opts.hide_axes && !opts.hide_y_axis {
            if opts.y_axis_right {
                room_right(area, lw);
            } else {
                room_left(area, lw);
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
    room_left(area, lw);
    room_right(area, rw);
    Ok(YAxes {
        left,
        left_width: lw,
        right: Some((right, rw)),
    })
}
