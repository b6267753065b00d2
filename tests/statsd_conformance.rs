//! Conformance of the StatsD parser + aggregator with etsy statsd 0.10's output
//! (reference statsd.md §2.6 golden run and §2.7 vectors), in process, on one shard and
//! split over several shards (partials exchanged and merged as the server does).
//!
//! Where lonsdaleite deliberately differs from etsy (README "Deviations"), the expectation
//! says so next to the line.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;

use lonsdaleite::aggregate::{Aggregator, Internal};
use lonsdaleite::config::Config;
use lonsdaleite::protocol::number::write_js_number;
use lonsdaleite::protocol::statsd::{ParseOptions, Parser};
use lonsdaleite::route::Router;

/// One flush of `datagrams`, spread round-robin over `shards`; returns the Graphite
/// `(name, value text)` lines in emission order (shard 0's, then shard 1's, …).
fn flush(statsd_toml: &str, datagrams: &[&str], shards: usize) -> Vec<(String, String)> {
    flush_rounds(statsd_toml, &[datagrams], shards)
        .pop()
        .unwrap()
}

/// Several flushes, one per element of `rounds`.
fn flush_rounds(
    statsd_toml: &str,
    rounds: &[&[&str]],
    shards: usize,
) -> Vec<Vec<(String, String)>> {
    let cfg =
        Config::from_toml_str(&format!("[statsd]\n{statsd_toml}"), Path::new("test.toml")).unwrap();
    let opts = ParseOptions {
        sanitize: cfg.statsd.key_name_sanitize,
        sort_tags: cfg.statsd.sort_tags,
    };
    let mut parsers: Vec<Parser> = (0..shards).map(|_| Parser::new(opts)).collect();
    let mut aggs: Vec<Aggregator> = (0..shards).map(|_| Aggregator::new(&cfg.statsd)).collect();
    let router = Router::new(shards);
    let mut out = Vec::new();
    for datagrams in rounds {
        for (i, d) in datagrams.iter().enumerate() {
            let s = i % shards;
            let (parser, agg) = (&mut parsers[s], &mut aggs[s]);
            agg.add_internal(Internal::PacketsReceived, 1.0);
            for line in d.split('\n').filter(|l| !l.is_empty()) {
                agg.add_internal(Internal::MetricsReceived, 1.0);
                parser.parse_line(line.as_bytes(), |r| match r {
                    Ok(sample) => agg.ingest(&sample).unwrap(),
                    Err(_) => agg.add_internal(Internal::BadLinesSeen, 1.0),
                });
            }
        }
        let mut outgoing: Vec<Vec<_>> = aggs
            .iter_mut()
            .map(|a| a.take_partials(shards, |k| router.owner(k)))
            .collect();
        for from in &mut outgoing {
            for (to, p) in from.drain(..).enumerate() {
                aggs[to].merge(p);
            }
        }
        let mut lines = Vec::new();
        for a in &mut aggs {
            a.flush(&mut |name, v| {
                let mut text = Vec::new();
                write_js_number(&mut text, v);
                lines.push((
                    String::from_utf8(name.to_vec()).unwrap(),
                    String::from_utf8(text).unwrap(),
                ));
            });
        }
        out.push(lines);
    }
    out
}

