//! graphite's `from`/`until` syntax against graphite-web 1.1.10's own `attime.py`.
//!
//! `tests/data/query/attime.jsonl` was made by `gen_attime.py` running graphite-web's
//! `parseATTime` (pytz) and `parseTimeOffset` over inputs × five `now`s × six zones, and
//! around the daylight-saving transitions of zones that have them, with pytz's own
//! instant → local time (`local`) and local time → instant (`localize`) answers.

use lonsdaleite::query::time::{parse_at_time, parse_time_offset, Civil, TimeError, TimeZone};

#[derive(serde::Deserialize)]
struct Case {
    kind: String,
    input: String,
    now: i64,
    tz: String,
    result: serde_json::Value,
}

/// Our message for the errors graphite raises with its own text (after `ValueError: `).
fn graphite_message(e: &TimeError) -> Option<String> {
    match e {
        TimeError::InvalidOffsetUnit(_)
        | TimeError::UnknownDayReference(_)
        | TimeError::InvalidNumber(_)
        | TimeError::InvalidDate(_) => Some(format!("ValueError: {e}")),
        TimeError::DayOfMonthRequired => Some(format!("Exception: {e}")),
        TimeError::InvalidOffset(_) => Some(format!("KeyError: '{e}'")),
        _ => None,
    }
}

/// Every case gives graphite's instant, or an error where graphite raises one (with the
/// same message where graphite has its own).
#[test]
fn agrees_with_graphite_web() {
    let text = include_str!("data/query/attime.jsonl");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.lines() {
        let c: Case = serde_json::from_str(line).expect("valid case");
        let tz = TimeZone::from_name(&c.tz).expect("known zone");
        count += 1;
        let got = match c.kind.as_str() {
            "at" => parse_at_time(&c.input, c.now, &tz),
            "offset" => parse_time_offset(&c.input),
            "local" => {
                let epoch: i64 = c.input.parse().expect("epoch");
                let l = tz.to_local(epoch);
                let got = serde_json::json!([
                    l.year,
                    l.month,
                    l.day,
                    l.hour,
                    l.minute,
                    l.second,
                    tz.offset_at(epoch)
                ]);
                if got != c.result {
                    failures.push(format!("{line}: got {got}"));
                }
                continue;
            }
            "localize" => Ok(tz.localize(civil(&c.input))),
            other => panic!("unknown kind {other}"),
        };
        match (&got, c.result.as_i64()) {
            (Ok(v), Some(want)) if *v == want => {}
            (Err(e), None) => {
                let want = c.result["error"].as_str().unwrap_or_default();
                if let Some(msg) = graphite_message(e) {
                    if msg != want {
                        failures.push(format!("{line:?}: message {msg:?}"));
                    }
                }
            }
            _ => failures.push(format!("{line}: got {got:?}")),
        }
    }
    assert!(count > 13_000);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn time_zones() {
    assert_eq!(TimeZone::from_name("utc").unwrap().offset_at(0), 0);
    assert_eq!(
        TimeZone::from_name("Etc/GMT+5").unwrap().offset_at(0),
        -5 * 3600
    );
    assert_eq!(
        TimeZone::from_name("Etc/GMT-14").unwrap().offset_at(0),
        14 * 3600
    );
    assert!(TimeZone::from_name("Etc/GMT-15").is_err());
    assert!(TimeZone::from_name("Etc/GMT+05").is_err());
    for bad in [
        "Mars/Olympus",
        "",
        "EST5EDT,M3.2.0,M11.1.0",
        "../etc/passwd",
        "Europe/",
    ] {
        assert_eq!(
            TimeZone::from_name(bad),
            Err(TimeError::UnsupportedTimeZone(bad.into())),
            "{bad:?}"
        );
    }
    let paris = TimeZone::from_name("europe/paris").unwrap();
    assert_eq!(paris.name(), "europe/paris");
    assert_eq!(paris.offset_at(1_710_506_096), 3600);
    assert_eq!(paris.offset_at(1_720_000_000), 7200);
    let plus_530 = TimeZone::fixed(5 * 3600 + 1800);
    assert_eq!(plus_530.name(), "+05:30");
    // midnight in +05:30 is 18:30 UTC the day before
    let now = 1_710_506_096; // 2024-03-15 12:34:56 UTC = 18:04:56 local
    assert_eq!(parse_at_time("midnight", now, &plus_530), Ok(1_710_441_000));
    assert_eq!(plus_530.local_fields(now), (2024, 3, 15, 18, 4, 56));
}

/// `YYYY-MM-DDTHH:MM` as a wall time.
fn civil(text: &str) -> Civil {
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().expect("digits");
    Civil::new(n(0..4), n(5..7), n(8..10), n(11..13), n(14..16)).expect("valid date")
}

/// The daylight-saving rules, spelled out for one zone: New York's 2024 spring-forward
/// (02:00 EST → 03:00 EDT on 10 March) and fall-back (02:00 EDT → 01:00 EST on 3 November).
#[test]
fn new_york_transitions() {
    let ny = TimeZone::from_name("America/New_York").unwrap();
    let spring = 1_710_054_000; // 2024-03-10T07:00:00Z
    assert_eq!(ny.offset_at(spring - 1), -5 * 3600);
    assert_eq!(ny.offset_at(spring), -4 * 3600);
    assert_eq!(ny.local_fields(spring - 1), (2024, 3, 10, 1, 59, 59));
    assert_eq!(ny.local_fields(spring), (2024, 3, 10, 3, 0, 0));
    // 02:30 never happens: read with the standard offset, i.e. 03:30 EDT
    assert_eq!(ny.localize(civil("2024-03-10T02:30")), spring + 1800);
    assert_eq!(ny.localize(civil("2024-03-10T03:30")), spring + 1800);
    let fall = 1_730_613_600; // 2024-11-03T06:00:00Z, 02:00 EDT becomes 01:00 EST
    assert_eq!(ny.local_fields(fall - 1800), (2024, 11, 3, 1, 30, 0));
    assert_eq!(ny.local_fields(fall + 1800), (2024, 11, 3, 1, 30, 0));
    // 01:30 happens twice: the standard-time (EST, later) one
    assert_eq!(ny.localize(civil("2024-11-03T01:30")), fall + 1800);
    // midnight on the fall-back day is 25 hours before the next midnight
    let now = fall + 12 * 3600;
    let midnight = parse_at_time("midnight", now, &ny).unwrap();
    let tomorrow = parse_at_time("midnight tomorrow", now, &ny).unwrap();
    assert_eq!(tomorrow - midnight, 25 * 3600);
}

proptest::proptest! {
    /// Any string, any `now` in Python's datetime range, any fixed zone: an instant in
    /// range or an error, never a panic. The same with zones that have daylight saving time.
    #[test]
    fn never_panics(
        s in "\\PC{0,24}",
        soup in "[0-9:/+ _,a-z-]{0,20}",
        now in -62_135_596_800i64..=253_402_300_799,
        offset in -50_400i32..=50_400,
        zone in proptest::sample::select(&["America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata"][..]),
    ) {
        let zone = TimeZone::from_name(zone).unwrap();
        for tz in [&TimeZone::fixed(offset), &zone] {
            for input in [&s, &soup] {
                if let Ok(t) = parse_at_time(input, now, tz) {
                    proptest::prop_assert!((-62_135_596_800..=253_402_300_799).contains(&t));
                }
                let _ = parse_time_offset(input);
            }
            let _ = tz.local_fields(now);
        }
    }
}
