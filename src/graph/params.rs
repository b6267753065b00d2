//! The graph parameters of a render request, typed as graphite-web's `parseOptions` types
//! them: digits are integers (except for colour options), `1.5` is a float, `true`/`false`
//! are booleans, `default` or an empty value leaves the option unset, anything else is a
//! string. The last occurrence of a repeated parameter wins. A value the graph cannot use
//! is a [`GraphError::Parameter`] naming the parameter.

use super::color::{self, Rgba};
use super::GraphError;

/// Largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// Largest number of pixels accepted (width × height).
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// How points are joined (`lineMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMode {
    Slope,
    Staircase,
    Connected,
}

/// Which series are filled (`areaMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaMode {
    None,
    First,
    All,
    Stacked,
}

/// The unit prefixes of y-axis labels (`yUnitSystem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitSystem {
    Si,
    Binary,
    Sec,
    Msec,
    None,
}

/// The upper end of a y axis as asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AxisMax {
    /// Rounded up from the data.
    Auto,
    /// `yMax=max`: the largest value, not rounded.
    Extremum,
    /// A fixed value.
    Value(f64),
}

/// The limits asked for one y axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisLimits {
    /// The bottom, fixed.
    pub min: Option<f64>,
    /// The top.
    pub max: AxisMax,
    /// A top the rounding may not pass.
    pub limit: Option<f64>,
    /// The label step, fixed.
    pub step: Option<f64>,
}

/// Per-side overrides for graphs with two y axes (`leftColor`, `rightWidth`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideStyle {
    /// Colour of every series on that side.
    pub color: Option<Rgba>,
    /// Line width of every series on that side.
    pub width: Option<f64>,
    /// Dash length of every series on that side.
    pub dashed: Option<f64>,
}

/// Every graph option, with graphite's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `width` in pixels.
    pub width: u32,
    /// `height` in pixels.
    pub height: u32,
    /// `margin` in pixels.
    pub margin: f64,
    /// `bgcolor`.
    pub background: Rgba,
    /// `fgcolor`: text, labels, legend names.
    pub foreground: Rgba,
    /// `majorGridLineColor`.
    pub major_grid: Rgba,
    /// `minorGridLineColor`.
    pub minor_grid: Rgba,
    /// `fontSize` (em size in pixels).
    pub font_size: f64,
    /// `colorList`: colours given in turn to series without their own.
    pub colors: Vec<Rgba>,
    /// `title` (`\n` separates lines).
    pub title: Option<String>,
    /// `vtitle`: vertical title on the left.
    pub vtitle: Option<String>,
    /// `vtitleRight`: on the right, with two y axes.
    pub vtitle_right: Option<String>,
    /// `lineMode`.
    pub line_mode: LineMode,
    /// `lineWidth` (or `thickness`).
    pub line_width: f64,
    /// `areaMode`.
    pub area_mode: AreaMode,
    /// `areaAlpha`: opacity of areas.
    pub area_alpha: Option<f64>,
    /// `None`: hidden when there are more than ten series (graphite's `LEGEND_MAX_ITEMS`).
    pub hide_legend: Option<bool>,
    /// `hideAxes`.
    pub hide_axes: bool,
    /// `hideXAxis`.
    pub hide_x_axis: bool,
    /// `hideYAxis`.
    pub hide_y_axis: bool,
    /// `hideGrid`.
    pub hide_grid: bool,
    /// `graphOnly`: only the lines, over the whole image.
    pub graph_only: bool,
    /// `yAxisSide=right`.
    pub y_axis_right: bool,
    /// `yMin` (`min`), `yMax` (`max`), `yLimit`, `yStep`.
    pub y: AxisLimits,
    /// `yMinLeft`, `yMaxLeft`, `yLimitLeft`, `yStepLeft`.
    pub y_left: AxisLimits,
    /// `yMinRight`, `yMaxRight`, `yLimitRight`, `yStepRight`.
    pub y_right: AxisLimits,
    /// `yDivisors`: allowed numbers of divisions.
    pub y_divisors: Vec<f64>,
    /// `minorY`: minor grid lines between labels.
    pub minor_y: u32,
    /// `logBase` (`e` is Euler's number).
    pub log_base: Option<f64>,
    /// `yUnitSystem`.
    pub unit_system: UnitSystem,
    /// `drawNullAsZero`.
    pub draw_null_as_zero: bool,
    /// `uniqueLegend`.
    pub unique_legend: bool,
    /// `hideNullFromLegend`.
    pub hide_null_from_legend: bool,
    /// `minXStep`: fewest pixels between drawn points.
    pub min_x_step: f64,
    /// `connectedLimit`.
    pub connected_limit: Option<usize>,
    /// `xFormat`: strftime format of time labels.
    pub x_format: Option<String>,
    /// `leftColor`, `leftWidth`, `leftDashed`.
    pub left: SideStyle,
    /// `rightColor`, `rightWidth`, `rightDashed`.
    pub right: SideStyle,
}

