//! The header (metadata + archive infos), point encoding and slot arithmetic.
//!
//! Invariants: all arithmetic on timestamps is done in `i64` with floor division and
//! non-negative remainders (Python semantics); values only become `u32` when packed,
//! and packing refuses anything outside `0..2^32`. An archive with zero seconds per
//! point or zero points is readable (info/dump show it) but every slot computation on it
//! returns [`WhisperError::Corrupt`] instead of dividing by zero.

use super::{AggregationMethod, ReadAt, Result, WhisperError};

/// Bytes of the metadata block (`!2LfL`).
pub const METADATA_SIZE: u64 = 16;
/// Bytes of one archive info (`!3L`).
pub const ARCHIVE_INFO_SIZE: u64 = 12;
/// Bytes of one point (`!Ld`).
pub const POINT_SIZE: u64 = 12;

/// One archive as described in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArchiveInfo {
    /// Absolute byte offset of the archive's first slot.
    pub offset: u32,
    /// Seconds each slot covers.
    pub seconds_per_point: u32,
    /// Number of slots.
    pub points: u32,
}

impl ArchiveInfo {
    /// Seconds covered: `seconds_per_point * points` (Python's integers never overflow;
    /// here a damaged header's product past `i64::MAX` saturates, still larger than any
    /// age it is compared with).
    pub fn retention(&self) -> i64 {
        i64::from(self.seconds_per_point).saturating_mul(i64::from(self.points))
    }

    /// Bytes of data: `points * 12`.
    pub fn size(&self) -> i64 {
        i64::from(self.points) * POINT_SIZE as i64
    }

    /// Absolute offset one past the last slot.
    pub fn end(&self) -> i64 {
        i64::from(self.offset) + self.size()
    }

    /// Seconds per point as `i64`, or an error for a zero step.
    pub fn step(&self) -> Result<i64> {
        if self.seconds_per_point == 0 || self.points == 0 {
            return Err(WhisperError::Corrupt(format!(
                "archive at offset {} has {} seconds per point and {} points",
                self.offset, self.seconds_per_point, self.points
            )));
        }
        Ok(i64::from(self.seconds_per_point))
    }

    /// The interval (slot start) containing `ts`: `ts - ts mod spp` (floor).
    pub fn interval(&self, ts: i64) -> Result<i64> {
        Ok(ts - ts.rem_euclid(self.step()?))
    }

    /// Absolute byte offset of `interval` given the archive's base interval.
    pub fn slot_offset(&self, base: i64, interval: i64) -> Result<u64> {
        let step = self.step()?;
        let bytes = (interval - base).div_euclid(step) * POINT_SIZE as i64;
        Ok((i64::from(self.offset) + bytes.rem_euclid(self.size())) as u64)
    }
}

/// A decoded header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// How lower archives are computed.
    pub aggregation_method: AggregationMethod,
    /// The stored `maxRetention` (whisper trusts it; it is not recomputed on read).
    pub max_retention: u32,
    /// Fraction of known points needed to propagate, exactly as stored (`f32`).
    pub x_files_factor: f32,
    /// Archives in file order (finest first in files whisper created).
    pub archives: Vec<ArchiveInfo>,
}

impl Header {
    /// Bytes of the whole header.
    pub fn size(&self) -> u64 {
        METADATA_SIZE + ARCHIVE_INFO_SIZE * self.archives.len() as u64
    }

    /// Bytes of the whole file as whisper lays it out.
    pub fn file_size(&self) -> u64 {
        self.size() + self.archives.iter().map(|a| a.size() as u64).sum::<u64>()
    }

    /// The 16-byte metadata block.
    pub fn metadata_bytes(&self) -> [u8; 16] {
        let mut b = [0_u8; 16];
        b[0..4].copy_from_slice(&self.aggregation_method.type_code().to_be_bytes());
        b[4..8].copy_from_slice(&self.max_retention.to_be_bytes());
        b[8..12].copy_from_slice(&self.x_files_factor.to_be_bytes());
        b[12..16].copy_from_slice(&(self.archives.len() as u32).to_be_bytes());
        b
    }

