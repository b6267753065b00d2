//! Writing points: `update`, `update_many`, propagation, and the pure plan functions
//! they are built from.
//!
//! Contract: for the same file bytes, `now` and points, the executors here issue the
//! same writes as whisper 1.1.10 (see the quirks in the module doc of `whisper`). The
//! plan functions do no I/O, so a writer with its own I/O (io_uring) can follow the same
//! steps: [`split_by_archive`] → per archive [`pack_runs`] → read the base point →
//! [`place_run`] for each run → for each lower archive and touched interval
//! [`neighbour_reads`] → [`propagated_value`] → write it at the lower slot.

use std::ops::Range;

use super::aggregate::Accumulator;
use super::header::{
    decode_point, encode_point, read_base, read_points, ArchiveInfo, Header, POINT_SIZE,
};
use super::{read_header, AggregationMethod, ReadAt, Result, WhisperError, WriteAt};

/// Consecutive slots packed as whisper writes them with one `write()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Interval of the first packed point (computed as whisper does).
    pub start: i64,
    /// Packed points, 12 bytes each.
    pub bytes: Vec<u8>,
}

/// Where a [`Run`] goes: one write, or two when it passes the archive end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPlacement {
    /// Absolute offset and the byte range of the run written there.
    pub first: (u64, Range<usize>),
    /// The rest, written at the archive start.
    pub second: Option<(u64, Range<usize>)>,
}

/// The byte ranges holding the higher-archive neighbours of one lower slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourReads {
    /// Absolute offset and length of the first read.
    pub first: (u64, u64),
    /// Second read at the archive start when the neighbours wrap.
    pub second: Option<(u64, u64)>,
}

/// Bytes of neighbours `propagate` reads onto the stack (64 points).
const STACK: usize = 64 * POINT_SIZE as usize;

fn io(e: std::io::Error) -> WhisperError {
    WhisperError::io(e)
}

/// Groups points by the archive that receives them, exactly as `file_update_many`:
/// newest first, an archive takes points while `now - ts <= retention`, older points
/// move on to the next archive and points older than the last archive are dropped.
/// Returns (archive index, points in chronological order) in the order whisper writes.
pub fn split_by_archive(
    header: &Header,
    points: &[(i64, f64)],
    now: i64,
) -> Vec<(usize, Vec<(i64, f64)>)> {
    let mut sorted = points.to_vec();
    // Stable, newest first: equal timestamps keep the caller's order (like Python's reverse sort).
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0));
    let archives = &header.archives;
    let mut out = Vec::new();
    if archives.is_empty() {
        return out;
    }
    let mut idx = 0;
    let mut current: Vec<(i64, f64)> = Vec::new();
    for point in sorted {
        let age = now - point.0;
        while archives[idx].retention() < age {
            if !current.is_empty() {
                current.reverse();
                out.push((idx, std::mem::take(&mut current)));
            }
            idx += 1;
            if idx == archives.len() {
                return out;
            }
        }
        current.push(point);
    }
    if !current.is_empty() {
        current.reverse();
        out.push((idx, current));
    }
    out
}

/// Aligns chronological points to `archive` and packs them into runs: within equal
/// intervals the last point wins; consecutive intervals share a run; an interval of 0
/// counts as "no previous" (whisper's `not previousInterval`).
pub fn pack_runs(archive: &ArchiveInfo, points: &[(i64, f64)]) -> Result<Vec<Run>> {
    let step = archive.step()?;
    let aligned: Vec<(i64, f64)> = points
        .iter()
        .map(|&(t, v)| Ok((archive.interval(t)?, v)))
        .collect::<Result<_>>()?;
    let mut runs = Vec::new();
    let mut previous: Option<i64> = None;
    let mut current: Vec<u8> = Vec::new();
    let finish = |prev: i64, bytes: Vec<u8>| {
        let n = (bytes.len() as u64 / POINT_SIZE) as i64;
        Run {
            start: prev - step * (n - 1),
            bytes,
        }
    };
    for (i, &(interval, value)) in aligned.iter().enumerate() {
        if aligned.get(i + 1).is_some_and(|next| next.0 == interval) {
            continue;
        }
        let packed = encode_point(interval, value)?;
        match previous {
            Some(prev) if prev != 0 && interval != prev + step => {
                runs.push(finish(prev, std::mem::take(&mut current)));
            }
            _ => {}
        }
        current.extend_from_slice(&packed);
        previous = Some(interval);
    }
    if let (Some(prev), false) = (previous, current.is_empty()) {
        runs.push(finish(prev, current));
    }
    Ok(runs)
}