/// One value as graphite types it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Typed<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// graphite's auto-typing; `None` for `default` and empty values (unset).
fn autotype<'a>(name: &str, value: &'a str) -> Option<Typed<'a>> {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    if is_digits(unsigned) && !name.to_ascii_lowercase().contains("color") {
        // Too many digits for an i64: graphite's Python int has no limit; keep the float.
        return Some(value.parse().map_or_else(
            |_| Typed::Float(value.parse().unwrap_or(f64::MAX)),
            Typed::Int,
        ));
    }
    if value.contains('.') && is_digits(&unsigned.replacen('.', "", 1)) {
        if let Ok(f) = value.parse() {
            return Some(Typed::Float(f));
        }
    }
    match value.to_ascii_lowercase().as_str() {
        "true" => Some(Typed::Bool(true)),
        "false" => Some(Typed::Bool(false)),
        "default" | "" => None,
        _ => Some(Typed::Str(value)),
    }
}

/// Reads options out of the request's parameters.
struct Reader<'a> {
    params: &'a [(String, String)],
}

fn bad(name: &str, value: &str, message: impl Into<String>) -> GraphError {
    GraphError::Parameter {
        name: name.to_string(),
        value: value.to_string(),
        message: message.into(),
    }
}

impl<'a> Reader<'a> {
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error for `name`, read but out of its range, with its value as given.
    fn out_of_range(&self, name: &str, message: impl Into<String>) -> GraphError {
        bad(name, self.raw(name).unwrap_or_default(), message)
    }

    fn typed(&self, name: &str) -> Option<(Typed<'a>, &'a str)> {
        let raw = self.raw(name)?;
        autotype(name, raw).map(|t| (t, raw))
    }

    fn number(&self, name: &str) -> Result<Option<f64>, GraphError> {
        match self.typed(name) {
            None => Ok(None),
            Some((Typed::Int(i), _)) => Ok(Some(i as f64)),
            Some((Typed::Float(f), _)) if f.is_finite() => Ok(Some(f)),
            Some((_, raw)) => Err(bad(name, raw, "must be a number")),
        }
    }

