//! graphite's time syntax for `from`, `until` and `now` (graphite-web 1.1.10
//! `render/attime.py`), and the interval offsets that functions take (`"5min"`, `"-1d"`).
//!
//! [`parse_at_time`] lower-cases its input and removes `_`, `,` and spaces, then:
//! 1. all digits → epoch seconds, except 8 digits that look like `YYYYMMDD` (year > 1900,
//!    month < 13, day < 32), which are a date;
//! 2. splits at the first `+` (else the first `-`) into a reference and an offset;
//! 3. the reference: empty or `now` → now (seconds kept); else an optional time of day
//!    (`HH:MM` with optional `am`/`pm`, `Xam`, `Xpm`, `noon`, `midnight`, `teatime` = 16:00;
//!    00:00 if absent) on a day: `yesterday`, `today`, `tomorrow`, `MM/DD/YY[YY]`,
//!    `YYYYMMDD`, a month name and day (`jan1`, `january15`), a weekday name (the most
//!    recent one, today included), or today;
//! 4. the offset ([`parse_time_offset`]) is added to the reference instant.
//!
//! graphite's quirks are kept: `12pm` and `12:00pm` are 00:00 (`(12 + 12) % 24`),
//! `MM/DD/YY` years below 1970 after adding 1900 get another 100 (`03/04/50` is 2050), a
//! month name takes its day from its last one or two digits, `-1d+2h` is an error (the
//! reference is `-1d`), and units are matched by prefix (`s`, `min`, `h`, `d`, `w`, `mon` =
//! 30 days, `y` = 365 days; a bare `m` is an error).
//!
//! `now` is always passed in (epoch seconds); nothing here reads the clock. Time zones:
//! UTC aliases, fixed offsets (`Etc/GMT+5`, [`TimeZone::fixed`]) and every IANA zone of
//! the database bundled with the binary (`jiff`). Offsets are looked up per instant; a
//! local time is turned into an instant as pytz's `localize(is_dst=False)` does.

use std::fmt;

/// Earliest instant Python's `datetime` can hold (0001-01-01T00:00:00Z).
const MIN_EPOCH: i64 = -62_135_596_800;
/// Latest instant Python's `datetime` can hold (9999-12-31T23:59:59Z).
const MAX_EPOCH: i64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Why a time string was rejected; messages follow graphite's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("Invalid offset: {0}")]
    InvalidOffset(String),
    #[error("Invalid offset unit '{0}'")]
    InvalidOffsetUnit(String),
    #[error("invalid literal for int() with base 10: '{0}'")]
    InvalidNumber(String),
    #[error("Unknown day reference: {0}")]
    UnknownDayReference(String),
    #[error("Day of month required after month name")]
    DayOfMonthRequired,
    #[error("{0}")]
    InvalidDate(&'static str),
    #[error("date value out of range")]
    OutOfRange,
    #[error("unknown time zone '{0}'")]
    UnsupportedTimeZone(String),
}

/// A time zone: how instants map to local wall-clock times and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    name: String,
    rules: Rules,
}

/// Where a zone's offsets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rules {
    /// Seconds east of UTC, at every instant.
    Fixed(i32),
    /// An IANA zone from the bundled database.
    Iana(jiff::tz::TimeZone),
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::utc()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The IANA database compiled into the binary (the same answers on every machine,
/// whatever `/usr/share/zoneinfo` holds).
fn zone_database() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: std::sync::OnceLock<jiff::tz::TimeZoneDatabase> = std::sync::OnceLock::new();
    DB.get_or_init(jiff::tz::TimeZoneDatabase::bundled)
}

/// How far pytz winds the clock back to read a time in a gap (`localize` with
/// `is_dst=False`): the offset in force six hours before is used.
const GAP_WINDBACK: i64 = 6 * 3600;

