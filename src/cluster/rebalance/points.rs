//! What rebalance sends of a whisper file, and how the owner's answer is checked: pure (no
//! I/O, `now` passed in).
//!
//! **Spans.** [`spans`] walks a file's archives from the finest (as whisper-fill does):
//! archive `i` contributes only the intervals `t` with `now - retention(i) < t ≤
//! now - retention(i-1)` (`≤ now` for the finest), the time no finer archive covers. So a
//! coarse point never stands in for fine ones: on the owner, whisper's `update_many` puts a
//! point in the first archive whose retention exceeds its age, which for a point of span
//! `i` is archive `i`, and the owner's own roll-up recomputes the coarser archives from
//! the fine points it was sent.
//!
//! **Selection.** [`select`] takes from an archive's slots the points of its span: a slot
//! counts only when it holds the interval its position says (the reader's rule, so stale
//! slots of an earlier lap are never sent), and only its non-`None` points exist at all
//! (whisper-merge semantics: a gap here is not sent, so it cannot blank a point the owner
//! has). NaN values are counted and not sent (carbon drops NaN lines).
//!
//! **Checks.** [`plan_checks`] says, at the time of a check, in which of the owner's
//! archives each sent point should be looked for: its own archive while it is at least two
//! steps inside that archive's retention, else the next coarser one (time passed since
//! the read). A point of the finest archive checked there must come back with its exact
//! value; elsewhere a value must be present in the owner's interval that holds it (a
//! coarser interval at a span's edge is recomputed by the owner's roll-up). A point past
//! the coarsest retention has expired and is not checked. [`check`] compares one series'
//! answer.
//!
//! **Lines.** [`write_line`] formats `name value timestamp\n` with the shortest text that
//! parses back to the same `f64` (Rust's `{:?}`: `0.1`, `1e300`, `-0.0`, `inf`), which
//! Python's `float()` and lonsdaleite's carbon parser read back exactly.

use std::io::{self, Write};

use crate::storage::whisper::{decode_point, ArchiveInfo, Header, POINT_SIZE};

/// The part of an archive a rebalance sends: intervals `t` with `after < t ≤ until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Index of the archive in the header.
    pub archive: usize,
    /// Seconds per point.
    pub step: i64,
    /// Exclusive lower bound (`now - retention`).
    pub after: i64,
    /// Inclusive upper bound (`now` for the finest, else where the finer archive ends).
    pub until: i64,
}

/// One point to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub value: f64,
    /// The archive it was read from.
    pub archive: usize,
}

/// The archives' spans at `now`, finest first. Archives are taken in order of retention
/// (a valid file lists them so); an archive with no seconds per point or no points (a
/// damaged header) has no span.
pub fn spans(header: &Header, now: i64) -> Vec<Span> {
    let mut order: Vec<usize> = (0..header.archives.len()).collect();
    order.sort_by_key(|&i| header.archives[i].retention());
    let mut out = Vec::with_capacity(order.len());
    let mut until = now;
    for i in order {
        let a = &header.archives[i];
        let Ok(step) = a.step() else { continue };
        let after = now.saturating_sub(a.retention());
        if after < until {
            out.push(Span {
                archive: i,
                step,
                after,
                until,
            });
        }
        until = until.min(after);
    }
    out
}

/// What [`select`] left out, besides `None` slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// NaN values (carbon drops them; no reader shows them).
    pub nan: usize,
}

/// Appends to `out` the points of `span` held by `data`, the whole data region of
/// `archive` (`archive.points` slots of 12 bytes; a shorter region is read as far as it
/// goes). Points come out in slot order; see the module doc for which slots count.
pub fn select(
    archive: &ArchiveInfo,
    data: &[u8],
    span: &Span,
    out: &mut Vec<Point>,
    skipped: &mut Skipped,
) {
    let slot = POINT_SIZE as usize;
    if data.len() < slot || archive.points == 0 {
        return;
    }
    let step = span.step;
    let slots = i64::from(archive.points);
    let base = decode_point(&data[..slot]).0;
    if base == 0 {
        return; // never written
    }
    for (j, chunk) in data
        .chunks_exact(slot)
        .take(archive.points as usize)
        .enumerate()
    {
        let (ts, value) = decode_point(chunk);
        if ts == 0 || ts.rem_euclid(step) != 0 || ts <= span.after || ts > span.until {
            continue;
        }
        if (ts - base).div_euclid(step).rem_euclid(slots) != j as i64 {
            continue; // not where this interval lives: a stale or misplaced slot
        }
        if value.is_nan() {
            skipped.nan += 1;
            continue;
        }
        out.push(Point {
            ts,
            value,
            archive: span.archive,
        });
    }
}