    fn positive(&self, name: &str) -> Result<Option<f64>, GraphError> {
        match self.number(name)? {
            Some(v) if v <= 0.0 => Err(self.out_of_range(name, "must be greater than zero")),
            v => Ok(v),
        }
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, GraphError> {
        match self.typed(name) {
            None => Ok(None),
            Some((Typed::Bool(b), _)) => Ok(Some(b)),
            Some((Typed::Int(i), _)) => Ok(Some(i != 0)),
            Some((Typed::Float(f), _)) => Ok(Some(f != 0.0)),
            Some((Typed::Str(_), raw)) => Err(bad(name, raw, "must be true or false")),
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        self.typed(name).map(|(_, raw)| raw.to_string())
    }

    fn color(&self, name: &str) -> Result<Option<Rgba>, GraphError> {
        match self.typed(name) {
            None => Ok(None),
            Some((_, raw)) => color::parse(raw).map(Some).ok_or_else(|| {
                bad(
                    name,
                    raw,
                    "not a colour: use a name (red, blue, …) or hex rrggbb[aa]",
                )
            }),
        }
    }

    fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)]) -> Result<Option<T>, GraphError> {
        let Some((_, raw)) = self.typed(name) else {
            return Ok(None);
        };
        let lower = raw.to_ascii_lowercase();
        if let Some((_, v)) = choices.iter().find(|(k, _)| *k == lower) {
            return Ok(Some(*v));
        }
        let names: Vec<&str> = choices.iter().map(|(k, _)| *k).collect();
        Err(bad(
            name,
            raw,
            format!("must be one of {}", names.join(", ")),
        ))
    }

    fn axis_max(&self, name: &str) -> Result<AxisMax, GraphError> {
        if self.raw(name) == Some("max") {
            return Ok(AxisMax::Extremum);
        }
        Ok(self.number(name)?.map_or(AxisMax::Auto, AxisMax::Value))
    }

    fn limits(
        &self,
        min: &str,
        max: &str,
        limit: &str,
        step: &str,
    ) -> Result<AxisLimits, GraphError> {
        Ok(AxisLimits {
            min: self.number(min)?,
            max: self.axis_max(max)?,
            limit: self.number(limit)?,
            step: self.positive(step)?,
        })
    }

    fn side(&self, prefix: &str) -> Result<SideStyle, GraphError> {
        Ok(SideStyle {
            color: self.color(&format!("{prefix}Color"))?,
            width: self.positive(&format!("{prefix}Width"))?,
            dashed: self.dash(&format!("{prefix}Dashed"))?,
        })
    }

    /// A dash length: `true` or a number (graphite's `dashed` default is 5).
    fn dash(&self, name: &str) -> Result<Option<f64>, GraphError> {
        match self.typed(name) {
            None | Some((Typed::Bool(false), _)) => Ok(None),
            Some((Typed::Bool(true), _)) => Ok(Some(5.0)),
            Some(_) => self.positive(name),
        }
    }

    fn side_pixels(&self, name: &str, default: u32) -> Result<u32, GraphError> {
        let Some(v) = self.number(name)? else {
            return Ok(default);
        };
        let v = v.trunc();
        if v < 1.0 || v > f64::from(MAX_SIDE) {
            return Err(self.out_of_range(name, format!("must be between 1 and {MAX_SIDE}")));
        }
        Ok(v as u32)
    }
}

