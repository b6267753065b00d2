//! Retention definitions: `precision:duration` pairs such as `10s:6h`, `1m:7d`, `60:1440`.
//!
//! Two dialects, as in the reference code:
//! - [`parse_retention`] is whisper's (`whisper-create`, `whisper-resize`, `fetch`'s
//!   archive selection): a unit is any prefix of `seconds|minutes|hours|days|weeks|years`
//!   (`m`, `min`, `minutes` all mean minutes), the split is at the first `:` only, and
//!   `points = n·unit // precision`.
//! - [`parse_carbon_retention`] is carbon's (`storage-schemas.conf`): a unit is exactly one
//!   of `s m h d w y`, exactly one `:` is allowed, `points = int(n·unit / precision)`.
//!
//! In both, a side made only of digits is a plain number: seconds for the precision, a
//! point count for the duration. A year is 365 days; there is no month.

use super::{Result, WhisperError};

const UNITS: [(&str, u64); 6] = [
    ("seconds", 1),
    ("minutes", 60),
    ("hours", 3600),
    ("days", 86_400),
    ("weeks", 604_800),
    ("years", 31_536_000),
];

fn bad(msg: String) -> WhisperError {
    WhisperError::InvalidRetention(msg)
}

/// Splits `^(\d+)([a-z]+)$` into the number and the unit text.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = s.split_at(digits);
    if digits == 0 || unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    Some((n.parse().ok()?, unit))
}

fn all_digits(s: &str) -> Option<u64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn whisper_unit(s: &str) -> Result<u64> {
    UNITS
        .iter()
        .find(|(name, _)| name.starts_with(s))
        .map(|&(_, secs)| secs)
        .ok_or_else(|| bad(format!("Invalid unit '{s}'")))
}

fn carbon_unit(s: &str) -> Result<u64> {
    match s {
        "s" => Ok(1),
        "m" => Ok(60),
        "h" => Ok(3600),
        "d" => Ok(86_400),
        "w" => Ok(604_800),
        "y" => Ok(31_536_000),
        _ => Err(bad(format!("Invalid unit '{s}'"))),
    }
}

fn to_u32(n: u64, def: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| bad(format!("Retention definition '{def}' is out of range")))
}

fn parse_with(
    def: &str,
    precision: &str,
    points: &str,
    unit: fn(&str) -> Result<u64>,
    carbon: bool,
) -> Result<(u32, u32)> {
    let precision = match all_digits(precision) {
        Some(n) => n,
        None => match number_and_unit(precision) {
            Some((n, u)) => n
                .checked_mul(unit(u)?)
                .ok_or_else(|| bad(format!("Invalid precision specification '{precision}'")))?,
            None => {
                return Err(bad(format!(
                    "Invalid precision specification '{precision}'"
                )))
            }
        },
    };
    let points = match all_digits(points) {
        Some(n) => n,
        None => match number_and_unit(points) {
            Some((n, u)) => {
                if precision == 0 {
                    return Err(bad(format!(
                        "Retention definition '{def}' has a zero precision"
                    )));
                }
                let secs = n
                    .checked_mul(unit(u)?)
                    .ok_or_else(|| bad(format!("Invalid retention specification '{points}'")))?;
                if carbon {
                    // Python true division, then int() truncation.
                    (secs as f64 / precision as f64) as u64
                } else {
                    secs / precision
                }
            }
            None => return Err(bad(format!("Invalid retention specification '{points}'"))),
        },
    };
    Ok((to_u32(precision, def)?, to_u32(points, def)?))
}

/// Whisper's `parseRetentionDef`: one `precision:duration` pair → (seconds per point, points).
pub fn parse_retention(def: &str) -> Result<(u32, u32)> {
    let trimmed = def.trim();
    let Some((precision, points)) = trimmed.split_once(':') else {
        return Err(bad(format!("Invalid retention definition '{def}'")));
    };
    parse_with(def, precision, points, whisper_unit, false)
}

/// Carbon's `parseRetentionDef` (used for `storage-schemas.conf`).
pub fn parse_carbon_retention(def: &str) -> Result<(u32, u32)> {
    let trimmed = def.trim();
    let mut parts = trimmed.split(':');
    let (Some(precision), Some(points), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(format!("Invalid retention definition '{def}'")));
    };
    parse_with(def, precision, points, carbon_unit, true)
}

/// A comma-separated list in carbon's dialect, e.g. `60s:1d,5m:30d,1h:3y`.
pub fn parse_retentions(list: &str) -> Result<Vec<(u32, u32)>> {
    list.split(',').map(parse_carbon_retention).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §1.9 verified values.
    #[test]
    fn reference_examples() {
        for (def, want) in [
            ("60:1440", (60, 1440)),
            ("1h:7d", (3600, 168)),
            ("15s:7d", (15, 40320)),
            ("1w:2y", (604_800, 104)),
            ("1m:1y", (60, 525_600)),
            ("1y:10y", (31_536_000, 10)),
            ("10s:6h", (10, 2160)),
            (" 10m:5y ", (600, 262_800)),
        ] {
            assert_eq!(parse_retention(def).unwrap(), want, "{def}");
            assert_eq!(parse_carbon_retention(def).unwrap(), want, "{def}");
        }
    }

    #[test]
    fn dialects_differ_on_units() {
        assert_eq!(parse_retention("1min:2hours").unwrap(), (60, 120));
        assert!(parse_carbon_retention("1min:2h").is_err());
        assert!(parse_retention("1mo:1d").is_err());
        assert!(parse_retention("60:1440:5").is_err());
        assert!(parse_carbon_retention("60:1440:5").is_err());
        assert!(parse_retention("60s").is_err());
        assert!(parse_retention("60S:1d").is_err());
        assert!(parse_retention("0s:1d").is_err());
        assert_eq!(parse_retention("7s:1m").unwrap(), (7, 8));
        assert_eq!(
            parse_retentions("60s:1d,5m:30d,1h:3y").unwrap(),
            vec![(60, 1440), (300, 8640), (3600, 26280)]
        );
    }
}