    /// Metadata followed by every archive info.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() as usize);
        out.extend_from_slice(&self.metadata_bytes());
        for a in &self.archives {
            out.extend_from_slice(&a.offset.to_be_bytes());
            out.extend_from_slice(&a.seconds_per_point.to_be_bytes());
            out.extend_from_slice(&a.points.to_be_bytes());
        }
        out
    }

    /// The xFilesFactor as whisper sees it after reading (`f32` widened to `f64`).
    pub fn xff(&self) -> f64 {
        f64::from(self.x_files_factor)
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads and validates the header like whisper's `__readHeader`.
pub fn read_header<S: ReadAt + ?Sized>(store: &mut S) -> Result<Header> {
    read(store, true)
}

/// Reads the header like `whisper-dump.py`: an unknown aggregation type reads as
/// `average` and the xFilesFactor is not range-checked.
pub fn read_header_lenient<S: ReadAt + ?Sized>(store: &mut S) -> Result<Header> {
    read(store, false)
}

fn read<S: ReadAt + ?Sized>(store: &mut S, strict: bool) -> Result<Header> {
    let corrupt = || WhisperError::Corrupt("Unable to read header".to_owned());
    let mut meta = [0_u8; 16];
    store.read_at(0, &mut meta).map_err(|_| corrupt())?;
    let code = be32(&meta[0..4]);
    let max_retention = be32(&meta[4..8]);
    let xff = f32::from_be_bytes([meta[8], meta[9], meta[10], meta[11]]);
    let count = be32(&meta[12..16]);
    let method = match AggregationMethod::from_type_code(code) {
        Some(m) => m,
        None if strict => return Err(corrupt()),
        None => AggregationMethod::Average,
    };
    if strict && !(0.0..=1.0).contains(&xff) {
        return Err(corrupt());
    }
    let mut archives = Vec::new();
    for i in 0..u64::from(count) {
        let mut b = [0_u8; 12];
        store
            .read_at(METADATA_SIZE + ARCHIVE_INFO_SIZE * i, &mut b)
            .map_err(|_| WhisperError::Corrupt(format!("Unable to read archive{i} metadata")))?;
        archives.push(ArchiveInfo {
            offset: be32(&b[0..4]),
            seconds_per_point: be32(&b[4..8]),
            points: be32(&b[8..12]),
        });
    }
    Ok(Header {
        aggregation_method: method,
        max_retention,
        x_files_factor: xff,
        archives,
    })
}

/// Packs one point; the timestamp must fit `u32` (Python's `struct.pack('!L')`).
pub fn encode_point(interval: i64, value: f64) -> Result<[u8; 12]> {
    let ts = u32::try_from(interval).map_err(|_| WhisperError::TimestampOutOfRange(interval))?;
    let mut b = [0_u8; 12];
    b[0..4].copy_from_slice(&ts.to_be_bytes());
    b[4..12].copy_from_slice(&value.to_be_bytes());
    Ok(b)
}

/// Unpacks one 12-byte point.
pub fn decode_point(b: &[u8]) -> (i64, f64) {
    let ts = be32(&b[0..4]);
    let mut v = [0_u8; 8];
    v.copy_from_slice(&b[4..12]);
    (i64::from(ts), f64::from_be_bytes(v))
}

/// Reads an archive's base interval (the timestamp in slot 0; 0 = never written).
pub(super) fn read_base<S: ReadAt + ?Sized>(store: &mut S, archive: &ArchiveInfo) -> Result<i64> {
    let mut b = [0_u8; 12];
    store
        .read_at(u64::from(archive.offset), &mut b)
        .map_err(|_| WhisperError::Corrupt("Unable to read base datapoint".to_owned()))?;
    Ok(decode_point(&b).0)
}

/// Reads `len` bytes at `offset`, reporting a short read as whisper does.
pub(super) fn read_points<S: ReadAt + ?Sized>(
    store: &mut S,
    offset: u64,
    len: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    // Read in bounded chunks so a corrupt header claiming billions of points fails at
    // the end of the data instead of allocating the claimed size up front.
    const CHUNK: u64 = 1 << 20;
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let start = out.len();
        out.resize(start + n as usize, 0);
        store
            .read_at(offset + done, &mut out[start..])
            .map_err(|_| WhisperError::Corrupt("Unable to read datapoints".to_owned()))?;
        done += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn a_damaged_headers_retention_saturates_instead_of_overflowing() {
        let a = |seconds_per_point, points| ArchiveInfo {
            offset: 28,
            seconds_per_point,
            points,
        };
        assert_eq!(a(60, 1440).retention(), 86_400);
        assert_eq!(a(u32::MAX, u32::MAX).retention(), i64::MAX);
    }

    /// §1.1 worked example: `10s:6h,1m:7d,10m:5y`.
    #[test]
    fn worked_example_header_bytes() {
        let h = super::super::header_for(
            &[(10, 2160), (60, 10080), (600, 262_800)],
            0.5,
            AggregationMethod::Average,
        )
        .unwrap();
        assert_eq!(
            h.encode(),
            hex("00000001 09660180 3f000000 00000003 00000034 0000000a 00000870 00006574 0000003c 00002760 00023df4 00000258 00040290")
        );
        assert_eq!(h.file_size(), 3_300_532);
        let mut bytes = h.encode();
        assert_eq!(read_header(&mut bytes).unwrap(), h);
    }

    #[test]
    fn strict_read_rejects_bad_type_and_xff() {
        let h = Header {
            aggregation_method: AggregationMethod::Sum,
            max_retention: 60,
            x_files_factor: 0.5,
            archives: vec![ArchiveInfo {
                offset: 28,
                seconds_per_point: 60,
                points: 1,
            }],
        };
        let mut b = h.encode();
        b[3] = 9;
        assert_eq!(
            read_header(&mut b).unwrap_err().to_string(),
            "Unable to read header"
        );
        assert_eq!(
            read_header_lenient(&mut b).unwrap().aggregation_method,
            AggregationMethod::Average
        );
        let mut b = h.encode();
        b[8..12].copy_from_slice(&1.5_f32.to_be_bytes());
        assert!(read_header(&mut b).is_err());
        let mut b = h.encode();
        b.truncate(20);
        assert_eq!(
            read_header(&mut b).unwrap_err().to_string(),
            "Unable to read archive0 metadata"
        );
    }

    #[test]
    fn floor_slot_arithmetic_wraps_negative_distances() {
        let a = ArchiveInfo {
            offset: 40,
            seconds_per_point: 60,
            points: 5,
        };
        assert_eq!(a.interval(119).unwrap(), 60);
        assert_eq!(a.interval(-1).unwrap(), -60);
        assert_eq!(a.slot_offset(600, 600).unwrap(), 40);
        assert_eq!(a.slot_offset(600, 660).unwrap(), 52);
        // one slot before the base is the last slot, not a negative offset
        assert_eq!(a.slot_offset(600, 540).unwrap(), 40 + 48);
        assert_eq!(a.slot_offset(600, 600 + 5 * 60).unwrap(), 40);
        let zero = ArchiveInfo {
            offset: 40,
            seconds_per_point: 0,
            points: 5,
        };
        assert!(zero.slot_offset(0, 0).is_err());
    }

    #[test]
    fn points_pack_only_u32_timestamps() {
        assert_eq!(decode_point(&encode_point(7, 1.5).unwrap()), (7, 1.5));
        assert!(encode_point(-1, 0.0).is_err());
        assert!(encode_point(1 << 32, 0.0).is_err());
    }
}