/// graphite's `unquote_plus`: `+` is a space and `%XX` a byte; malformed escapes stay.
pub fn unquote_plus(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3) {
                Some(&[h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    out.push(hex_value(h) * 16 + hex_value(l));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

impl Options {
    /// Reads the graph options out of a request's parameters.
    pub fn parse(params: &[(String, String)]) -> Result<Options, GraphError> {
        let r = Reader { params };
        graph_type(params)?;
        let width = r.side_pixels("width", 330)?;
        let height = r.side_pixels("height", 250)?;
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(bad(
                "width",
                &width.to_string(),
                format!("width × height must be at most {MAX_PIXELS} pixels"),
            ));
        }
        let margin = match r.number("margin")? {
            Some(m) if m >= 0.0 => m.trunc(),
            _ => 10.0,
        };
        let font_size = match r.number("fontSize")? {
            None => 10.0,
            Some(s) if (1.0..=200.0).contains(&s.trunc()) => s.trunc(),
            Some(_) => return Err(r.out_of_range("fontSize", "must be between 1 and 200")),
        };
        let colors = match r.typed("colorList") {
            None => color_list(color::DEFAULT_COLOR_LIST).unwrap_or_default(),
            Some((_, raw)) => {
                let list = unquote_plus(raw);
                color_list(&list).map_err(|c| {
                    bad(
                        "colorList",
                        raw,
                        format!(
                            "{c:?} is not a colour: use names (red, blue, …) or hex rrggbb[aa]"
                        ),
                    )
                })?
            }
        };
        let log_base = match r.typed("logBase") {
            None => None,
            Some((Typed::Str("e"), _)) => Some(std::f64::consts::E),
            Some(_) => match r.number("logBase")? {
                Some(b) if b < 1.0 => None,
                Some(1.0) => {
                    return Err(bad("logBase", "1", "must be greater than one"));
                }
                b => b,
            },
        };
        let unit_system = match r
            .text("yUnitSystem")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("binary") => UnitSystem::Binary,
            Some("sec") => UnitSystem::Sec,
            Some("msec") => UnitSystem::Msec,
            Some("none") => UnitSystem::None,
            // graphite falls back to si for unknown names.
            _ => UnitSystem::Si,
        };
        let y_divisors = match r.typed("yDivisors") {
            None => vec![4.0, 5.0, 6.0],
            Some((_, raw)) => raw
                .split(',')
                .map(|d| d.trim().parse::<i64>().ok().filter(|d| *d >= 1))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.into_iter().map(|d| d as f64).collect())
                .ok_or_else(|| bad("yDivisors", raw, "must be integers ≥ 1 separated by commas"))?,
        };
        let line_width = r
            .positive("lineWidth")?
            .or(r.positive("thickness")?)
            .unwrap_or(1.2);
        let mut y = r.limits("yMin", "yMax", "yLimit", "yStep")?;
        if y.min.is_none() {
            y.min = r.number("min")?;
        }
        if y.max == AxisMax::Auto {
            y.max = r.axis_max("max")?;
        }
        let connected_limit = match r.number("connectedLimit")? {
            None => None,
            Some(v) if v >= 0.0 => Some(v as usize),
            Some(_) => return Err(r.out_of_range("connectedLimit", "must not be negative")),
        };
        let minor_y = match r.number("minorY")? {
            None => 1,
            Some(v) if (0.0..=100.0).contains(&v) => v as u32,
            Some(_) => return Err(r.out_of_range("minorY", "must be between 0 and 100")),
        };
        let x_format = r.text("xFormat");
        if let Some(f) = &x_format {
            super::xaxis::check_format(f).map_err(|m| bad("xFormat", f, m))?;
        }
        let graph_only = r.flag("graphOnly")?.unwrap_or(false);
        Ok(Options {
            width,
            height,
            margin,
            background: r.color("bgcolor")?.unwrap_or(Rgba::rgb(255, 255, 255)),
            foreground: r.color("fgcolor")?.unwrap_or(Rgba::rgb(0, 0, 0)),
            major_grid: r
                .color("majorGridLineColor")?
                .unwrap_or(Rgba::rgb(200, 150, 200)),
            minor_grid: r
                .color("minorGridLineColor")?
                .unwrap_or(Rgba::rgb(175, 175, 175)),
            font_size,
            colors,
            title: r.text("title").map(|t| unquote_plus(&t)),
            vtitle: r.text("vtitle").map(|t| unquote_plus(&t)),
            vtitle_right: r.text("vtitleRight").map(|t| unquote_plus(&t)),
            line_mode: r
                .choice(
                    "lineMode",
                    &[
                        ("slope", LineMode::Slope),
                        ("staircase", LineMode::Staircase),
                        ("connected", LineMode::Connected),
                    ],
                )?
                .unwrap_or(LineMode::Slope),
            line_width,
            area_mode: r
                .choice(
                    "areaMode",
                    &[
                        ("none", AreaMode::None),
                        ("first", AreaMode::First),
                        ("all", AreaMode::All),
                        ("stacked", AreaMode::Stacked),
                    ],
                )?
                .unwrap_or(AreaMode::None),
            area_alpha: match r.typed("areaAlpha") {
                None => None,
                // graphite uses 0.5 when the value is not a number.
                Some((Typed::Int(i), _)) => Some((i as f64).clamp(0.0, 1.0)),
                Some((Typed::Float(f), _)) => Some(f.clamp(0.0, 1.0)),
                Some(_) => Some(0.5),
            },
            hide_legend: r.flag("hideLegend")?,
            hide_axes: r.flag("hideAxes")?.unwrap_or(false),
            hide_x_axis: r.flag("hideXAxis")?.unwrap_or(false),
            hide_y_axis: r.flag("hideYAxis")?.unwrap_or(false),
            hide_grid: r.flag("hideGrid")?.unwrap_or(false),
            graph_only,
            y_axis_right: r
                .choice("yAxisSide", &[("left", false), ("right", true)])?
                .unwrap_or(false),
            y,
            y_left: r.limits("yMinLeft", "yMaxLeft", "yLimitLeft", "yStepLeft")?,
            y_right: r.limits("yMinRight", "yMaxRight", "yLimitRight", "yStepRight")?,
            y_divisors,
            minor_y,
            log_base,
            unit_system,
            draw_null_as_zero: r.flag("drawNullAsZero")?.unwrap_or(false),
            unique_legend: r.flag("uniqueLegend")?.unwrap_or(false),
            hide_null_from_legend: r.flag("hideNullFromLegend")?.unwrap_or(false),
            min_x_step: r.positive("minXStep")?.unwrap_or(1.0),
            connected_limit,
            x_format,
            left: r.side("left")?,
            right: r.side("right")?,
        })
    }
}

