//! The time axis: graphite-web's `xAxisConfigs` table (taken from rrdtool) picks grid and
//! label spacing from the seconds per pixel and the time range, from 5-second labels to
//! 240-day ones; labels are formatted with a strftime subset in the request's time zone.
//!
//! As graphite (pytz) does, the whole axis uses the UTC offset the zone has at the start
//! of the graph: grid times are whole units of local wall-clock time at that offset.

use crate::query::time::{Civil, TimeZone};

const SEC: i64 = 1;
const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Used when at least this many seconds fall on one pixel.
    pub seconds: f64,
    /// Minor grid lines every `minor_step` × `minor_unit` seconds.
    pub minor_unit: i64,
    /// See `minor_unit`.
    pub minor_step: f64,
    /// Major grid lines every `major_step` × `major_unit` seconds.
    pub major_unit: i64,
    /// See `major_unit`.
    pub major_step: f64,
    /// Labels every `label_step` × `label_unit` seconds.
    pub label_unit: i64,
    /// See `label_unit`.
    pub label_step: f64,
    /// strftime format of the labels.
    pub format: &'static str,
    /// Used only for time ranges up to this many seconds.
    pub max_interval: Option<i64>,
}

const fn row(
    seconds: f64,
    minor: (i64, f64),
    major: (i64, f64),
    label: (i64, f64),
    format: &'static str,
    max_interval: Option<i64>,
) -> Config {
    Config {
        seconds,
        minor_unit: minor.0,
        minor_step: minor.1,
        major_unit: major.0,
        major_step: major.1,
        label_unit: label.0,
        label_step: label.1,
        format,
        max_interval,
    }
}

