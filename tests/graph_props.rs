//! `graph::render` never panics: any values (nulls, NaN, infinities, huge or tiny), any
//! sizes and any mix of graph parameters give an image or a parameter error.

use lonsdaleite::graph::{render, Format, GraphError};
use lonsdaleite::query::series::Series;
use lonsdaleite::query::time::TimeZone;
use proptest::prelude::*;

const START: i64 = 1_735_689_600;

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => (-1.0e3..1.0e3f64).prop_map(Some),
        1 => Just(None),
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e300, -1e300, 1e-300,
            f64::MAX, f64::MIN_POSITIVE,
        ])
        .prop_map(Some),
    ]
}

fn one_series() -> impl Strategy<Value = Series> {
    (
        prop::collection::vec(value(), 0..80),
        prop::sample::select(vec![1i64, 10, 60, 3600, 86_400]),
        -5i64..5,
        any::<u8>(),
    )
        .prop_map(|(values, step, shift, flags)| {
            let start = START + shift * step;
            let end = start + step * values.len() as i64;
            let mut s = Series::new("a.b", start, end, step, values);
            s.style.draw_as_infinite = flags & 1 != 0;
            s.style.second_y_axis = flags & 2 != 0;
            if flags & 4 != 0 {
                s.style.stack = Some("__DEFAULT__".into());
            }
            s.style.invisible = flags & 8 != 0;
            if flags & 16 != 0 {
                s.style.color = Some("ff000080".into());
            }
            if flags & 32 != 0 {
                s.style.dashed = Some(3.0);
                s.style.line_width = Some(4.0);
            }
            s
        })
}

fn param() -> impl Strategy<Value = (String, String)> {
    let names = vec![
        "width",
        "height",
        "margin",
        "lineMode",
        "areaMode",
        "areaAlpha",
        "yMin",
        "yMax",
        "yLimit",
        "yStep",
        "logBase",
        "yUnitSystem",
        "hideLegend",
        "hideAxes",
        "hideGrid",
        "graphOnly",
        "drawNullAsZero",
        "uniqueLegend",
        "fontSize",
        "minorY",
        "yDivisors",
        "connectedLimit",
        "minXStep",
        "yAxisSide",
        "title",
        "vtitle",
        "vtitleRight",
        "colorList",
        "bgcolor",
        "xFormat",
        "lineWidth",
        "yMaxRight",
        "yMinLeft",
    ];
    let values = vec![
        "0",
        "1",
        "2",
        "-1",
        "5",
        "10",
        "100",
        "1000",
        "0.5",
        "-2.5",
        "1e9",
        "true",
        "false",
        "default",
        "",
        "slope",
        "staircase",
        "connected",
        "stacked",
        "all",
        "first",
        "none",
        "binary",
        "si",
        "e",
        "max",
        "right",
        "red",
        "ff00ff",
        "1,2",
        "3",
        "%H %Q",
        "%Y",
        "a+b%20c",
        "x\ny",
    ];
    (prop::sample::select(names), prop::sample::select(values))
        .prop_map(|(n, v)| (n.to_string(), v.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Rendering returns an image of the asked size or a parameter error, never panics.
    #[test]
    fn render_never_panics(
        series in prop::collection::vec(one_series(), 0..5),
        params in prop::collection::vec(param(), 0..6),
        svg in any::<bool>(),
    ) {
        // Keep images small so the property stays fast.
        let mut params = params;
        params.retain(|(k, v)| !((k == "width" || k == "height") && v.len() > 3));
        let format = if svg { Format::Svg } else { Format::Png };
        match render(&series, &params, format, &TimeZone::fixed(-18_000), START, START + 3600) {
            Ok(image) => prop_assert!(!image.bytes.is_empty()),
            Err(GraphError::Parameter { name, .. }) => {
                prop_assert!(params.iter().any(|(k, _)| *k == name) || name == "color"
                    || name == "yMax" || name == "yMin" || name == "logBase" || name == "yStep",
                    "error names {} which was not given", name);
            }
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}