/// graphite's graph types (`graphType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphType {
    /// `line` (the default).
    Line,
    /// `pie`: one slice per series or `name:value` target.
    Pie,
}

/// The request's `graphType`.
pub fn graph_type(params: &[(String, String)]) -> Result<GraphType, GraphError> {
    match (Reader { params }).raw("graphType") {
        None | Some("line") => Ok(GraphType::Line),
        Some("pie") => Ok(GraphType::Pie),
        Some(kind) => Err(bad("graphType", kind, "must be line or pie")),
    }
}

/// What a pie graph shows as slice labels (`valueLabels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueLabels {
    None,
    /// The slice's value.
    Number,
    /// Its share of the total, as `%12.34` (graphite's spelling).
    Percent,
}

/// The options only pie graphs take (glyph.py's `PieGraph.customizable`).
#[derive(Debug, Clone, PartialEq)]
pub struct PieOptions {
    /// `pieLabels=rotated`: labels turned along their slice (else horizontal).
    pub rotated_labels: bool,
    /// `valueLabels` (default `percent`).
    pub value_labels: ValueLabels,
    /// `valueLabelsMin`: slices under it (percent, or value) get no label (default 5).
    pub value_labels_min: f64,
    /// `valueLabelsColor` (default black).
    pub value_labels_color: Rgba,
    /// `areaAlpha` as a pie reads it: a number, else 1.
    pub alpha: f64,
}

impl PieOptions {
    /// Reads the pie options out of a request's parameters.
    pub fn parse(params: &[(String, String)]) -> Result<PieOptions, GraphError> {
        let r = Reader { params };
        let value_labels = match r.typed("valueLabels") {
            None | Some((_, "percent")) => ValueLabels::Percent,
            Some((_, "none")) => ValueLabels::None,
            Some((_, "number")) => ValueLabels::Number,
            Some((_, raw)) => {
                return Err(bad(
                    "valueLabels",
                    raw,
                    "must be one of none, number, percent",
                ))
            }
        };
        Ok(PieOptions {
            rotated_labels: r
                .typed("pieLabels")
                .is_some_and(|(_, raw)| raw == "rotated"),
            value_labels,
            // graphite's float(): any Python float text, `true`/`false` as 1/0.
            value_labels_min: match r.typed("valueLabelsMin") {
                None => 5.0,
                Some((Typed::Int(i), _)) => i as f64,
                Some((Typed::Float(f), _)) => f,
                Some((Typed::Bool(b), _)) => f64::from(u8::from(b)),
                Some((Typed::Str(raw), _)) => crate::py::parse::float(raw.as_bytes())
                    .ok_or_else(|| bad("valueLabelsMin", raw, "must be a number"))?,
            },
            value_labels_color: r.color("valueLabelsColor")?.unwrap_or(Rgba::rgb(0, 0, 0)),
            alpha: match r.typed("areaAlpha") {
                Some((Typed::Int(i), _)) => i as f64,
                Some((Typed::Float(f), _)) => f,
                _ => 1.0,
            },
        })
    }
}