/// Where `run` is written given the archive's base interval: at its slot, split once at
/// the archive end with the remainder at the archive start (unbounded, like whisper).
pub fn place_run(archive: &ArchiveInfo, base: i64, run: &Run) -> Result<RunPlacement> {
    let offset = archive.slot_offset(base, run.start)?;
    let len = run.bytes.len();
    let beyond = offset as i64 + len as i64 - archive.end();
    if beyond > 0 {
        let cut = len - beyond as usize;
        Ok(RunPlacement {
            first: (offset, 0..cut),
            second: Some((u64::from(archive.offset), cut..len)),
        })
    } else {
        Ok(RunPlacement {
            first: (offset, 0..len),
            second: None,
        })
    }
}

/// The reads that fetch the `lower_spp / higher_spp` higher-archive slots that roll into
/// the lower slot starting at `lower_start` (whisper's two-read wrap included).
pub fn neighbour_reads(
    higher: &ArchiveInfo,
    higher_base: i64,
    lower_start: i64,
    lower_spp: u32,
) -> Result<NeighbourReads> {
    let step = higher.step()?;
    let first = if higher_base == 0 {
        i64::from(higher.offset)
    } else {
        higher.slot_offset(higher_base, lower_start)? as i64
    };
    let span = (i64::from(lower_spp) / step) * POINT_SIZE as i64;
    let relative_last = (first - i64::from(higher.offset) + span).rem_euclid(higher.size());
    let last = relative_last + i64::from(higher.offset);
    if first < last {
        Ok(NeighbourReads {
            first: (first as u64, (last - first) as u64),
            second: None,
        })
    } else {
        Ok(NeighbourReads {
            first: (first as u64, (higher.end() - first) as u64),
            second: Some((
                u64::from(higher.offset),
                (last - i64::from(higher.offset)) as u64,
            )),
        })
    }
}

/// The value to store at `lower_start`, or `None` when nothing is known or the known
/// fraction is below the xFilesFactor (compared in f64 against the stored f32).
pub fn propagated_value(
    method: AggregationMethod,
    x_files_factor: f32,
    lower_start: i64,
    higher_step: i64,
    neighbour_bytes: &[u8],
) -> Option<f64> {
    let mut acc = Accumulator::new(method);
    let mut expected = lower_start;
    for chunk in neighbour_bytes.chunks_exact(POINT_SIZE as usize) {
        let (ts, value) = decode_point(chunk);
        acc.push((ts == expected).then_some(value));
        expected += higher_step;
    }
    let value = acc.finish()?;
    let ratio = acc.known() as f64 / acc.count() as f64;
    (ratio >= f64::from(x_files_factor)).then_some(value)
}

/// Writes `(interval, value)` into `archive`: at slot 0 if the archive is empty,
/// otherwise at the interval's slot.
fn write_point<S: WriteAt + ?Sized>(
    store: &mut S,
    archive: &ArchiveInfo,
    interval: i64,
    value: f64,
) -> Result<()> {
    let packed = encode_point(interval, value)?;
    let base = read_base(store, archive)?;
    let offset = if base == 0 {
        u64::from(archive.offset)
    } else {
        archive.slot_offset(base, interval)?
    };
    store.write_at(offset, &packed).map_err(io)
}