impl TimeZone {
    /// graphite's default `TIME_ZONE`.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            rules: Rules::Fixed(0),
        }
    }

    /// A fixed offset in seconds east of UTC.
    pub fn fixed(offset_seconds: i32) -> Self {
        let sign = if offset_seconds < 0 { '-' } else { '+' };
        let a = offset_seconds.unsigned_abs();
        let name = format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60);
        Self {
            name,
            rules: Rules::Fixed(offset_seconds),
        }
    }

    /// A zone by IANA name, case-insensitively as pytz looks names up: the UTC aliases,
    /// the fixed `Etc/GMT±N` zones (POSIX sign: `Etc/GMT+5` is UTC−5) and every zone of
    /// the IANA database bundled with the binary (`Europe/Berlin`, `US/Eastern`, …).
    pub fn from_name(name: &str) -> Result<Self, TimeError> {
        let lower = name.to_ascii_lowercase();
        let utc_aliases = [
            "utc",
            "etc/utc",
            "uct",
            "etc/uct",
            "gmt",
            "etc/gmt",
            "gmt0",
            "etc/gmt0",
            "gmt+0",
            "etc/gmt+0",
            "gmt-0",
            "etc/gmt-0",
            "greenwich",
            "etc/greenwich",
            "universal",
            "etc/universal",
            "zulu",
            "etc/zulu",
        ];
        if utc_aliases.contains(&lower.as_str()) {
            return Ok(Self {
                name: name.to_owned(),
                rules: Rules::Fixed(0),
            });
        }
        if let Some(rest) = lower.strip_prefix("etc/gmt") {
            let (sign, digits) = match rest.as_bytes().first() {
                Some(b'+') => (-1, &rest[1..]),
                Some(b'-') => (1, &rest[1..]),
                _ => (0, ""),
            };
            let hours: Option<i32> = digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())
                .flatten();
            if let Some(h) = hours {
                let max = if sign < 0 { 12 } else { 14 };
                if (1..=max).contains(&h) && !digits.starts_with('0') {
                    return Ok(Self {
                        name: name.to_owned(),
                        rules: Rules::Fixed(sign * h * 3600),
                    });
                }
            }
            return Err(TimeError::UnsupportedTimeZone(name.to_owned()));
        }
        // The database also answers POSIX TZ strings and names with `..`; pytz knows
        // only the names listed in the database.
        let plausible = !name.is_empty()
            && !name.contains("..")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
        match zone_database().get(name) {
            Ok(zone) if plausible => Ok(Self {
                name: name.to_owned(),
                rules: Rules::Iana(zone),
            }),
            _ => Err(TimeError::UnsupportedTimeZone(name.to_owned())),
        }
    }

    /// The zone's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seconds east of UTC at `epoch`.
    pub fn offset_at(&self, epoch: i64) -> i32 {
        match &self.rules {
            Rules::Fixed(offset) => *offset,
            Rules::Iana(zone) => iana_offset(zone, epoch),
        }
    }

    /// The local wall-clock time at `epoch`.
    pub fn to_local(&self, epoch: i64) -> Civil {
        Civil::from_epoch(epoch + i64::from(self.offset_at(epoch)))
    }

    /// `(year, month, day, hour, minute, second)` of `epoch` in this zone.
    pub fn local_fields(&self, epoch: i64) -> (i64, u32, u32, u32, u32, u32) {
        let c = self.to_local(epoch);
        (c.year, c.month, c.day, c.hour, c.minute, c.second)
    }

    /// The instant of a local time as pytz's `localize(is_dst=False)` reads it: a time
    /// that happens twice (clocks turned back) is taken with the standard-time offset
    /// (if both or neither are standard time, the later instant); a time that never
    /// happens (clocks turned forward) is read with the offset in force six hours
    /// earlier, so 02:30 on a spring-forward night is 02:30 standard time.
    pub fn localize(&self, local: Civil) -> i64 {
        match &self.rules {
            Rules::Fixed(offset) => local.to_epoch() - i64::from(*offset),
            Rules::Iana(zone) => localize_iana(zone, local.to_epoch(), 0),
        }
    }
}

/// An offset rounded to whole minutes, as pytz stores them (local mean times such as
/// Berlin's +0:53:28 before 1893 become +0:53).
fn whole_minutes(offset: jiff::tz::Offset) -> i32 {
    (offset.seconds() + 30).div_euclid(60) * 60
}