/// Parses a comma-separated colour list; the error is the first bad entry.
fn color_list(list: &str) -> Result<Vec<Rgba>, String> {
    list.split(',')
        .map(|c| color::parse(c.trim()).ok_or_else(|| c.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn autotyping() {
        assert_eq!(autotype("width", "330"), Some(Typed::Int(330)));
        assert_eq!(autotype("yMin", "-2"), Some(Typed::Int(-2)));
        assert_eq!(autotype("yMin", "-2.5"), Some(Typed::Float(-2.5)));
        assert_eq!(autotype("bgcolor", "000000"), Some(Typed::Str("000000")));
        assert_eq!(autotype("hideLegend", "True"), Some(Typed::Bool(true)));
        assert_eq!(autotype("title", "default"), None);
        assert_eq!(autotype("title", ""), None);
        assert_eq!(autotype("yMax", "1e3"), Some(Typed::Str("1e3")));
    }

    #[test]
    fn defaults() {
        let o = Options::parse(&[]).expect("defaults");
        assert_eq!((o.width, o.height), (330, 250));
        assert_eq!(o.line_mode, LineMode::Slope);
        assert_eq!(o.colors.len(), 12);
        assert!((o.line_width - 1.2).abs() < 1e-12);
        assert_eq!(o.hide_legend, None);
    }

    #[test]
    fn errors_name_the_parameter() {
        for (name, value) in [
            ("width", "wide"),
            ("lineMode", "curvy"),
            ("areaMode", "some"),
            ("bgcolor", "notacolour"),
            ("colorList", "red,nope"),
            ("hideLegend", "maybe"),
            ("yMin", "low"),
            ("fontSize", "0"),
            ("height", "100000"),
            ("graphType", "bar"),
            ("xFormat", "%Q"),
        ] {
            match Options::parse(&params(&[(name, value)])) {
                Err(GraphError::Parameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn pie_options() {
        let o = PieOptions::parse(&params(&[])).expect("ok");
        assert_eq!(
            (
                o.rotated_labels,
                o.value_labels,
                o.value_labels_min,
                o.alpha
            ),
            (false, ValueLabels::Percent, 5.0, 1.0)
        );
        let o = PieOptions::parse(&params(&[
            ("pieLabels", "rotated"),
            ("valueLabels", "number"),
            ("valueLabelsMin", "5e-1"),
            ("valueLabelsColor", "white"),
            ("areaAlpha", "0.25"),
        ]))
        .expect("ok");
        assert!(o.rotated_labels && o.value_labels == ValueLabels::Number);
        assert_eq!((o.value_labels_min, o.alpha), (0.5, 0.25));
        assert_eq!(o.value_labels_color, Rgba::rgb(255, 255, 255));
        for (name, value) in [
            ("valueLabels", "all"),
            ("valueLabelsMin", "few"),
            ("valueLabelsColor", "nope"),
        ] {
            match PieOptions::parse(&params(&[(name, value)])) {
                Err(GraphError::Parameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert_eq!(
            graph_type(&params(&[("graphType", "pie")])).expect("ok"),
            GraphType::Pie
        );
    }

    #[test]
    fn last_value_wins_and_default_unsets() {
        let o = Options::parse(&params(&[
            ("width", "100"),
            ("width", "200"),
            ("height", "default"),
        ]))
        .expect("ok");
        assert_eq!((o.width, o.height), (200, 250));
    }

    #[test]
    fn unquote() {
        assert_eq!(unquote_plus("a+b%20c%zz%4"), "a b c%zz%4");
    }
}
