//! The series as drawn: colours and styles resolved, points consolidated to the pixels
//! available (graphite-web's `consolidateDataPoints`), the data range (`dataLimits`), and
//! the lines and areas themselves (`drawLines`).

use super::color::{self, Rgba};
use super::draw::{Op, Pen, Point, SeriesMeta};
use super::line::Area;
use super::params::{AreaMode, LineMode, Options};
use super::GraphError;
use crate::query::json::consolidate;
use crate::query::series::Series;

/// One series as drawn.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) name: String,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) step: i64,
    pub(super) raw: Vec<Option<f64>>,
    /// `raw` consolidated by `vpp`.
    pub(super) values: Vec<Option<f64>>,
    pub(super) vpp: usize,
    pub(super) x_step: f64,
    pub(super) consolidation: crate::query::json::Consolidation,
    pub(super) x_files_factor: f64,
    pub(super) color: Rgba,
    /// The colour had its own opacity (`rrggbbaa`), which `alpha()` does not override.
    pub(super) color_has_alpha: bool,
    pub(super) alpha: Option<f64>,
    pub(super) line_width: Option<f64>,
    pub(super) dash: Option<f64>,
    pub(super) right: bool,
    pub(super) infinite: bool,
    pub(super) invisible: bool,
    pub(super) stacked: bool,
}

impl Item {
    pub(super) fn reconsolidate(&mut self) {
        self.values = consolidate(&self.raw, self.vpp, self.consolidation, self.x_files_factor);
    }
}

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

/// graphite's legend names are URL-decoded once more (`unquote_plus`).
pub(super) fn unquote_name(name: &str) -> String {
    super::params::unquote_plus(name)
}

/// The series with their colours and styles resolved.
pub(super) fn items(series: &[Series], opts: &Options) -> Result<Vec<Item>, GraphError> {
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
        // A palette entry with its own opacity (`rrggbbaa`) keeps it, as graphite does.
        let (color, color_has_alpha) = explicit.unwrap_or_else(|| {
            let c = palette.next().copied().unwrap_or(Rgba::rgb(0, 0, 0));
            (c, c.a < 1.0)
        });
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
pub(super) fn consolidate_items(items: &mut [Item], area: Area, opts: &Options, time_range: i64) {
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
pub(super) fn data_limits(items: &[&Item], null_as_zero: bool, stacked: bool) -> (f64, f64) {
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

/// graphite's `drawLines`.
#[expect(clippy::too_many_arguments, reason = "the graph state drawLines reads")]
pub(super) fn draw_lines(
    pen: &mut Pen,
    mut items: Vec<Item>,
    opts: &Options,
    area: Area,
    line_mode: LineMode,
    start_time: i64,
    two_axes: bool,
    ycoord: &dyn Fn(f64, bool) -> Option<f64>,
) -> Vec<SeriesMeta> {
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
            let point = value.and_then(|v| ycoord(v, item.right).map(|y| (v, y.clamp(0.0, 1.0e6))));
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
    items
        .iter()
        .filter(|i| !i.stacked)
        .map(|i| SeriesMeta {
            name: i.name.clone(),
            start: i.start,
            end: i.end,
            step: i.step,
            values_per_point: i.vpp,
            color: i.color.hex(),
            values: i.raw.clone(),
            line_width: i.line_width,
            dashed: i.dash,
            second_y_axis: i.right,
            draw_as_infinite: i.infinite,
        })
        .collect()
}
