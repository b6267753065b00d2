//! The PNG and SVG graphs of `graph::render`: decoded images have the asked size and the
//! series' colours where their values put them; SVG is XML with one path per series;
//! bad parameters are errors naming the parameter.

use lonsdaleite::graph::{render, Format, GraphError};
use lonsdaleite::query::json::Consolidation;
use lonsdaleite::query::series::Series;
use lonsdaleite::query::time::TimeZone;

const START: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
const BLUE: [u8; 3] = [100, 100, 255];
const GREEN: [u8; 3] = [0, 200, 0];
const WHITE: [u8; 3] = [255, 255, 255];

struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Picture {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Rows of column `x` whose pixel is exactly `color`.
    fn rows_of(&self, x: usize, color: [u8; 3]) -> Vec<usize> {
        (0..self.height)
            .filter(|y| self.at(x, *y) == color)
            .collect()
    }

    fn count(&self, color: [u8; 3]) -> usize {
        self.rgb.chunks(3).filter(|p| *p == color).count()
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn series(name: &str, values: Vec<Option<f64>>) -> Series {
    let end = START + 60 * values.len() as i64;
    Series::new(name, START, end, 60, values)
}

fn constant(name: &str, value: f64, n: usize) -> Series {
    series(name, vec![Some(value); n])
}

fn png(series: &[Series], pairs: &[(&str, &str)]) -> Picture {
    let image = render(
        series,
        &params(pairs),
        Format::Png,
        &TimeZone::utc(),
        START,
        START + 3600,
    )
    .expect("png renders");
    assert_eq!(image.content_type, "image/png");
    let decoder = png::Decoder::new(std::io::Cursor::new(image.bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut rgb = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgb).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    rgb.truncate(info.buffer_size());
    Picture {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

fn svg(series: &[Series], pairs: &[(&str, &str)], tz: &TimeZone) -> String {
    let image =
        render(series, &params(pairs), Format::Svg, tz, START, START + 3600).expect("svg renders");
    assert_eq!(image.content_type, "image/svg+xml");
    String::from_utf8(image.bytes).expect("utf-8")
}

/// `graphOnly` makes the plot area the whole image, so value → row is exact arithmetic.
const GRAPH_ONLY: [(&str, &str); 4] = [
    ("graphOnly", "true"),
    ("yMin", "0"),
    ("yMax", "100"),
    ("height", "200"),
];

#[test]
fn default_and_asked_sizes() {
    let s = [constant("a.b", 1.0, 60)];
    let p = png(&s, &[]);
    assert_eq!((p.width, p.height), (330, 250));
    let p = png(&s, &[("width", "500"), ("height", "120")]);
    assert_eq!((p.width, p.height), (500, 120));
}

#[test]
fn constant_series_draws_a_horizontal_line_at_its_value() {
    // 200 px tall, 0..100: 75 is a quarter down (row 50), 25 three quarters (row 150).
    let s = [constant("high", 75.0, 60), constant("low", 25.0, 60)];
    let p = png(&s, &GRAPH_ONLY);
    for x in [40, 165, 290] {
        let blue = p.rows_of(x, BLUE);
        let green = p.rows_of(x, GREEN);
        assert!(!blue.is_empty() && !green.is_empty(), "column {x}");
        assert!(
            blue.iter().all(|y| (48..=51).contains(y)),
            "blue rows {blue:?}"
        );
        assert!(
            green.iter().all(|y| (148..=151).contains(y)),
            "green rows {green:?}"
        );
    }
    // Nothing else of either colour: the line runs across, the rest is background.
    assert!(
        p.count(BLUE) >= 300 && p.count(BLUE) < 2 * 330,
        "{}",
        p.count(BLUE)
    );
    assert_eq!(p.at(165, 100), WHITE);
}

#[test]
fn line_width_and_colour_list() {
    let s = [constant("a", 50.0, 60)];
    let p = png(
        &s,
        &[
            &GRAPH_ONLY[..],
            &[("lineWidth", "5"), ("colorList", "ff0000,00ff00")],
        ]
        .concat(),
    );
    let red = p.rows_of(165, [255, 0, 0]);
    assert!(red.len() >= 4 && red.len() <= 6, "{red:?}");
    assert!(red.iter().all(|y| (95..=104).contains(y)), "{red:?}");
}

#[test]
fn area_modes_fill_below_the_line() {
    let s = [constant("a", 50.0, 60)];
    let p = png(&s, &[&GRAPH_ONLY[..], &[("areaMode", "all")]].concat());
    // Below the value (rows 100..200) is blue, above white.
    assert_eq!(p.at(165, 150), BLUE);
    assert_eq!(p.at(165, 195), BLUE);
    assert_eq!(p.at(165, 50), WHITE);

    // Stacked: 25 + 25 → blue from row 150 down, green between rows 100 and 150.
    let s = [constant("a", 25.0, 60), constant("b", 25.0, 60)];
    let p = png(&s, &[&GRAPH_ONLY[..], &[("areaMode", "stacked")]].concat());
    assert_eq!(p.at(165, 175), BLUE);
    assert_eq!(p.at(165, 125), GREEN);
    assert_eq!(p.at(165, 75), WHITE);
}

#[test]
fn areas_do_not_paint_over_earlier_areas_even_when_translucent() {
    // areaMode=all with areaAlpha: the first series' area is drawn first and keeps its
    // pixels; the second (larger) area only adds above it.
    let s = [constant("a", 25.0, 60), constant("b", 75.0, 60)];
    let p = png(
        &s,
        &[
            &GRAPH_ONLY[..],
            &[("areaMode", "all"), ("areaAlpha", "0.5")],
        ]
        .concat(),
    );
    let low = p.at(165, 175);
    let high = p.at(165, 100);
    // Half blue over white, half green over white: never the two mixed.
    assert_eq!(low, [178, 178, 255]);
    assert_eq!(high, [128, 228, 128]);
}

#[test]
fn staircase_and_gaps() {
    // Values 20 then 80: slope draws a diagonal, staircase a step.
    let mut values = vec![Some(20.0); 30];
    values.extend(vec![Some(80.0); 30]);
    let s = [series("a", values.clone())];
    let p = png(
        &s,
        &[&GRAPH_ONLY[..], &[("lineMode", "staircase")]].concat(),
    );
    // Left half at row 160, right half at row 40.
    assert!(p.rows_of(60, BLUE).iter().all(|y| (158..=161).contains(y)));
    assert!(p.rows_of(270, BLUE).iter().all(|y| (38..=41).contains(y)));

    // A run of nulls leaves a gap; drawNullAsZero draws it at zero (the bottom row).
    let mut gappy = vec![Some(50.0); 60];
    for v in &mut gappy[20..40] {
        *v = None;
    }
    let s = [series("a", gappy)];
    let p = png(&s, &GRAPH_ONLY);
    assert!(p.rows_of(165, BLUE).is_empty(), "gap at the middle");
    assert!(!p.rows_of(40, BLUE).is_empty());
    let p = png(
        &s,
        &[&GRAPH_ONLY[..], &[("drawNullAsZero", "true")]].concat(),
    );
    assert!(
        p.rows_of(165, BLUE).iter().all(|y| *y >= 197),
        "{:?}",
        p.rows_of(165, BLUE)
    );
}

#[test]
fn draw_as_infinite_is_a_full_height_line() {
    let mut values = vec![Some(0.0); 60];
    values[30] = Some(1.0);
    let mut event = series("deploy", values);
    event.style.draw_as_infinite = true;
    let p = png(&[constant("a", 50.0, 60), event], &GRAPH_ONLY);
    let columns: Vec<usize> = (0..p.width)
        .filter(|x| p.rows_of(*x, GREEN).len() > 150)
        .collect();
    assert!(!columns.is_empty() && columns.len() <= 2, "{columns:?}");
    // Near the middle of the time range.
    assert!((150..=185).contains(&columns[0]), "{columns:?}");
}

#[test]
fn more_points_than_pixels_are_consolidated_by_the_series_function() {
    // 3000 points over a 330-pixel graph, one spike to 90 in a floor of 10.
    let mut values = vec![Some(10.0); 3000];
    values[1500] = Some(90.0);
    let mut s = series("a", values);
    s.consolidation = Consolidation::Max;
    let p = png(&[s.clone()], &GRAPH_ONLY);
    let near_spike = (0..p.width).any(|x| p.rows_of(x, BLUE).iter().any(|y| *y <= 25));
    assert!(near_spike, "max keeps the spike (row 20)");
    s.consolidation = Consolidation::Average;
    let p = png(&[s], &GRAPH_ONLY);
    let near_spike = (0..p.width).any(|x| p.rows_of(x, BLUE).iter().any(|y| *y <= 100));
    assert!(!near_spike, "the average of ten points flattens it");
}

#[test]
fn no_data_is_red_text_in_the_middle() {
    let p = png(&[], &[]);
    assert_eq!((p.width, p.height), (330, 250));
    // Text is anti-aliased: count the pixels that are clearly graphite's red over white.
    let reddish = |[r, g, b]: [u8; 3]| r > 200 && g < 160 && b < 170 && g.abs_diff(b) < 60;
    let mut rows = Vec::new();
    let mut cols = Vec::new();
    for y in 0..p.height {
        for x in 0..p.width {
            if reddish(p.at(x, y)) {
                rows.push(y);
                cols.push(x);
            }
        }
    }
    assert!(rows.len() > 50, "{} red pixels", rows.len());
    // Centred across, starting at mid height.
    let (left, right) = (cols.iter().min().copied(), cols.iter().max().copied());
    assert!(
        left.is_some_and(|l| l > 100) && right.is_some_and(|r| r < 230),
        "{left:?}..{right:?}"
    );
    assert!(
        rows.iter().all(|y| (120..=145).contains(y)),
        "rows {:?}",
        (rows.first(), rows.last())
    );
    // Series that span no time draw "No Data" too.
    let p = png(&[Series::new("a", START, START, 60, vec![])], &[]);
    assert!(
        p.rgb
            .chunks(3)
            .filter(|c| reddish([c[0], c[1], c[2]]))
            .count()
            > 50
    );
}

#[test]
fn svg_is_xml_with_one_path_per_series() {
    let mut gappy = vec![Some(5.0); 60];
    gappy[10] = None;
    let s = [
        constant("one", 1.0, 60),
        series("two", gappy),
        constant("three", 3.0, 60),
    ];
    let text = svg(&s, &[("title", "hello & <bye>")], &TimeZone::utc());
    let doc = roxmltree::Document::parse(&text).expect("valid xml");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("330px"));
    let lines = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("lines"))
        .expect("lines group");
    let paths: Vec<_> = lines
        .descendants()
        .filter(|n| n.tag_name().name() == "path" && n.attribute("class") == Some("series"))
        .collect();
    assert_eq!(paths.len(), 3);
    // The gap splits the second series' path into two subpaths, still one element.
    assert_eq!(
        paths[1].attribute("d").map(|d| d.matches('M').count()),
        Some(2)
    );
    assert_eq!(paths[0].attribute("stroke"), Some("#6464ff"));
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.contains(&"hello & <bye>"), "{texts:?}");
    assert!(texts.contains(&"three"), "legend names");

    // Stacked areas are paths too.
    let text = svg(&s, &[("areaMode", "stacked")], &TimeZone::utc());
    let doc = roxmltree::Document::parse(&text).expect("valid xml");
    let n = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("series"))
        .count();
    assert_eq!(n, 3);
}

#[test]
fn time_labels_follow_the_time_zone() {
    let s = [constant("a", 1.0, 60)];
    let labels = |tz: &TimeZone| -> Vec<String> {
        let text = svg(&s, &[], tz);
        let doc = roxmltree::Document::parse(&text).expect("xml");
        doc.descendants()
            .filter(|n| n.tag_name().name() == "text")
            .filter_map(|n| n.text().map(str::to_string))
            .collect()
    };
    let utc = labels(&TimeZone::utc());
    assert!(utc.contains(&"00:20".to_string()), "{utc:?}");
    let plus_one = labels(&TimeZone::fixed(3600));
    assert!(plus_one.contains(&"01:20".to_string()), "{plus_one:?}");
    assert!(!plus_one.contains(&"00:20".to_string()));

    // A month-long graph labels dates.
    let month = Series::new("a", START, START + 30 * 86_400, 3600, vec![Some(1.0); 720]);
    let text = svg(&[month], &[], &TimeZone::utc());
    assert!(
        text.contains(">01/08<") || text.contains(">01/09<"),
        "date labels"
    );
}

#[test]
fn y_labels_use_the_unit_system() {
    let s = [series("a", vec![Some(0.0), Some(3000.0), Some(5000.0)])];
    let text = svg(&s, &[], &TimeZone::utc());
    assert!(text.contains("5.0 k "), "si prefix");
    let s = [series("a", vec![Some(0.0), Some(4096.0)])];
    let text = svg(&s, &[("yUnitSystem", "binary")], &TimeZone::utc());
    assert!(text.contains(" Ki "), "binary prefix");
    let text = svg(&s, &[("yUnitSystem", "none")], &TimeZone::utc());
    assert!(!text.contains(" k ") && !text.contains(" Ki "));
}

#[test]
fn legend_rules() {
    let many: Vec<Series> = (0..11)
        .map(|i| constant(&format!("s{i}"), 1.0, 10))
        .collect();
    let has_legend = |s: &[Series], pairs: &[(&str, &str)]| {
        svg(s, pairs, &TimeZone::utc()).contains("class=\"legend\"")
    };
    assert!(
        !has_legend(&many, &[]),
        "more than ten series hide the legend"
    );
    assert!(has_legend(
        &many,
        &[("hideLegend", "false"), ("height", "600")]
    ));
    assert!(!has_legend(&many[..2], &[("hideLegend", "true")]));
    let twice = [constant("same", 1.0, 10), constant("same", 2.0, 10)];
    let text = svg(&twice, &[("uniqueLegend", "true")], &TimeZone::utc());
    assert_eq!(text.matches(">same<").count(), 1);
}

#[test]
fn bad_parameters_name_themselves() {
    let s = [constant("a", 1.0, 10)];
    for (name, value) in [
        ("width", "abc"),
        ("height", "-5"),
        ("lineMode", "zigzag"),
        ("areaMode", "bottom"),
        ("bgcolor", "nosuchcolour"),
        ("colorList", "blue,bleu"),
        ("yMin", "low"),
        ("hideLegend", "perhaps"),
        ("logBase", "1"),
    ] {
        let err = render(
            &s,
            &params(&[(name, value)]),
            Format::Png,
            &TimeZone::utc(),
            START,
            START,
        )
        .expect_err(name);
        match &err {
            GraphError::Parameter { name: n, .. } => assert_eq!(n, name, "{err}"),
            GraphError::Draw(_) => panic!("{name}: {err}"),
        }
        assert!(err.to_string().contains(name));
    }
    // yMin above yMax, and a log scale over zero, are parameter errors too.
    let err = render(
        &s,
        &params(&[("yMin", "10"), ("yMax", "5")]),
        Format::Png,
        &TimeZone::utc(),
        0,
        0,
    )
    .expect_err("yMin > yMax");
    assert!(
        matches!(err, GraphError::Parameter { ref name, .. } if name == "yMin"),
        "{err}"
    );
    let zero = [series("a", vec![Some(0.0), Some(10.0)])];
    let err = render(
        &zero,
        &params(&[("logBase", "10")]),
        Format::Png,
        &TimeZone::utc(),
        0,
        0,
    )
    .expect_err("log of zero");
    assert!(
        matches!(err, GraphError::Parameter { ref name, .. } if name == "logBase"),
        "{err}"
    );
    // `default` and empty values are unset, not errors.
    assert!(render(
        &s,
        &params(&[("width", "default"), ("title", "")]),
        Format::Png,
        &TimeZone::utc(),
        0,
        0
    )
    .is_ok());
}

#[test]
fn svg_metadata_like_graphite() {
    let s = [constant("one", 10.0, 60), constant("two", 30.0, 60)];
    let text = svg(&s, &[("yMin", "0"), ("yMax", "40")], &TimeZone::utc());
    let doc = roxmltree::Document::parse(&text).expect("valid xml");
    let script = doc
        .descendants()
        .find(|n| n.tag_name().name() == "script")
        .and_then(|n| n.text())
        .expect("metadata script");
    let json = script
        .trim()
        .strip_prefix("metadata = ")
        .expect("metadata = {...}");
    let meta: serde_json::Value = serde_json::from_str(json).expect("json");
    assert_eq!(meta["x"]["start"], START);
    assert_eq!(
        meta["x"]["end"],
        START + 59 * 60,
        "slope mode ends at the last point"
    );
    assert_eq!(meta["y"]["top"], 40.0);
    assert_eq!(meta["y"]["bottom"], 0.0);
    assert_eq!(meta["series"].as_array().map(Vec::len), Some(2));
    assert_eq!(meta["series"][1]["name"], "two");
    assert_eq!(meta["series"][1]["data"][0], 30.0);
    assert!(meta["area"]["xmin"].as_f64().is_some_and(|x| x > 10.0));
}

#[test]
fn see_through_background_makes_an_rgba_png() {
    let s = [constant("a", 50.0, 60)];
    let pairs = [&GRAPH_ONLY[..], &[("bgcolor", "ffffff00")]].concat();
    let image = render(
        &s,
        &params(&pairs),
        Format::Png,
        &TimeZone::utc(),
        START,
        START,
    )
    .expect("png");
    let mut reader = png::Decoder::new(std::io::Cursor::new(image.bytes))
        .read_info()
        .expect("header");
    let mut rgba = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgba).expect("frame");
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let at = |x: usize, y: usize| {
        let i = (y * info.width as usize + x) * 4;
        [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
    };
    // Background fully transparent; the line (row 100 of 200) opaque series blue.
    assert_eq!(at(165, 20)[3], 0);
    let line: Vec<[u8; 4]> = (95..105)
        .map(|y| at(165, y))
        .filter(|p| p[3] == 255)
        .collect();
    assert!(line.contains(&[100, 100, 255, 255]), "{line:?}");
}