/// Puts `values` (a read of `span`'s archive through a render API: the file merged with a
/// running server's cache, interval `start + k·step` at `k`) over `points`: a value there
/// replaces the point of the same interval or adds one. Nothing happens unless `step` is
/// the span's (the read must come from the same archive); intervals outside the span are
/// left alone, as are `None`s.
pub fn overlay(
    points: &mut Vec<Point>,
    span: &Span,
    start: i64,
    step: i64,
    values: &[Option<f64>],
) {
    if step != span.step {
        return;
    }
    for (k, v) in values.iter().enumerate() {
        let Some(v) = *v else { continue };
        let ts = start + k as i64 * step;
        if ts <= span.after || ts > span.until || ts.rem_euclid(step) != 0 || v.is_nan() {
            continue;
        }
        match points
            .iter_mut()
            .find(|p| p.archive == span.archive && p.ts == ts)
        {
            Some(p) => p.value = v,
            None => points.push(Point {
                ts,
                value: v,
                archive: span.archive,
            }),
        }
    }
}

/// One sent point to look for on the owner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Check {
    pub ts: i64,
    pub value: f64,
    /// The value must come back as sent (else: any value in the interval holding `ts`).
    pub exact: bool,
    /// The step of the archive it was read from (an exact check also needs this step back).
    pub step: i64,
}

/// Checks grouped by the archive to ask the owner for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// `(archive, checks)`, finest archive first; archives with no check left out.
    pub groups: Vec<(usize, Vec<Check>)>,
    /// Points past the coarsest retention by now (not checked: the owner drops them too).
    pub expired: usize,
}

/// Where each of `points` is looked for at `now` (see the module doc).
pub fn plan_checks(header: &Header, points: &[Point], now: i64) -> Plan {
    let spans = spans(header, now);
    let finest = spans.first().map(|s| s.archive);
    // `lo[k]`: a point newer than this is in the owner's archive of `spans[k]` with two
    // steps to spare.
    let lo: Vec<i64> = spans.iter().map(|s| s.after + 2 * s.step).collect();
    let mut plan = Plan::default();
    let mut groups: Vec<Vec<Check>> = vec![Vec::new(); spans.len()];
    for p in points {
        let Some(own) = spans.iter().position(|s| s.archive == p.archive) else {
            plan.expired += 1;
            continue;
        };
        match (own..spans.len()).find(|&k| p.ts > lo[k]) {
            Some(k) => groups[k].push(Check {
                ts: p.ts,
                value: p.value,
                exact: k == own && Some(p.archive) == finest,
                step: spans[own].step,
            }),
            None => plan.expired += 1,
        }
    }
    plan.groups = spans
        .iter()
        .zip(groups)
        .filter(|(_, g)| !g.is_empty())
        .map(|(s, g)| (s.archive, g))
        .collect();
    plan
}

/// The `from` and `until` of a render request that returns every check's interval:
/// `from` one second before the earliest (a render starts one step after `from`'s
/// interval), `until` the latest.
pub fn window(checks: &[Check]) -> Option<(i64, i64)> {
    let min = checks.iter().map(|c| c.ts).min()?;
    let max = checks.iter().map(|c| c.ts).max()?;
    Some((min - 1, max))
}

/// The checks of `checks` that one series' answer (`start`, `step`, `values`) fails.
pub fn check(checks: &[Check], start: i64, step: i64, values: &[Option<f64>]) -> usize {
    if step <= 0 {
        return checks.len();
    }
    checks
        .iter()
        .filter(|c| {
            let interval = c.ts - c.ts.rem_euclid(step);
            let k = (interval - start).div_euclid(step);
            let got = usize::try_from(k)
                .ok()
                .and_then(|k| values.get(k).copied().flatten());
            match got {
                None => true,
                Some(v) if c.exact => {
                    step != c.step || c.ts != interval || v.to_bits() != c.value.to_bits()
                }
                Some(_) => false,
            }
        })
        .count()
}