/// A `jiff` instant of epoch seconds, clamped to what `jiff` can hold (wider than
/// Python's `datetime`, so in-range inputs are never clamped).
fn timestamp(epoch: i64) -> jiff::Timestamp {
    let clamped = epoch.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(clamped).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The first instant pytz knows a transition at (-2³¹ s, 1901-12-13T20:45:52Z): it reads
/// only the 32-bit part of the zone files, so before it every zone keeps its first offset
/// (local mean time, e.g. New York's −4:56 instead of EST from 1883).
const PYTZ_FIRST_TRANSITION: i64 = -(1 << 31);

/// A zone's offset at `epoch` as pytz has it (see [`PYTZ_FIRST_TRANSITION`]).
fn iana_offset(zone: &jiff::tz::TimeZone, epoch: i64) -> i32 {
    let at = if epoch < PYTZ_FIRST_TRANSITION {
        jiff::Timestamp::MIN
    } else {
        timestamp(epoch)
    };
    whole_minutes(zone.to_offset(at))
}

/// [`TimeZone::localize`] for an IANA zone; `local` is the wall time as epoch seconds
/// read as UTC. `depth` bounds the wind-back through consecutive gaps.
fn localize_iana(zone: &jiff::tz::TimeZone, local: i64, depth: u32) -> i64 {
    use jiff::tz::AmbiguousOffset;
    // The instants that show `local` on the wall clock, as pytz finds them.
    let mut candidates: Vec<i64> = Vec::with_capacity(2);
    let first = local - i64::from(iana_offset(zone, jiff::Timestamp::MIN.as_second()));
    if first < PYTZ_FIRST_TRANSITION {
        candidates.push(first);
    }
    let offsets = match civil_datetime(local).map(|dt| zone.to_ambiguous_timestamp(dt).offset()) {
        Some(AmbiguousOffset::Unambiguous { offset }) => vec![offset],
        Some(AmbiguousOffset::Fold { before, after }) => vec![before, after],
        Some(AmbiguousOffset::Gap { .. }) | None => Vec::new(),
    };
    candidates.extend(
        offsets
            .into_iter()
            .map(|o| local - i64::from(whole_minutes(o)))
            .filter(|&t| t >= PYTZ_FIRST_TRANSITION),
    );
    match candidates.as_slice() {
        [] if depth < 8 => localize_iana(zone, local - GAP_WINDBACK, depth + 1) + GAP_WINDBACK,
        [] => local - i64::from(iana_offset(zone, local)),
        [only] => *only,
        _ => {
            let is_dst = |t: i64| {
                t >= PYTZ_FIRST_TRANSITION && zone.to_offset_info(timestamp(t)).dst().is_dst()
            };
            let standard: Vec<i64> = candidates.iter().copied().filter(|&t| !is_dst(t)).collect();
            match standard.as_slice() {
                [only] => *only,
                [] => candidates.iter().copied().max().unwrap_or(first),
                _ => standard.iter().copied().max().unwrap_or(first),
            }
        }
    }
}

/// The `jiff` civil date-time of wall-time epoch seconds, if `jiff` can hold it.
fn civil_datetime(local: i64) -> Option<jiff::civil::DateTime> {
    let c = Civil::from_epoch(local);
    jiff::civil::DateTime::new(
        i16::try_from(c.year).ok()?,
        c.month as i8,
        c.day as i8,
        c.hour as i8,
        c.minute as i8,
        c.second as i8,
        0,
    )
    .ok()
}

/// A calendar date and time of day without a zone (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// Validates like Python's `datetime(...)` constructor.
    pub fn new(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> Result<Self, TimeError> {
        if !(1..=9999).contains(&year) {
            return Err(TimeError::InvalidDate("year is out of range"));
        }
        if !(1..=12).contains(&month) {
            return Err(TimeError::InvalidDate("month must be in 1..12"));
        }
        if day < 1 || day > i64::from(days_in_month(year, month as u32)) {
            return Err(TimeError::InvalidDate("day is out of range for month"));
        }
        check_time(hour, minute)?;
        Ok(Self {
            year,
            month: month as u32,
            day: day as u32,
            hour: hour as u32,
            minute: minute as u32,
            second: 0,
        })
    }

    /// Seconds since 1970-01-01T00:00:00 of this wall time read as UTC.
    pub fn to_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// The inverse of [`Civil::to_epoch`].
    pub fn from_epoch(epoch: i64) -> Self {
        let days = epoch.div_euclid(86_400);
        let secs = epoch.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
        }
    }

    /// Day of the week, 0 = Sunday (graphite's `weekdays` list order).
    fn weekday(self) -> usize {
        (days_from_civil(self.year, self.month, self.day) + 4).rem_euclid(7) as usize
    }

    fn add_days(self, days: i64) -> Self {
        let (year, month, day) =
            civil_from_days(days_from_civil(self.year, self.month, self.day) + days);
        Self {
            year,
            month,
            day,
            ..self
        }
    }
}