/// graphite's `xAxisConfigs` (`DATE_FORMAT` is its default `%m/%d`).
pub const CONFIGS: [Config; 23] = [
    row(
        0.00,
        (SEC, 5.0),
        (MIN, 1.0),
        (SEC, 5.0),
        "%H:%M:%S",
        Some(10 * MIN),
    ),
    row(
        0.07,
        (SEC, 10.0),
        (MIN, 1.0),
        (SEC, 10.0),
        "%H:%M:%S",
        Some(20 * MIN),
    ),
    row(
        0.14,
        (SEC, 15.0),
        (MIN, 1.0),
        (SEC, 15.0),
        "%H:%M:%S",
        Some(30 * MIN),
    ),
    row(
        0.27,
        (SEC, 30.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2 * HOUR),
    ),
    row(
        0.5,
        (MIN, 1.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2 * HOUR),
    ),
    row(
        1.2,
        (MIN, 1.0),
        (MIN, 4.0),
        (MIN, 2.0),
        "%H:%M",
        Some(3 * HOUR),
    ),
    row(
        2.0,
        (MIN, 1.0),
        (MIN, 10.0),
        (MIN, 5.0),
        "%H:%M",
        Some(6 * HOUR),
    ),
    row(
        5.0,
        (MIN, 2.0),
        (MIN, 10.0),
        (MIN, 10.0),
        "%H:%M",
        Some(12 * HOUR),
    ),
    row(
        10.0,
        (MIN, 5.0),
        (MIN, 20.0),
        (MIN, 20.0),
        "%H:%M",
        Some(DAY),
    ),
    row(
        30.0,
        (MIN, 10.0),
        (HOUR, 1.0),
        (HOUR, 1.0),
        "%H:%M",
        Some(2 * DAY),
    ),
    row(
        60.0,
        (MIN, 30.0),
        (HOUR, 2.0),
        (HOUR, 2.0),
        "%H:%M",
        Some(2 * DAY),
    ),
    row(
        100.0,
        (HOUR, 2.0),
        (HOUR, 4.0),
        (HOUR, 4.0),
        "%a %H:%M",
        Some(6 * DAY),
    ),
    row(
        255.0,
        (HOUR, 6.0),
        (HOUR, 12.0),
        (HOUR, 12.0),
        "%m/%d %H:%M",
        Some(10 * DAY),
    ),
    row(
        600.0,
        (HOUR, 6.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(14 * DAY),
    ),
    row(
        1000.0,
        (HOUR, 12.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        2000.0,
        (DAY, 1.0),
        (DAY, 2.0),
        (DAY, 2.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        4000.0,
        (DAY, 2.0),
        (DAY, 4.0),
        (DAY, 4.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        8000.0,
        (DAY, 3.5),
        (DAY, 7.0),
        (DAY, 7.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        16000.0,
        (DAY, 7.0),
        (DAY, 14.0),
        (DAY, 14.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        32000.0,
        (DAY, 15.0),
        (DAY, 30.0),
        (DAY, 30.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    row(
        64000.0,
        (DAY, 30.0),
        (DAY, 60.0),
        (DAY, 60.0),
        "%m/%d %Y",
        None,
    ),
    row(
        100_000.0,
        (DAY, 60.0),
        (DAY, 120.0),
        (DAY, 120.0),
        "%m/%d %Y",
        None,
    ),
    row(
        120_000.0,
        (DAY, 120.0),
        (DAY, 240.0),
        (DAY, 240.0),
        "%m/%d %Y",
        None,
    ),
];

/// The table row for a time range drawn over `pixels` pixels: the last row whose
/// seconds-per-pixel and maximum interval both allow it (the last row if none does).
pub fn choose(time_range: i64, pixels: f64) -> &'static Config {
    let per_pixel = time_range as f64 / pixels;
    CONFIGS
        .iter()
        .rev()
        .find(|c| c.seconds <= per_pixel && c.max_interval.is_none_or(|m| m >= time_range))
        .unwrap_or(&CONFIGS[CONFIGS.len() - 1])
}

/// The instants (UTC seconds) from the first multiple of `unit × step` in local time at or
/// after `start` up to (excluding) `end`; `offset` is the zone's offset at `start`.
pub fn times(start: i64, end: i64, offset: i64, unit: i64, step: f64) -> Vec<i64> {
    let local = start + offset;
    let c = Civil::from_epoch(local);
    let day = local - local.rem_euclid(DAY);
    let whole = step as i64;
    let first = match unit {
        SEC => {
            day + i64::from(c.hour) * HOUR + i64::from(c.minute) * MIN + i64::from(c.second)
                - i64::from(c.second) % whole.max(1)
        }
        MIN => {
            day + i64::from(c.hour) * HOUR
                + (i64::from(c.minute) - i64::from(c.minute) % whole.max(1)) * MIN
        }
        HOUR => day + (i64::from(c.hour) - i64::from(c.hour) % whole.max(1)) * HOUR,
        _ => day,
    };
    let delta = (unit as f64 * step).round() as i64;
    if delta <= 0 {
        return Vec::new();
    }
    let mut t = first;
    while t < local {
        t += delta;
    }
    let mut out = Vec::new();
    while t - offset < end && out.len() < 10_000 {
        out.push(t - offset);
        t += delta;
    }
    out
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Checks an `xFormat` before drawing; the error names the unknown directive.
pub fn check_format(format: &str) -> Result<(), String> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(
                    'a' | 'A' | 'b' | 'B' | 'h' | 'd' | 'e' | 'H' | 'I' | 'j' | 'l' | 'm' | 'M'
                    | 'p' | 'S' | 'y' | 'Y' | 'Z' | 'z' | '%' | 'F' | 'T' | 'R' | 'D' | 'u' | 'w',
                ) => {}
                Some(d) => return Err(format!("unsupported strftime directive %{d}")),
                None => return Err("ends with a lone %".to_string()),
            }
        }
    }
    Ok(())
}

/// Formats the instant `epoch` (UTC) at `offset` seconds east with a strftime subset.
pub fn strftime(format: &str, epoch: i64, offset: i64, tz: &TimeZone) -> String {
    let local = epoch + offset;
    let c = Civil::from_epoch(local);
    let weekday = (local.div_euclid(DAY) + 4).rem_euclid(7) as usize;
    let month = MONTHS[(c.month as usize + 11) % 12];
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let piece = match chars.next() {
            Some('a') => WEEKDAYS[weekday][..3].to_string(),
            Some('A') => WEEKDAYS[weekday].to_string(),
            Some('b' | 'h') => month[..3].to_string(),
            Some('B') => month.to_string(),
            Some('d') => format!("{:02}", c.day),
            Some('e') => format!("{:>2}", c.day),
            Some('H') => format!("{:02}", c.hour),
            Some('I') => format!("{hour12:02}"),
            Some('l') => format!("{hour12:>2}"),
            Some('j') => {
                let jan1 = Civil {
                    month: 1,
                    day: 1,
                    hour: 0,
                    minute: 0,
                    second: 0,
                    ..c
                };
                format!("{:03}", (local - jan1.to_epoch()).div_euclid(DAY) + 1)
            }
            Some('m') => format!("{:02}", c.month),
            Some('M') => format!("{:02}", c.minute),
            Some('p') => if c.hour < 12 { "AM" } else { "PM" }.to_string(),
            Some('S') => format!("{:02}", c.second),
            Some('y') => format!("{:02}", c.year.rem_euclid(100)),
            Some('Y') => c.year.to_string(),
            Some('Z') => tz.name().to_string(),
            Some('z') => {
                let sign = if offset < 0 { '-' } else { '+' };
                let a = offset.abs();
                format!("{sign}{:02}{:02}", a / 3600, a % 3600 / 60)
            }
            Some('F') => format!("{}-{:02}-{:02}", c.year, c.month, c.day),
            Some('T') => format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second),
            Some('R') => format!("{:02}:{:02}", c.hour, c.minute),
            Some('D') => format!("{:02}/{:02}/{:02}", c.month, c.day, c.year.rem_euclid(100)),
            Some('u') => (if weekday == 0 { 7 } else { weekday }).to_string(),
            Some('w') => weekday.to_string(),
            Some('%') | None => "%".to_string(),
            Some(other) => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_rows_by_range() {
        // One hour over ~290 pixels: 12.4 s/pixel, rows up to 10 s, max interval 1 day.
        assert_eq!(choose(3600, 290.0).format, "%H:%M");
        assert!((choose(3600, 290.0).label_step - 20.0).abs() < 1e-9);
        // Five minutes: 1 s/pixel → one-minute labels.
        assert_eq!(choose(300, 290.0).label_unit, MIN);
        // A week takes the date rows; 100-255 s per pixel the weekday row.
        assert_eq!(choose(7 * DAY, 290.0).format, "%m/%d");
        assert_eq!(choose(16 * HOUR, 290.0).format, "%a %H:%M");
        assert_eq!(choose(2 * DAY, 290.0).format, "%m/%d %H:%M");
        assert_eq!(choose(3 * 365 * DAY, 290.0).format, "%m/%d %Y");
    }

    #[test]
    fn label_times_align_in_local_time() {
        // 2024-01-01 00:07:00 UTC .. +1h, labels every 20 min.
        let start = 1_704_067_620;
        assert_eq!(
            times(start, start + 3600, 0, MIN, 20.0),
            vec![start + 13 * 60, start + 33 * 60, start + 53 * 60]
        );
        // Days at UTC+5:30 start at local midnight.
        let t = times(start, start + 2 * DAY, 19_800, DAY, 1.0);
        assert_eq!((t[0] + 19_800).rem_euclid(DAY), 0);
    }

    #[test]
    fn formats() {
        let tz = TimeZone::utc();
        // 2024-03-05 14:07:09 UTC, a Tuesday.
        let t = 1_709_647_629;
        assert_eq!(strftime("%a %H:%M", t, 0, &tz), "Tue 14:07");
        assert_eq!(strftime("%m/%d %Y", t, 0, &tz), "03/05 2024");
        assert_eq!(strftime("%l%p %j %b", t, 3600, &tz), " 3PM 065 Mar");
        assert!(check_format("%H %Q").is_err());
    }
}
