//! Reading a time range: archive selection, the returned window, `None` for missing slots.
//!
//! Contract (whisper 1.1.10 `file_fetch` / `__archive_fetch`): `from > until` is an
//! error; a range wholly in the future or wholly older than `now - maxRetention` is
//! `Ok(None)`; otherwise the range is clamped to `[now - maxRetention, now]`, one archive
//! is chosen (the first whose retention covers `now - from`, or the one with the requested
//! precision), and the window is `[align(from)+step, align(until)+step)` (one step longer
//! when those are equal). A slot whose stored timestamp is not the expected interval is
//! `None`; an archive never written returns all `None`.

use super::header::{decode_point, read_base, ArchiveInfo, Header, POINT_SIZE};
use super::update::read_range;
use super::{parse_retention, read_header, ReadAt, Result, WhisperError};

/// Largest all-`None` window returned from a never-written archive. Whisper has no limit
/// (it builds `[None] * n`); a valid file needs at most a few times its point count, so
/// only a corrupt header reaches this, and it gets an error instead of an allocation of
/// gigabytes.
pub const MAX_EMPTY_WINDOW: i64 = 1 << 25;

/// A fetched window: values for `from, from+step, …` up to (excluding) `until`.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchResult {
    /// First interval of the window.
    pub from: i64,
    /// End of the window (exclusive).
    pub until: i64,
    /// Seconds per value.
    pub step: i64,
    /// One entry per slot read; `None` where the slot does not hold that interval.
    pub values: Vec<Option<f64>>,
}

/// Picks the archive index for a fetch starting at `from` (already clamped).
/// `archive_to_select` is a precision such as `60`, `1m` or `1h` (whisper's dialect).
pub fn select_archive(
    header: &Header,
    from: i64,
    now: i64,
    archive_to_select: Option<&str>,
) -> Result<usize> {
    let wanted = match archive_to_select.filter(|s| !s.is_empty()) {
        Some(s) => {
            let spp = parse_retention(&format!("{s}:1"))?.0;
            // whisper tests the parsed number's truthiness: a precision of 0 means "none".
            (spp != 0).then_some(spp)
        }
        None => None,
    };
    let diff = now - from;
    if let Some(spp) = wanted {
        return header
            .archives
            .iter()
            .position(|a| a.seconds_per_point == spp)
            .ok_or_else(|| WhisperError::InvalidGranularity(spp.to_string()));
    }
    match header.archives.iter().position(|a| a.retention() >= diff) {
        Some(i) => Ok(i),
        // whisper falls through its loop and uses the last archive
        None if !header.archives.is_empty() => Ok(header.archives.len() - 1),
        None => Err(WhisperError::Corrupt("file has no archives".to_owned())),
    }
}

/// Whisper's `fetch(path, from, until, now, archiveToSelect)` with a known header.
pub fn fetch_with_header<S: ReadAt + ?Sized>(
    store: &mut S,
    header: &Header,
    from: i64,
    until: Option<i64>,
    now: i64,
    archive_to_select: Option<&str>,
) -> Result<Option<FetchResult>> {
    let mut from = from;
    let mut until = until.unwrap_or(now);
    if from > until {
        return Err(WhisperError::InvalidTimeInterval { from, until });
    }
    let oldest = now - i64::from(header.max_retention);
    if from > now || until < oldest {
        return Ok(None);
    }
    from = from.max(oldest);
    until = until.min(now);
    let idx = select_archive(header, from, now, archive_to_select)?;
    archive_fetch(store, &header.archives[idx], from, until).map(Some)
}

/// Whisper's `fetch` reading the header first.
pub fn fetch<S: ReadAt + ?Sized>(
    store: &mut S,
    from: i64,
    until: Option<i64>,
    now: i64,
    archive_to_select: Option<&str>,
) -> Result<Option<FetchResult>> {
    let header = read_header(store)?;
    fetch_with_header(store, &header, from, until, now, archive_to_select)
}

