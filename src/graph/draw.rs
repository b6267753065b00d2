//! What a graph is made of, independent of the output format: the line-graph code lays
//! out a [`Drawing`] (a list of operations in pixel coordinates) and the PNG and SVG
//! writers turn the same list into bytes.

use super::color::Rgba;
use super::font;
use super::yaxis::Axis;

/// A point in pixels, origin top left.
pub type Point = (f64, f64);

/// A rectangle: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x0: f64,
    /// Top.
    pub y0: f64,
    /// Right.
    pub x1: f64,
    /// Bottom.
    pub y1: f64,
}

/// Text direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rotation {
    None,
    /// Reads bottom to top (graphite's `vtitle`).
    Up,
    /// Reads top to bottom (`vtitleRight`).
    Down,
    /// Turned clockwise on the image by this many degrees (a pie's rotated labels).
    Degrees(f64),
}

/// The parts of a graph, which SVG output groups (graphite's `encodeHeader` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Background,
    Title,
    Vtitle,
    Legend,
    Axes,
    Grid,
    Lines,
    /// A pie graph's slices and their value labels.
    Pie,
}

impl Part {
    /// The SVG class name.
    pub fn class(self) -> &'static str {
        match self {
            Part::Background => "background",
            Part::Title => "title",
            Part::Vtitle => "vtitle",
            Part::Legend => "legend",
            Part::Axes => "axes",
            Part::Grid => "grid",
            Part::Lines => "lines",
            Part::Pie => "pie",
        }
    }
}

/// One drawing operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Starts a part; every operation until the next `Begin` belongs to it.
    Begin(Part),
    /// A filled rectangle.
    FillRect { rect: Rect, color: Rgba },
    /// A rectangle outline one pixel wide.
    StrokeRect { rect: Rect, color: Rgba },
    /// Lines through each list of points; `clip` keeps them inside the plot area.
    /// `series` is set for a series' line.
    Stroke {
        paths: Vec<Vec<Point>>,
        width: f64,
        color: Rgba,
        dash: Option<f64>,
        clip: Option<Rect>,
        series: Option<usize>,
    },
    /// Filled polygons (a series' area), inside `clip`. Once drawn, an area is not painted
    /// over by later areas until [`Op::EndAreas`] (graphite's stacked clipping).
    Fill {
        polygons: Vec<Vec<Point>>,
        color: Rgba,
        clip: Rect,
        series: usize,
    },
    /// Ends the run of areas that exclude each other.
    EndAreas,
    /// A pie slice: from `center` out to the arc of `radius` from angle `from` to `to`
    /// (radians, clockwise on the image from the +x axis as cairo's `arc`; `to >= from`)
    /// and back.
    Slice {
        center: Point,
        radius: f64,
        from: f64,
        to: f64,
        color: Rgba,
    },
    /// Text with its baseline starting at `(x, y)` (before rotation, about that point).
    Text {
        text: String,
        x: f64,
        y: f64,
        size: f64,
        color: Rgba,
        rotation: Rotation,
    },
}

/// A drawn line series as graphite's SVG metadata lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMeta {
    /// The series name.
    pub name: String,
    /// Its first timestamp.
    pub start: i64,
    /// Its end (exclusive).
    pub end: i64,
    /// Seconds between its values.
    pub step: i64,
    /// Values merged into one drawn point.
    pub values_per_point: usize,
    /// `#rrggbb`.
    pub color: String,
    /// The values before merging.
    pub values: Vec<Option<f64>>,
    /// Its own line width, if set.
    pub line_width: Option<f64>,
    /// Its dash length, if dashed.
    pub dashed: Option<f64>,
    /// Drawn against the right y axis.
    pub second_y_axis: bool,
    /// Drawn as vertical lines.
    pub draw_as_infinite: bool,
}

/// Where the layout put the plot, for SVG metadata and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The plot area.
    pub area: Rect,
    /// The first time drawn.
    pub start: i64,
    /// The last time drawn.
    pub end: i64,
    /// The y axis (the left one when there are two).
    pub y: Axis,
    /// The right y axis, when series use `secondYAxis()`.
    pub y_right: Option<Axis>,
    /// The default line width.
    pub line_width: f64,
    /// The font size.
    pub font_size: f64,
    /// The line series (graphite leaves areas out).
    pub series: Vec<SeriesMeta>,
}

/// A laid-out graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// What to draw, in order.
    pub ops: Vec<Op>,
    /// `None` for the "No Data" image.
    pub meta: Option<Meta>,
}

/// Text drawing helpers on a list of operations.
pub(super) struct Pen {
    pub(super) ops: Vec<Op>,
}

#[derive(Clone, Copy)]
pub(super) enum Align {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy)]
pub(super) enum Valign {
    Top,
    Middle,
}

impl Pen {
    /// graphite's `drawText` for horizontal text.
    #[expect(clippy::too_many_arguments, reason = "mirrors the text call's parts")]
    pub(super) fn text(
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
    pub(super) fn vtext(
        &mut self,
        text: &str,
        x: f64,
        y: f64,
        size: f64,
        color: Rgba,
        rotation: Rotation,
    ) {
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

    pub(super) fn line(&mut self, from: Point, to: Point, width: f64, color: Rgba) {
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