/// Whisper's `__propagate`: recomputes the `lower` slot containing `timestamp` from the
/// `higher` archive. Returns whether a value was written.
pub fn propagate<S: WriteAt + ?Sized>(
    store: &mut S,
    header: &Header,
    timestamp: i64,
    higher: &ArchiveInfo,
    lower: &ArchiveInfo,
) -> Result<bool> {
    let lower_start = lower.interval(timestamp)?;
    let higher_base = read_base(store, higher)?;
    let reads = neighbour_reads(higher, higher_base, lower_start, lower.seconds_per_point)?;
    let first_len = reads.first.1 as usize;
    let total = first_len + reads.second.map_or(0, |(_, len)| len as usize);
    // up to 64 neighbours (the usual case) are read onto the stack
    let mut stack = [0_u8; STACK];
    let mut heap = Vec::new();
    let buf: &[u8] = if total <= STACK {
        let corrupt = |_| WhisperError::Corrupt("Unable to read datapoints".to_owned());
        let (first, rest) = stack.split_at_mut(first_len);
        store.read_at(reads.first.0, first).map_err(corrupt)?;
        if let Some((off, len)) = reads.second {
            store
                .read_at(off, &mut rest[..len as usize])
                .map_err(corrupt)?;
        }
        &stack[..total]
    } else {
        read_points(store, reads.first.0, reads.first.1, &mut heap)?;
        if let Some((off, len)) = reads.second {
            read_points(store, off, len, &mut heap)?;
        }
        &heap
    };
    let value = propagated_value(
        header.aggregation_method,
        header.x_files_factor,
        lower_start,
        higher.step()?,
        buf,
    );
    match value {
        Some(v) => {
            write_point(store, lower, lower_start, v)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whisper's `update` with a header the caller already read (or cached).
pub fn update_with_header<S: WriteAt + ?Sized>(
    store: &mut S,
    header: &Header,
    value: f64,
    timestamp: i64,
    now: i64,
) -> Result<()> {
    let diff = now - timestamp;
    if !(diff < i64::from(header.max_retention) && diff >= 0) {
        return Err(WhisperError::TimestampNotCovered { timestamp, now });
    }
    let Some(idx) = header.archives.iter().position(|a| a.retention() >= diff) else {
        return Err(WhisperError::Corrupt(format!(
            "maxRetention {} is larger than every archive's retention",
            header.max_retention
        )));
    };
    let archive = &header.archives[idx];
    let interval = archive.interval(timestamp)?;
    write_point(store, archive, interval, value)?;
    let mut higher = archive;
    for lower in &header.archives[idx + 1..] {
        if !propagate(store, header, interval, higher, lower)? {
            break;
        }
        higher = lower;
    }
    Ok(())
}

/// Whisper's `update(path, value, timestamp, now)` on a store.
pub fn update<S: WriteAt + ?Sized>(
    store: &mut S,
    value: f64,
    timestamp: i64,
    now: i64,
) -> Result<()> {
    let header = read_header(store)?;
    update_with_header(store, &header, value, timestamp, now)
}

/// Whisper's `__archive_update_many`: writes chronological `points` into archive `idx`
/// and propagates them to every coarser archive until one propagates nothing.
pub fn archive_update_many<S: WriteAt + ?Sized>(
    store: &mut S,
    header: &Header,
    idx: usize,
    points: &[(i64, f64)],
) -> Result<()> {
    let archive = &header.archives[idx];
    let runs = pack_runs(archive, points)?;
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let mut base = read_base(store, archive)?;
    if base == 0 {
        base = first.start;
    }
    for run in &runs {
        let placement = place_run(archive, base, run)?;
        let (off, range) = &placement.first;
        store
            .write_at(*off, &run.bytes[range.clone()])
            .map_err(io)?;
        if let Some((off, range)) = &placement.second {
            store
                .write_at(*off, &run.bytes[range.clone()])
                .map_err(io)?;
        }
    }
    let mut higher = archive;
    for lower in header
        .archives
        .iter()
        .filter(|a| a.seconds_per_point > archive.seconds_per_point)
    {
        let intervals = points
            .iter()
            .map(|&(t, _)| lower.interval(archive.interval(t)?))
            .collect::<Result<Vec<i64>>>()?;
        let intervals = super::python_set_order(&intervals);
        let mut further = false;
        for interval in intervals {
            further |= propagate(store, header, interval, higher, lower)?;
        }
        if !further {
            break;
        }
        higher = lower;
    }
    Ok(())
}

/// Whisper's `update_many` with a header the caller already read (or cached).
pub fn update_many_with_header<S: WriteAt + ?Sized>(
    store: &mut S,
    header: &Header,
    points: &[(i64, f64)],
    now: i64,
) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    if header.archives.is_empty() {
        return Err(WhisperError::Corrupt("file has no archives".to_owned()));
    }
    for (idx, batch) in split_by_archive(header, points, now) {
        archive_update_many(store, header, idx, &batch)?;
    }
    Ok(())
}

/// Whisper's `update_many(path, points, now)` on a store.
pub fn update_many<S: WriteAt + ?Sized>(
    store: &mut S,
    points: &[(i64, f64)],
    now: i64,
) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let header = read_header(store)?;
    update_many_with_header(store, &header, points, now)
}

/// Whisper's `__setAggregation`: rewrites the metadata with a new method and/or
/// xFilesFactor and returns the old pair.
pub fn set_aggregation<S: WriteAt + ?Sized>(
    store: &mut S,
    method: Option<AggregationMethod>,
    x_files_factor: Option<f64>,
) -> Result<(AggregationMethod, f32)> {
    let mut header = read_header(store)?;
    let old = (header.aggregation_method, header.x_files_factor);
    if let Some(m) = method {
        header.aggregation_method = m;
    }
    if let Some(x) = x_files_factor {
        header.x_files_factor = super::create::check_xff(x)?;
    }
    store.write_at(0, &header.metadata_bytes()).map_err(io)?;
    Ok(old)
}

/// Reads the slots from byte offset `from` up to `until` (exclusive) of `archive`: one
/// read, or two when the range wraps past the archive end (equal offsets read the whole
/// ring once, starting at `from`), as whisper's `__archive_fetch` does.
pub(super) fn read_range<S: ReadAt + ?Sized>(
    store: &mut S,
    from: u64,
    until: u64,
    archive: &ArchiveInfo,
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if from < until {
        read_points(store, from, until - from, &mut buf)?;
    } else {
        read_points(store, from, archive.end() as u64 - from, &mut buf)?;
        read_points(
            store,
            u64::from(archive.offset),
            until - u64::from(archive.offset),
            &mut buf,
        )?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::super::{create_image, fetch};
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn golden_file() -> Vec<u8> {
        let mut f = create_image(&[(60, 5), (300, 3)], 0.5, AggregationMethod::Sum).unwrap();
        let pts: Vec<(i64, f64)> = (0..5).map(|i| (NOW - 60 * i, i as f64)).collect();
        update_many(&mut f, &pts, NOW).unwrap();
        update(&mut f, 42.0, NOW - 200, NOW).unwrap();
        f
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// §1.10 golden vector: bytes and sha256 of the reference file.
    #[test]
    fn golden_vector_bytes() {
        use sha2::Digest;
        let f = golden_file();
        assert_eq!(f.len(), 136);
        let want = "00000002000003843f00000000000002000000280000003c00000005000000640000012c00000003\
                    6553effc40100000000000006553f03840450000000000006553f07440000000000000006553f0b03ff00000000000006553f0ec0000000000000000\
                    6553f0384046800000000000000000000000000000000000000000000000000000000000";
        assert_eq!(hex(&f), want);
        assert_eq!(
            hex(&sha2::Sha256::digest(&f)),
            "c3de4d6dcd126cf8fbe3ad22c8829a9730666f07770ca235a86ab7a7b5886e27"
        );
    }

    /// §1.7 verified fetches on the golden file.
    #[test]
    fn golden_vector_fetches() {
        let mut f = golden_file();
        let r = fetch(&mut f, NOW - 299, Some(NOW), NOW, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.from, r.until, r.step),
            (1_699_999_740, 1_700_000_040, 60)
        );
        assert_eq!(
            r.values,
            vec![Some(4.0), Some(42.0), Some(2.0), Some(1.0), Some(0.0)]
        );
        let r = fetch(&mut f, NOW - 600, Some(NOW), NOW, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.from, r.until, r.step),
            (1_699_999_500, 1_700_000_100, 300)
        );
        assert_eq!(r.values, vec![None, Some(45.0)]);
        assert!(fetch(&mut f, NOW - 10_000, Some(NOW - 950), NOW, None)
            .unwrap()
            .is_none());
        let r = fetch(&mut f, NOW - 120, Some(NOW - 120), NOW, None)
            .unwrap()
            .unwrap();
        assert_eq!(r.values.len(), 1);
    }

    #[test]
    fn xff_is_compared_as_stored_f32() {
        // 1 of 10 known with xff 0.1 does not propagate (0.1f32 > 0.1f64); 0.5 with 5/10 does.
        for (xff, known, propagates) in [
            (0.1, 1, false),
            (0.2, 2, false),
            (0.3, 3, false),
            (0.5, 5, true),
            (0.1, 2, true),
        ] {
            let mut f =
                create_image(&[(10, 20), (100, 5)], xff, AggregationMethod::Average).unwrap();
            let pts: Vec<(i64, f64)> = (0..known).map(|i| (NOW - 100 + i * 10, 1.0)).collect();
            update_many(&mut f, &pts, NOW).unwrap();
            let r = fetch(&mut f, NOW - 500, Some(NOW), NOW, Some("100"))
                .unwrap()
                .unwrap();
            assert_eq!(
                r.values.iter().any(Option::is_some),
                propagates,
                "xff {xff} known {known}"
            );
        }
    }

    #[test]
    fn update_rejects_future_and_too_old() {
        let mut f = create_image(&[(60, 5)], 0.5, AggregationMethod::Average).unwrap();
        assert!(matches!(
            update(&mut f, 1.0, NOW + 1, NOW),
            Err(WhisperError::TimestampNotCovered { .. })
        ));
        assert!(update(&mut f, 1.0, NOW - 300, NOW).is_err());
        update(&mut f, 1.0, NOW - 299, NOW).unwrap();
    }

    #[test]
    fn duplicates_first_given_wins_and_future_points_wrap() {
        let mut f = create_image(&[(10, 6)], 0.5, AggregationMethod::Average).unwrap();
        update_many(&mut f, &[(NOW, 1.0), (NOW, 2.0)], NOW).unwrap();
        let r = fetch(&mut f, NOW - 1, Some(NOW), NOW, None)
            .unwrap()
            .unwrap();
        assert_eq!(r.values, vec![Some(1.0)]);
        // now+50 lands in the slot of now-10 in a 6-slot ring... and overwrites it.
        update_many(&mut f, &[(NOW - 10, 5.0)], NOW).unwrap();
        update_many(&mut f, &[(NOW + 50, 9.0)], NOW).unwrap();
        let r = fetch(&mut f, NOW - 11, Some(NOW - 10), NOW, None)
            .unwrap()
            .unwrap();
        assert_eq!(r.values, vec![None]);
    }

    #[test]
    fn runs_split_and_interval_zero_joins_next_run() {
        let a = ArchiveInfo {
            offset: 28,
            seconds_per_point: 10,
            points: 6,
        };
        let runs = pack_runs(&a, &[(100, 1.0), (110, 2.0), (135, 3.0), (131, 4.0)]).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].start, runs[0].bytes.len()), (100, 24));
        assert_eq!((runs[1].start, runs[1].bytes.len()), (130, 12));
        assert_eq!(decode_point(&runs[1].bytes).1.to_bits(), 4.0_f64.to_bits());
        let runs = pack_runs(&a, &[(0, 1.0), (100, 2.0)]).unwrap();
        assert_eq!(
            runs,
            vec![Run {
                start: 90,
                bytes: [
                    encode_point(0, 1.0).unwrap(),
                    encode_point(100, 2.0).unwrap()
                ]
                .concat()
            }]
        );
        let p = place_run(
            &a,
            100,
            &Run {
                start: 140,
                bytes: vec![0; 36],
            },
        )
        .unwrap();
        assert_eq!(
            p,
            RunPlacement {
                first: (28 + 48, 0..24),
                second: Some((28, 24..36))
            }
        );
    }

    #[test]
    fn set_aggregation_returns_old_and_keeps_retention() {
        let mut f = create_image(&[(60, 5)], 0.5, AggregationMethod::Average).unwrap();
        let old = set_aggregation(&mut f, Some(AggregationMethod::Max), Some(0.1)).unwrap();
        assert_eq!(old, (AggregationMethod::Average, 0.5));
        let h = read_header(&mut f).unwrap();
        assert_eq!(
            (h.aggregation_method, h.x_files_factor, h.max_retention),
            (AggregationMethod::Max, 0.1, 300)
        );
        assert!(set_aggregation(&mut f, None, Some(2.0)).is_err());
    }
}