fn check_time(hour: i64, minute: i64) -> Result<(), TimeError> {
    if !(0..=23).contains(&hour) {
        return Err(TimeError::InvalidDate("hour must be in 0..23"));
    }
    if !(0..=59).contains(&minute) {
        return Err(TimeError::InvalidDate("minute must be in 0..59"));
    }
    Ok(())
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn check_range(epoch: i64) -> Result<i64, TimeError> {
    if (MIN_EPOCH..=MAX_EPOCH).contains(&epoch) {
        Ok(epoch)
    } else {
        Err(TimeError::OutOfRange)
    }
}

/// Python `int(s)` for the ASCII digit strings attime feeds it.
fn py_int(s: &str) -> Result<i64, TimeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeError::InvalidNumber(s.to_owned()));
    }
    s.parse().map_err(|_| TimeError::OutOfRange)
}

/// graphite's `parseATTime(s, tz, now)`: the instant (epoch seconds) `s` names.
pub fn parse_at_time(s: &str, now: i64, tz: &TimeZone) -> Result<i64, TimeError> {
    let s: String = s
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '_' | ',' | ' '))
        .collect();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let looks_like_date = s.len() == 8
            && s[..4].parse::<u32>().is_ok_and(|y| y > 1900)
            && s[4..6].parse::<u32>().is_ok_and(|m| m < 13)
            && s[6..].parse::<u32>().is_ok_and(|d| d < 32);
        if !looks_like_date {
            return check_range(py_int(&s)?);
        }
    }
    let (reference, offset) = match s.find('+').or_else(|| s.find('-')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_str(), ""),
    };
    let reference = parse_time_reference(reference, now, tz)?;
    let offset = parse_time_offset(offset)?;
    check_range(reference.checked_add(offset).ok_or(TimeError::OutOfRange)?)
}

/// graphite's `parseTimeReference(ref, tz, now)` for an already lower-cased reference.
pub fn parse_time_reference(reference: &str, now: i64, tz: &TimeZone) -> Result<i64, TimeError> {
    if reference.is_empty() || reference == "now" {
        return Ok(now);
    }
    let raw = reference;
    let mut r: &str = reference;
    let (mut hour, mut minute) = (0i64, 0i64);

    // HH:MM[am|pm]
    if let Some(i) = r.find(':').filter(|&i| i > 0 && i < 3) {
        hour = py_int(&r[..i])?;
        let minute_end = char_boundary_after(r, i + 1, 2);
        minute = py_int(&r[i + 1..minute_end])?;
        r = &r[minute_end..];
        if let Some(rest) = r.strip_prefix("am") {
            r = rest;
        } else if let Some(rest) = r.strip_prefix("pm") {
            hour = (hour + 12) % 24;
            r = rest;
        }
    }
    // Xam, XXam
    if let Some(i) = r.find("am").filter(|&i| i > 0 && i < 3) {
        hour = py_int(&r[..i])?;
        r = &r[i + 2..];
    }
    // Xpm, XXpm
    if let Some(i) = r.find("pm").filter(|&i| i > 0 && i < 3) {
        hour = (py_int(&r[..i])? + 12) % 24;
        r = &r[i + 2..];
    }
    if let Some(rest) = r.strip_prefix("noon") {
        (hour, minute, r) = (12, 0, rest);
    } else if let Some(rest) = r.strip_prefix("midnight") {
        (hour, minute, r) = (0, 0, rest);
    } else if let Some(rest) = r.strip_prefix("teatime") {
        (hour, minute, r) = (16, 0, rest);
    }

    check_time(hour, minute)?;
    let today = tz.to_local(now);
    let mut date = Civil {
        hour: hour as u32,
        minute: minute as u32,
        second: 0,
        ..today
    };
    let prefix3: &str = r.get(..3).unwrap_or("");

    if r == "yesterday" {
        date = date.add_days(-1);
    } else if r == "today" {
    } else if r == "tomorrow" {
        date = date.add_days(1);
    } else if r.matches('/').count() == 2 {
        let mut parts = r.split('/');
        let mut next = || py_int(parts.next().unwrap_or(""));
        let (m, d, mut y) = (next()?, next()?, next()?);
        if y < 1900 {
            y += 1900;
        }
        if y < 1970 {
            y += 100;
        }
        date = Civil::new(y, m, d, hour, minute)?;
    } else if r.len() == 8 && r.bytes().all(|b| b.is_ascii_digit()) {
        date = Civil::new(
            py_int(&r[..4])?,
            py_int(&r[4..6])?,
            py_int(&r[6..])?,
            hour,
            minute,
        )?;
    } else if let Some(month) = MONTHS.iter().position(|m| *m == prefix3) {
        let last = |n: usize| r.get(r.len().saturating_sub(n)..).filter(|t| t.len() == n);
        let all_digits = |t: &&str| t.bytes().all(|b| b.is_ascii_digit());
        let day = if let Some(t) = last(2).filter(all_digits) {
            py_int(t)?
        } else if let Some(t) = last(1).filter(all_digits) {
            py_int(t)?
        } else {
            return Err(TimeError::DayOfMonthRequired);
        };
        date = Civil::new(date.year, month as i64 + 1, day, hour, minute)?;
    } else if let Some(wanted) = WEEKDAYS.iter().position(|d| *d == prefix3) {
        let today = date.weekday() as i64;
        let mut back = today - wanted as i64;
        if back < 0 {
            back += 7;
        }
        date = date.add_days(-back);
    } else if !r.is_empty() {
        return Err(TimeError::UnknownDayReference(raw.to_owned()));
    }
    if !(1..=9999).contains(&date.year) {
        return Err(TimeError::OutOfRange);
    }
    Ok(tz.localize(date))
}