/// Whisper's `__archive_fetch`: one archive, no clamping (merge uses it directly).
pub fn archive_fetch<S: ReadAt + ?Sized>(
    store: &mut S,
    archive: &ArchiveInfo,
    from: i64,
    until: i64,
) -> Result<FetchResult> {
    let step = archive.step()?;
    let from_interval = from - from.rem_euclid(step) + step;
    let mut until_interval = until - until.rem_euclid(step) + step;
    if from_interval == until_interval {
        until_interval += step;
    }
    let base = read_base(store, archive)?;
    let values = if base == 0 {
        let n = (until_interval - from_interval).div_euclid(step).max(0);
        if n > MAX_EMPTY_WINDOW {
            return Err(WhisperError::Corrupt(format!(
                "a window of {n} points from an empty archive (corrupt header?)"
            )));
        }
        vec![None; usize::try_from(n).unwrap_or(0)]
    } else {
        let from_offset = archive.slot_offset(base, from_interval)?;
        let until_offset = archive.slot_offset(base, until_interval)?;
        let bytes = read_range(store, from_offset, until_offset, archive)?;
        let mut expected = from_interval;
        bytes
            .chunks_exact(POINT_SIZE as usize)
            .map(|chunk| {
                let (ts, value) = decode_point(chunk);
                let v = (ts == expected).then_some(value);
                expected += step;
                v
            })
            .collect()
    };
    Ok(FetchResult {
        from: from_interval,
        until: until_interval,
        step,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{create_image, update_many, AggregationMethod};
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn empty_file_returns_nones_for_the_window() {
        let mut f = create_image(&[(60, 10)], 0.5, AggregationMethod::Average).unwrap();
        let r = fetch(&mut f, NOW - 300, None, NOW, None).unwrap().unwrap();
        assert_eq!(
            (r.from, r.until, r.step),
            (NOW - 300 - 20 + 60, NOW - 20 + 60, 60)
        );
        assert_eq!(r.values, vec![None; 5]);
    }

    #[test]
    fn errors_and_out_of_range() {
        let mut f = create_image(&[(60, 10)], 0.5, AggregationMethod::Average).unwrap();
        assert!(matches!(
            fetch(&mut f, 10, Some(5), NOW, None),
            Err(WhisperError::InvalidTimeInterval { .. })
        ));
        assert!(fetch(&mut f, NOW + 1, Some(NOW + 5), NOW, None)
            .unwrap()
            .is_none());
        assert!(fetch(&mut f, 0, Some(NOW - 601), NOW, None)
            .unwrap()
            .is_none());
        assert!(matches!(
            fetch(&mut f, NOW - 60, None, NOW, Some("5m")),
            Err(WhisperError::InvalidGranularity(_))
        ));
        assert!(fetch(&mut f, NOW - 60, None, NOW, Some("1m"))
            .unwrap()
            .is_some());
    }

    #[test]
    fn stale_slots_read_as_none_and_window_wraps() {
        let mut f = create_image(&[(10, 6)], 0.5, AggregationMethod::Average).unwrap();
        let pts: Vec<(i64, f64)> = (0..6)
            .map(|i| (NOW - 10 * i, f64::from(i as i32)))
            .collect();
        update_many(&mut f, &pts, NOW).unwrap();
        // the whole archive: equal from/until offsets read the ring once, rotated
        let r = fetch(&mut f, NOW - 60, None, NOW, None).unwrap().unwrap();
        assert_eq!(
            r.values,
            (0..6).rev().map(|i| Some(f64::from(i))).collect::<Vec<_>>()
        );
        // a point written one ring later makes the old slot stale
        update_many(&mut f, &[(NOW + 10, 9.0)], NOW + 10).unwrap();
        let r = fetch(&mut f, NOW - 50, None, NOW + 10, None)
            .unwrap()
            .unwrap();
        assert_eq!(r.from, NOW - 40);
        assert_eq!(
            r.values,
            vec![
                Some(4.0),
                Some(3.0),
                Some(2.0),
                Some(1.0),
                Some(0.0),
                Some(9.0)
            ]
        );
        let archive = read_header(&mut f).unwrap().archives[0];
        let r = archive_fetch(&mut f, &archive, NOW - 60, NOW - 60).unwrap();
        assert_eq!((r.from, r.values), (NOW - 50, vec![None]));
    }
}