fn map(lines: &[(String, String)]) -> HashMap<&str, &str> {
    lines
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Assert each `name value` pair, and that the names come in this order.
fn check_ordered(lines: &[(String, String)], want: &[(&str, &str)]) {
    let m = map(lines);
    let mut last = 0;
    for (name, value) in want {
        assert_eq!(m.get(name).copied(), Some(*value), "{name} in {lines:#?}");
        let at = lines.iter().position(|(n, _)| n == name).unwrap();
        assert!(at >= last, "{name} out of etsy's order");
        last = at;
    }
}

const GOLDEN_CFG: &str = r#"
flush_interval = "2s"
percent_threshold = [90, -10, 99.9]
histogram = [{ metric = "a_timer", bins = [2, 5.5, "inf"] }]
sort_tags = false
"#;

const A_TIMER: &str =
    "a_timer:1|ms\na_timer:2|ms\na_timer:3|ms\na_timer:4|ms\na_timer:5|ms\na_timer:6|ms\na_timer:7|ms\na_timer:8|ms\na_timer:9|ms\na_timer:10|ms";

const GOLDEN_INPUT: &[&str] = &[
    "cnt:1|c|@0.1",
    "cnt:2|c",
    "glork:320|ms|@0.1",
    "glork:100|ms",
    "gaugor:333|g\ngaugor:-10|g\ngaugor:+4|g",
    "newg:-5|g",
    "uniques:765|s\nuniques:765|s\nuniques:abc|s",
    "fo/o b+ar:1|c",
    "tagged:1|c|#env:prod,role:web,bare",
    "packed:1:2:3|ms",
    "histo:5|h",
    "zero:1|c|@0",
    "neg:-3|ms",
    "bad_no_type:5",
    "multi:1|c:200|ms",
    "graphtag;dc=eu:7|g",
    A_TIMER,
];

fn golden_expectations() -> Vec<(&'static str, &'static str)> {
    vec![
        // etsy: 4 bad lines; lonsdaleite also rejects `zero:1|c|@0` (etsy: Infinity).
        ("stats.statsd.bad_lines_seen", "2.5"),
        ("stats_counts.statsd.bad_lines_seen", "5"),
        ("stats.statsd.packets_received", "8.5"),
        ("stats_counts.statsd.packets_received", "17"),
        ("stats.statsd.metrics_received", "15"),
        ("stats_counts.statsd.metrics_received", "30"),
        ("stats.cnt", "6"),
        ("stats_counts.cnt", "12"),
        ("stats.fo-o_bar", "0.5"),
        ("stats_counts.fo-o_bar", "1"),
        ("stats.tagged;env=prod;role=web;bare", "0.5"),
        ("stats_counts.tagged;env=prod;role=web;bare", "1"),
        ("stats_counts.multi", "1"),
        ("stats.timers.glork.count_90", "2"),
        ("stats.timers.glork.mean_90", "210"),
        ("stats.timers.glork.upper_90", "320"),
        ("stats.timers.glork.sum_90", "420"),
        ("stats.timers.glork.sum_squares_90", "112400"),
        ("stats.timers.glork.std", "110"),
        ("stats.timers.glork.upper", "320"),
        ("stats.timers.glork.lower", "100"),
        ("stats.timers.glork.count", "11"),
        ("stats.timers.glork.count_ps", "5.5"),
        ("stats.timers.glork.sum", "420"),
        ("stats.timers.glork.sum_squares", "112400"),
        ("stats.timers.glork.mean", "210"),
        ("stats.timers.glork.median", "210"),
        ("stats.timers.packed.upper", "3"),
        // etsy counts `h` as a counter (stats_counts.histo 5); lonsdaleite makes it a timer.
        ("stats.timers.histo.upper", "5"),
        ("stats.timers.multi.upper", "200"),
        ("stats.timers.a_timer.count_90", "9"),
        ("stats.timers.a_timer.mean_90", "5"),
        ("stats.timers.a_timer.upper_90", "9"),
        ("stats.timers.a_timer.sum_90", "45"),
        ("stats.timers.a_timer.sum_squares_90", "285"),
        ("stats.timers.a_timer.count_top10", "1"),
        ("stats.timers.a_timer.mean_top10", "10"),
        ("stats.timers.a_timer.lower_top10", "10"),
        ("stats.timers.a_timer.sum_top10", "10"),
        ("stats.timers.a_timer.sum_squares_top10", "100"),
        ("stats.timers.a_timer.count_99_9", "10"),
        ("stats.timers.a_timer.mean_99_9", "5.5"),
        ("stats.timers.a_timer.upper_99_9", "10"),
        ("stats.timers.a_timer.sum_99_9", "55"),
        ("stats.timers.a_timer.sum_squares_99_9", "385"),
        ("stats.timers.a_timer.std", "2.8722813232690143"),
        ("stats.timers.a_timer.upper", "10"),
        ("stats.timers.a_timer.lower", "1"),
        ("stats.timers.a_timer.count", "10"),
        ("stats.timers.a_timer.count_ps", "5"),
        ("stats.timers.a_timer.sum", "55"),
        ("stats.timers.a_timer.sum_squares", "385"),
        ("stats.timers.a_timer.mean", "5.5"),
        ("stats.timers.a_timer.median", "5.5"),
        ("stats.timers.a_timer.histogram.bin_2", "1"),
        ("stats.timers.a_timer.histogram.bin_5_5", "4"),
        ("stats.timers.a_timer.histogram.bin_inf", "5"),
        ("stats.gauges.gaugor", "327"),
        ("stats.gauges.newg", "-5"),
        ("stats.gauges.graphtag;dc=eu", "7"),
        ("stats.sets.uniques.count", "2"),
    ]
}

#[test]
fn golden_run_on_one_shard_matches_etsy_in_value_and_order() {
    let out = flush(GOLDEN_CFG, GOLDEN_INPUT, 1);
    check_ordered(&out, &golden_expectations());
    let m = map(&out);
    // No `*_top10` for glork: round(0.1 × 2) = 0.
    assert!(!m.contains_key("stats.timers.glork.count_top10"));
    for gone in [
        "stats.zero",
        "stats_counts.histo",
        "stats.timers.neg.count",
        "stats_counts.bad_no_type",
    ] {
        assert!(!m.contains_key(gone), "{gone} should not exist");
    }
    // Exactly the etsy keys: 7 counters, 5 timers, 3 gauges, 1 set, nothing else.
    let counters = out
        .iter()
        .filter(|(n, _)| n.starts_with("stats_counts."))
        .count();
    assert_eq!(counters, 7, "{out:#?}");
}

#[test]
fn golden_run_split_over_three_shards_gives_the_same_values() {
    let one = flush(GOLDEN_CFG, GOLDEN_INPUT, 1);
    let three = flush(GOLDEN_CFG, GOLDEN_INPUT, 3);
    let (mut a, mut b) = (one.clone(), three.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Within one shard's output, etsy's type order still holds: counters, timers, gauges, sets.
    let rank = |n: &str| {
        if n.starts_with("stats.timers.") {
            1
        } else if n.starts_with("stats.gauges.") {
            2
        } else if n.starts_with("stats.sets.") {
            3
        } else {
            0
        }
    };
    let mut prev_rank = 0;
    let mut prev_shard_break = 0;
    for (i, (n, _)) in three.iter().enumerate() {
        let r = rank(n);
        if r < prev_rank {
            prev_shard_break += 1; // the next shard's output starts
            assert!(prev_shard_break < 3, "type order broken at line {i}: {n}");
        }
        prev_rank = r;
    }
}

#[test]
fn non_legacy_names() {
    let cfg = format!("{GOLDEN_CFG}\nlegacy_namespace = false");
    let m_out = flush(&cfg, GOLDEN_INPUT, 1);
    let m = map(&m_out);
    assert_eq!(m.get("stats.counters.cnt.rate"), Some(&"6"));
    assert_eq!(m.get("stats.counters.cnt.count"), Some(&"12"));
    assert_eq!(
        m.get("stats.counters.tagged.rate;env=prod;role=web;bare"),
        Some(&"0.5")
    );
    assert_eq!(
        m.get("stats.counters.statsd.packets_received.count"),
        Some(&"17")
    );
    assert_eq!(m.get("stats.timers.glork.mean"), Some(&"210"));
    assert_eq!(m.get("stats.gauges.gaugor"), Some(&"327"));
    assert_eq!(m.get("stats.sets.uniques.count"), Some(&"2"));
    // Prefixes and suffix: empty prefixes are left out, the suffix goes before the tags.
    let cfg = format!(
        "{GOLDEN_CFG}\nlegacy_namespace = false\nglobal_prefix = \"\"\nprefix_counter = \"\"\nprefix_gauge = \"g\"\nglobal_suffix = \"sfx\""
    );
    let out = flush(&cfg, GOLDEN_INPUT, 1);
    let m = map(&out);
    assert_eq!(m.get("cnt.rate.sfx"), Some(&"6"));
    assert_eq!(m.get("tagged.count.sfx;env=prod;role=web;bare"), Some(&"1"));
    assert_eq!(m.get("g.gaugor.sfx"), Some(&"327"));
    assert_eq!(m.get("timers.glork.mean.sfx"), Some(&"210"));
}

#[test]
fn legacy_mode_ignores_prefixes() {
    let cfg = format!("{GOLDEN_CFG}\nglobal_prefix = \"x\"\nprefix_counter = \"y\"");
    let out = flush(&cfg, GOLDEN_INPUT, 1);
    assert_eq!(map(&out).get("stats.cnt"), Some(&"6"));
}

#[test]
fn sorted_tags_are_one_series() {
    let out = flush(
        "",
        &["t:1|c|#b:2,a:1", "t:2|c|#a:1,b:2", "t:4|c|#a:1,b:2,a:1"],
        2,
    );
    let m = map(&out);
    assert_eq!(m.get("stats_counts.t;a=1;b=2"), Some(&"7"), "{out:#?}");
}

#[test]
fn second_idle_flush_is_etsys() {
    let rounds: &[&[&str]] = &[GOLDEN_INPUT, &[]];
    let out = flush_rounds(GOLDEN_CFG, rounds, 2);
    let m = map(&out[1]);
    assert_eq!(m.get("stats_counts.cnt"), Some(&"0"));
    assert_eq!(m.get("stats.cnt"), Some(&"0"));
    assert_eq!(m.get("stats.timers.glork.count"), Some(&"0"));
    assert_eq!(m.get("stats.timers.glork.count_ps"), Some(&"0"));
    assert!(
        !m.contains_key("stats.timers.glork.upper"),
        "an empty timer emits only count and count_ps"
    );
    assert_eq!(m.get("stats.gauges.gaugor"), Some(&"327"));
    assert_eq!(m.get("stats.sets.uniques.count"), Some(&"0"));
    assert_eq!(m.get("stats_counts.statsd.packets_received"), Some(&"0"));
}

#[test]
fn delete_idle_stats_and_gauge_ttl() {
    let cfg = "delete_idle_stats = true\ngauges_max_ttl = 2";
    let rounds: &[&[&str]] = &[&["c:1|c\ng:5|g\nt:3|ms\ns:x|s"], &[], &[], &["g:+1|g"]];
    let out = flush_rounds(cfg, rounds, 2);
    let m0 = map(&out[0]);
    assert_eq!(m0.get("stats_counts.c"), Some(&"1"));
    assert_eq!(m0.get("stats.gauges.g"), Some(&"5"));
    let m1 = map(&out[1]);
    assert!(!m1.contains_key("stats_counts.c") && !m1.contains_key("stats.timers.t.count"));
    assert!(!m1.contains_key("stats.sets.s.count"));
    // The internal counters are zeroed, never deleted.
    assert_eq!(m1.get("stats_counts.statsd.packets_received"), Some(&"0"));
    // gauges_max_ttl = 2: emitted in the flush of its update and the next one, then gone.
    assert_eq!(m1.get("stats.gauges.g"), Some(&"5"));
    assert!(!map(&out[2]).contains_key("stats.gauges.g"));
    // Deleted gauges start again from 0: `+1` on a deleted gauge is 1.
    assert_eq!(map(&out[3]).get("stats.gauges.g"), Some(&"1"));
}

/// §2.7: one timer per row, with its sample rates, percentiles and flush interval.
#[test]
fn timer_vectors() {
    struct Row {
        cfg: &'static str,
        lines: &'static str,
        want: &'static [(&'static str, &'static str)],
        absent: &'static [&'static str],
    }
    let rows = [
        Row {
            cfg: "percent_threshold = [90, 95, 50, -10, 99.9]\nflush_interval = \"10s\"",
            lines: A_TIMER,
            want: &[
                ("upper_90", "9"),
                ("mean_90", "5"),
                ("sum_90", "45"),
                ("sum_squares_90", "285"),
                ("count_90", "9"),
                ("upper_95", "10"),
                ("mean_95", "5.5"),
                ("upper_50", "5"),
                ("mean_50", "3"),
                ("lower_top10", "10"),
                ("mean_top10", "10"),
                ("sum_top10", "10"),
                ("sum_squares_top10", "100"),
                ("upper_99_9", "10"),
                ("count_99_9", "10"),
                ("std", "2.8722813232690143"),
                ("median", "5.5"),
                ("count_ps", "1"),
            ],
            absent: &[],
        },
        Row {
            cfg: "percent_threshold = [90, 10, 1]",
            lines: "a_timer:10|ms\na_timer:20|ms\na_timer:30|ms\na_timer:40|ms\na_timer:50|ms",
            want: &[("upper_90", "50"), ("upper_10", "10")],
            absent: &["upper_1", "count_1", "mean_1"],
        },
        Row {
            cfg: "percent_threshold = [90, 80]\nflush_interval = \"100ms\"",
            lines: "a_timer:100|ms\na_timer:200|ms\na_timer:300|ms",
            want: &[
                ("std", "81.64965809277261"),
                ("count_ps", "30"),
                ("upper_80", "200"),
                ("mean_80", "150"),
                ("sum_80", "300"),
            ],
            absent: &[],
        },
        Row {
            // Sampled: count = Σ 1/rate = 50, percentiles unchanged.
            cfg: "percent_threshold = [90, 80]\nflush_interval = \"100ms\"",
            lines: "a_timer:100|ms|@0.1\na_timer:200|ms|@0.05\na_timer:300|ms|@0.05",
            want: &[
                ("count", "50"),
                ("count_ps", "500"),
                ("upper_80", "200"),
                ("mean_80", "150"),
            ],
            absent: &[],
        },
        Row {
            cfg: "",
            lines: "a_timer:300|ms\na_timer:200|ms\na_timer:400|ms\na_timer:100|ms",
            want: &[("median", "250")],
            absent: &[],
        },
        Row {
            cfg: "percent_threshold = [50, 25]",
            lines: "a_timer:1|ms\na_timer:5|ms",
            want: &[
                ("upper_50", "1"),
                ("upper_25", "1"),
                ("median", "3"),
                ("std", "2"),
            ],
            absent: &[],
        },
        Row {
            cfg: "percent_threshold = [90, -10]",
            lines: "a_timer:100|ms",
            want: &[
                ("count_90", "1"),
                ("mean_90", "100"),
                ("upper_90", "100"),
                ("sum_90", "100"),
                ("sum_squares_90", "10000"),
                ("count_top10", "1"),
                ("mean_top10", "100"),
                ("lower_top10", "100"),
                ("sum_squares_top10", "10000"),
            ],
            absent: &[],
        },
        Row {
            cfg: "histogram = [{ metric = \"a_t\", bins = [2, 5.5, \"inf\"] }]",
            lines: A_TIMER,
            want: &[
                ("histogram.bin_2", "1"),
                ("histogram.bin_5_5", "4"),
                ("histogram.bin_inf", "5"),
            ],
            absent: &[],
        },
        Row {
            cfg: "histogram = [{ metric = \"a_timer\", bins = [1, 2] }]",
            lines: A_TIMER,
            want: &[("histogram.bin_1", "0"), ("histogram.bin_2", "1")],
            absent: &["histogram.bin_inf"],
        },
        Row {
            // The first matching rule wins; an empty bin list turns histograms off.
            cfg:
                "histogram = [{ metric = \"a_\", bins = [] }, { metric = \"a_timer\", bins = [1] }]",
            lines: A_TIMER,
            want: &[("upper", "10")],
            absent: &["histogram.bin_1"],
        },
        Row {
            // etsy emits NaN here (cumulativeValues[-1]); lonsdaleite covers all values.
            cfg: "percent_threshold = [-100]",
            lines: "a_timer:1|ms\na_timer:2|ms\na_timer:4|ms",
            want: &[
                ("mean_top100", "2.3333333333333335"),
                ("sum_top100", "7"),
                ("lower_top100", "1"),
            ],
            absent: &[],
        },
    ];
    for (i, row) in rows.iter().enumerate() {
        for shards in [1, 2] {
            let datagrams: Vec<&str> = row.lines.split('\n').collect();
            let out = flush(row.cfg, &datagrams, shards);
            let m = map(&out);
            for (stat, value) in row.want {
                let name = format!("stats.timers.a_timer.{stat}");
                assert_eq!(
                    m.get(name.as_str()),
                    Some(value),
                    "row {i}, {shards} shard(s): {name}"
                );
            }
            for stat in row.absent {
                let name = format!("stats.timers.a_timer.{stat}");
                assert!(
                    !m.contains_key(name.as_str()),
                    "row {i}: {name} should be absent"
                );
            }
        }
    }
}

#[test]
fn counter_gauge_set_vectors() {
    let out = flush("flush_interval = \"100ms\"", &["a:2|c"], 1);
    assert_eq!(map(&out).get("stats.a"), Some(&"20"));
    let out = flush(
        "",
        &[
            "g:333|g",
            "g:-10|g",
            "g:+4|g",
            "u:765|s",
            "u:765|s",
            "u:abc|s",
            "u:765.0|s",
        ],
        1,
    );
    let m = map(&out);
    assert_eq!(m.get("stats.gauges.g"), Some(&"327"));
    // Set members are distinct strings: `765` and `765.0` differ.
    assert_eq!(m.get("stats.sets.u.count"), Some(&"3"));
}

#[test]
fn calculated_timer_metrics_filter() {
    let cfg = "percent_threshold = [90, -10]\ncalculated_timer_metrics = [\"count\", \"upper_percent\", \"lower_percent\"]";
    let out = flush(cfg, &[A_TIMER], 1);
    let names: Vec<&str> = out
        .iter()
        .filter_map(|(n, _)| n.strip_prefix("stats.timers.a_timer."))
        .collect();
    // An inclusion list; `upper_90` and `lower_top10` match through `_percent`.
    assert_eq!(names, ["upper_90", "lower_top10", "count"]);
}

#[test]
fn series_cap_refuses_new_names_only() {
    let cfg = Config::from_toml_str("[statsd]\nmax_series = 5", Path::new("t.toml")).unwrap();
    let mut agg = Aggregator::new(&cfg.statsd);
    let mut parser = Parser::new(ParseOptions {
        sanitize: true,
        sort_tags: true,
    });
    let mut refused = 0;
    // Three internal counters already hold slots; two more names fit.
    for line in ["a:1|c", "b:1|c", "c:1|c", "a:1|c", "d:1|g"] {
        parser.parse_line(line.as_bytes(), |r| {
            if agg.ingest(&r.unwrap()).is_err() {
                refused += 1;
            }
        });
    }
    assert_eq!(refused, 2);
    let mut lines = Vec::new();
    let parts = agg.take_partials(1, |_| 0);
    for p in parts {
        agg.merge(p);
    }
    agg.flush(&mut |n, v| lines.push((String::from_utf8(n.to_vec()).unwrap(), v)));
    assert!(lines
        .iter()
        .any(|(n, v)| n == "stats_counts.a" && v.to_bits() == 2.0f64.to_bits()));
    assert!(!lines.iter().any(|(n, _)| n == "stats_counts.c"));
}

/// The server merges and flushes in slices (so its sockets are drained in between); the
/// result must be the same as in one go, in the same order.
#[test]
fn sliced_merge_and_flush_equal_one_go() {
    use lonsdaleite::aggregate::FlushCursor;
    let cfg =
        Config::from_toml_str(&format!("[statsd]\n{GOLDEN_CFG}"), Path::new("t.toml")).unwrap();
    let run = |sliced: bool| {
        let mut parser = Parser::new(ParseOptions {
            sanitize: true,
            sort_tags: false,
        });
        let mut agg = Aggregator::new(&cfg.statsd);
        let mut out = Vec::new();
        for round in 0..2 {
            for d in GOLDEN_INPUT {
                for line in d.split('\n') {
                    parser.parse_line(line.as_bytes(), |r| {
                        if let Ok(s) = r {
                            agg.ingest(&s).unwrap();
                        }
                    });
                }
            }
            for mut p in agg.take_partials(1, |_| 0) {
                if sliced {
                    while !agg.merge_some(&mut p, 3) {}
                } else {
                    agg.merge(p);
                }
            }
            let mut emit = |n: &[u8], v: f64| {
                out.push((round, String::from_utf8(n.to_vec()).unwrap(), v.to_bits()));
            };
            if sliced {
                let mut cursor = FlushCursor::default();
                while agg.flush_step(&mut cursor, 2, &mut emit).is_none() {}
            } else {
                agg.flush(&mut emit);
            }
        }
        out
    };
    let (one, sliced) = (run(false), run(true));
    assert!(one.len() > 100);
    assert_eq!(one, sliced);
}