/// The byte index `count` characters after `from` (clamped to the end), like a Python
/// slice `s[from:from+count]`.
fn char_boundary_after(s: &str, from: usize, count: usize) -> usize {
    let Some(rest) = s.get(from..) else {
        return s.len();
    };
    rest.char_indices()
        .nth(count)
        .map_or(s.len(), |(i, _)| from + i)
}

/// graphite's `parseTimeOffset`: `[+|-]` then one or more `<digits><unit>`, one sign for
/// all (`-1h30min`), in seconds. Case-sensitive (attime lower-cases before calling it;
/// functions pass their argument as written, so `'5MIN'` is an error as in graphite).
pub fn parse_time_offset(offset: &str) -> Result<i64, TimeError> {
    let Some(first) = offset.chars().next() else {
        return Ok(0);
    };
    let (sign, mut rest) = if first.is_ascii_digit() {
        (1, offset)
    } else {
        match first {
            '+' => (1, &offset[1..]),
            '-' => (-1, &offset[1..]),
            _ => return Err(TimeError::InvalidOffset(offset.to_owned())),
        }
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let num = py_int(&rest[..digits_end])?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let seconds_per_unit = unit_seconds(unit)?;
        let delta = num
            .checked_mul(seconds_per_unit)
            .and_then(|d| d.checked_mul(sign))
            .ok_or(TimeError::OutOfRange)?;
        total = total.checked_add(delta).ok_or(TimeError::OutOfRange)?;
    }
    Ok(total)
}

/// graphite's `getUnitString` by prefix, as seconds (months are 30 days, years 365).
fn unit_seconds(unit: &str) -> Result<i64, TimeError> {
    Ok(if unit.starts_with('s') {
        1
    } else if unit.starts_with("min") {
        60
    } else if unit.starts_with('h') {
        3600
    } else if unit.starts_with('d') {
        86_400
    } else if unit.starts_with('w') {
        7 * 86_400
    } else if unit.starts_with("mon") {
        30 * 86_400
    } else if unit.starts_with('y') {
        365 * 86_400
    } else {
        return Err(TimeError::InvalidOffsetUnit(unit.to_owned()));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-15 12:34:56 UTC, a Friday (reference §3.4).
    const NOW: i64 = 1_710_506_096;

    fn at(s: &str) -> Result<i64, TimeError> {
        parse_at_time(s, NOW, &TimeZone::utc())
    }

    fn civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
        }
        .to_epoch()
    }

    #[test]
    fn reference_examples() {
        assert_eq!(at("-1h"), Ok(civil(2024, 3, 15, 11, 34, 56)));
        assert_eq!(at("-1mon"), Ok(civil(2024, 2, 14, 12, 34, 56)));
        assert_eq!(at("12pm"), Ok(civil(2024, 3, 15, 0, 0, 0)));
        assert_eq!(at("-1m"), Err(TimeError::InvalidOffsetUnit("m".into())));
        assert!(matches!(
            at("-1d+2h"),
            Err(TimeError::UnknownDayReference(_))
        ));
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468i64, -1, 0, 1, 59, 365, 11_016, 2_932_896] {
            let c = Civil::from_epoch(days * 86_400 + 3_723);
            assert_eq!(c.to_epoch(), days * 86_400 + 3_723);
        }
        assert_eq!(Civil::from_epoch(NOW).weekday(), 5);
    }
}
