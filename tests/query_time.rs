//! graphite's `from`/`until` syntax against graphite-web 1.1.10's own `attime.py`.
//!
//! `tests/data/query/attime.jsonl` was made by `gen_attime.py` running graphite-web's
//! `parseATTime` (pytz) and `parseTimeOffset` over inputs × five `now`s × three zones.

use lonsdaleite::query::time::{parse_at_time, parse_time_offset, TimeError, TimeZone};

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
        let tz = TimeZone::from_name(&c.tz).expect("fixed zone");
        let got = match c.kind.as_str() {
            "at" => parse_at_time(&c.input, c.now, &tz),
            _ => parse_time_offset(&c.input),
        };
        count += 1;
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
    assert!(count > 2000);
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
    assert_eq!(
        TimeZone::from_name("Europe/Paris"),
        Err(TimeError::UnsupportedTimeZone("Europe/Paris".into()))
    );
    let plus_530 = TimeZone::fixed(5 * 3600 + 1800);
    assert_eq!(plus_530.name(), "+05:30");
    // midnight in +05:30 is 18:30 UTC the day before
    let now = 1_710_506_096; // 2024-03-15 12:34:56 UTC = 18:04:56 local
    assert_eq!(parse_at_time("midnight", now, &plus_530), Ok(1_710_441_000));
    assert_eq!(plus_530.local_fields(now), (2024, 3, 15, 18, 4, 56));
}

proptest::proptest! {
    /// Any string, any `now` in Python's datetime range, any fixed zone: an instant in
    /// range or an error, never a panic.
    #[test]
    fn never_panics(
        s in "\\PC{0,24}",
        soup in "[0-9:/+ _,a-z-]{0,20}",
        now in -62_135_596_800i64..=253_402_300_799,
        offset in -50_400i32..=50_400,
    ) {
        let tz = TimeZone::fixed(offset);
        for input in [&s, &soup] {
            if let Ok(t) = parse_at_time(input, now, &tz) {
                proptest::prop_assert!((-62_135_596_800..=253_402_300_799).contains(&t));
            }
            let _ = parse_time_offset(input);
        }
    }
}