/// Writes one carbon plaintext line for a point.
pub fn write_line(out: &mut impl Write, name: &str, p: &Point) -> io::Result<()> {
    writeln!(out, "{name} {:?} {}", p.value, p.ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::whisper::{create_image, update_many, AggregationMethod, ReadAt};

    /// `10s:1h,1m:1d`.
    fn header() -> Header {
        Header {
            aggregation_method: AggregationMethod::Average,
            max_retention: 86_400,
            x_files_factor: 0.5,
            archives: vec![
                ArchiveInfo {
                    offset: 40,
                    seconds_per_point: 10,
                    points: 360,
                },
                ArchiveInfo {
                    offset: 40 + 360 * 12,
                    seconds_per_point: 60,
                    points: 1440,
                },
            ],
        }
    }

    #[test]
    fn spans_cover_each_time_once_from_the_finest() {
        let now = 1_000_000;
        let s = spans(&header(), now);
        assert_eq!(
            s,
            [
                Span {
                    archive: 0,
                    step: 10,
                    after: now - 3600,
                    until: now
                },
                Span {
                    archive: 1,
                    step: 60,
                    after: now - 86_400,
                    until: now - 3600
                },
            ]
        );
        // Listed out of order (a damaged header), the walk still goes by retention.
        let mut h = header();
        h.archives.reverse();
        let s = spans(&h, now);
        assert_eq!((s[0].archive, s[1].archive), (1, 0));
        // A broken archive has no span, and the next one covers its time.
        let mut h = header();
        h.archives[0].seconds_per_point = 0;
        let s = spans(&h, now);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].archive, s[0].until), (1, now));
    }

    fn image_with(points: &[(i64, f64)], now: i64) -> Vec<u8> {
        let mut img =
            create_image(&[(10, 360), (60, 1440)], 0.0, AggregationMethod::Average).unwrap();
        update_many(&mut img, points, now).unwrap();
        img
    }

    fn read_all(img: &mut Vec<u8>, now: i64) -> (Vec<Point>, Skipped) {
        let h = crate::storage::whisper::read_header(img).unwrap();
        let mut out = Vec::new();
        let mut skipped = Skipped::default();
        for s in spans(&h, now) {
            let a = h.archives[s.archive];
            let mut data = vec![0; a.size() as usize];
            img.read_at(u64::from(a.offset), &mut data).unwrap();
            select(&a, &data, &s, &mut out, &mut skipped);
        }
        out.sort_by_key(|p| p.ts);
        (out, skipped)
    }

    #[test]
    fn selection_takes_each_archive_outside_the_finer_ones_range() {
        let now = 1_000_000 - 1_000_000 % 60;
        // Fine points in the last hour (with a gap and a NaN), coarse ones before.
        let mut pts = vec![
            (now - 50, 1.5),
            (now - 40, 2.5),
            (now - 20, f64::NAN),
            (now - 3590, 0.1),
        ];
        pts.extend([
            (now - 3660, 7.0),
            (now - 7200, -3.25),
            (now - 86_340, 1e300),
        ]);
        let mut img = image_with(&pts, now);
        let (got, skipped) = read_all(&mut img, now);
        assert_eq!(skipped.nan, 1);
        let fine: Vec<(i64, f64)> = got
            .iter()
            .filter(|p| p.archive == 0)
            .map(|p| (p.ts, p.value))
            .collect();
        assert_eq!(fine, [(now - 3590, 0.1), (now - 50, 1.5), (now - 40, 2.5)]);
        let coarse: Vec<(i64, f64)> = got
            .iter()
            .filter(|p| p.archive == 1)
            .map(|p| (p.ts, p.value))
            .collect();
        // The roll-ups of the fine points (inside the hour) are not sent; the coarse
        // points older than the hour are, with the one at the hour's edge (interval
        // now-3600 holds now-3590's roll-up and is not later than now-3600).
        assert_eq!(
            coarse,
            [
                (now - 86_340, 1e300),
                (now - 7200, -3.25),
                (now - 3660, 7.0),
                (now - 3600, 0.1)
            ]
        );
    }

    #[test]
    fn stale_slots_of_an_earlier_lap_are_not_sent() {
        let now = 2_000_000 - 2_000_000 % 60;
        let a = ArchiveInfo {
            offset: 0,
            seconds_per_point: 10,
            points: 4,
        };
        let span = Span {
            archive: 0,
            step: 10,
            after: now - 40,
            until: now,
        };
        let mut data = Vec::new();
        // Base at now-30; slot 1 holds now-20 (right), slot 2 an interval of an earlier
        // lap (stale, outside the span), slot 3 an in-span interval at the wrong slot.
        for (ts, v) in [
            (now - 30, 1.0),
            (now - 20, 2.0),
            (now - 70, 3.0),
            (now - 20, 4.0),
        ] {
            data.extend_from_slice(&crate::storage::whisper::encode_point(ts, v).unwrap());
        }
        let mut out = Vec::new();
        select(&a, &data, &span, &mut out, &mut Skipped::default());
        let got: Vec<(i64, f64)> = out.iter().map(|p| (p.ts, p.value)).collect();
        assert_eq!(got, [(now - 30, 1.0), (now - 20, 2.0)]);
        // A never-written archive (base 0) gives nothing.
        let mut out = Vec::new();
        select(&a, &[0; 48], &span, &mut out, &mut Skipped::default());
        assert!(out.is_empty());
    }

    #[test]
    fn overlay_adds_cached_points_of_the_same_archive_only() {
        let now = 1_000_000 - 1_000_000 % 60;
        let span = spans(&header(), now)[0];
        let mut pts = vec![Point {
            ts: now - 50,
            value: 1.0,
            archive: 0,
        }];
        overlay(
            &mut pts,
            &span,
            now - 60,
            10,
            &[
                None,
                Some(9.0),
                Some(2.0),
                None,
                None,
                Some(f64::NAN),
                Some(3.0),
            ],
        );
        let got: Vec<(i64, f64)> = pts.iter().map(|p| (p.ts, p.value)).collect();
        // now-60 + 6·10 = now is inside the span (≤ now); NaN is not taken.
        assert_eq!(got, [(now - 50, 9.0), (now - 40, 2.0), (now, 3.0)]);
        overlay(&mut pts, &span, now - 60, 60, &[Some(5.0)]);
        assert_eq!(pts.len(), 3, "a coarser read is not laid over fine points");
    }

    #[test]
    fn checks_follow_points_into_coarser_archives_as_time_passes() {
        let h = header();
        let read_at = 1_000_000 - 1_000_000 % 60;
        let pts = [
            Point {
                ts: read_at - 3590,
                value: 1.0,
                archive: 0,
            },
            Point {
                ts: read_at - 100,
                value: 2.0,
                archive: 0,
            },
            Point {
                ts: read_at - 7200,
                value: 3.0,
                archive: 1,
            },
            Point {
                ts: read_at - 86_390,
                value: 4.0,
                archive: 1,
            },
        ];
        let p = plan_checks(&h, &pts, read_at);
        assert_eq!(p.expired, 1, "{p:?}"); // 86 390 s old: within one step of the end
        assert_eq!(p.groups.len(), 2);
        assert_eq!(p.groups[0].0, 0);
        // read_at-3590 is one step inside the hour: looked for in the 1m archive.
        assert_eq!(
            p.groups[0].1,
            [Check {
                ts: read_at - 100,
                value: 2.0,
                exact: true,
                step: 10
            }]
        );
        let coarse: Vec<(i64, bool)> = p.groups[1].1.iter().map(|c| (c.ts, c.exact)).collect();
        assert_eq!(coarse, [(read_at - 3590, false), (read_at - 7200, false)]);
        // Much later everything has moved down or expired.
        let p = plan_checks(&h, &pts, read_at + 86_400);
        assert!(p.groups.is_empty());
        assert_eq!(p.expired, 4);
    }

    #[test]
    fn answers_are_checked_exactly_in_the_finest_archive() {
        let c = |ts, value, exact, step| Check {
            ts,
            value,
            exact,
            step,
        };
        let checks = [c(1010, 0.1, true, 10), c(1030, 2.0, true, 10)];
        assert_eq!(window(&checks), Some((1009, 1030)));
        let start = 1010;
        assert_eq!(check(&checks, start, 10, &[Some(0.1), None, Some(2.0)]), 0);
        assert_eq!(check(&checks, start, 10, &[Some(0.1), None, None]), 1);
        assert_eq!(
            check(
                &checks,
                start,
                10,
                &[Some(0.1 + 1e-17 * 2.0), None, Some(2.0)]
            ),
            1
        );
        // The same values at another step are not the points sent.
        assert_eq!(check(&checks, 960, 60, &[Some(0.1)]), 2);
        // A presence check only needs a value in the interval holding the point.
        let loose = [c(1010, 0.1, false, 10), c(1130, 5.0, false, 60)];
        assert_eq!(check(&loose, 960, 60, &[Some(7.0), None, Some(1.0)]), 0);
        assert_eq!(check(&loose, 960, 60, &[Some(7.0)]), 1);
        assert_eq!(
            check(&loose, 1200, 60, &[Some(7.0)]),
            2,
            "before the answer"
        );
        assert_eq!(window(&[]), None);
    }

    #[test]
    fn lines_round_trip_every_value() {
        for v in [
            0.1,
            -0.0,
            1e300,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123_456_789.123_456_79,
            1.0 / 3.0,
        ] {
            let mut out = Vec::new();
            write_line(
                &mut out,
                "a.b",
                &Point {
                    ts: 1_700_000_000,
                    value: v,
                    archive: 0,
                },
            )
            .unwrap();
            let line = std::str::from_utf8(&out).unwrap();
            assert!(line.ends_with(" 1700000000\n"), "{line}");
            let p = crate::protocol::carbon::parse_line(line.trim_end().as_bytes(), 0).unwrap();
            assert_eq!(p.value.to_bits(), v.to_bits(), "{line}");
            assert_eq!(p.timestamp, 1_700_000_000);
        }
    }
}
