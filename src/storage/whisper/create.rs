//! Creating a file: archive-list validation and the initial image.
//!
//! Contract: [`validate_archive_list`] applies whisper's five rules in whisper's order
//! after sorting by precision, with whisper's messages; [`header_for`] lays archives out
//! finest first, back to back after the header; [`create_image`] is that header followed
//! by zero-filled archives (what whisper writes with or without `sparse`).

use super::header::{ArchiveInfo, Header, ARCHIVE_INFO_SIZE, METADATA_SIZE, POINT_SIZE};
use super::{AggregationMethod, Result, WhisperError};

/// Whisper's default xFilesFactor.
pub const DEFAULT_X_FILES_FACTOR: f64 = 0.5;

fn invalid(msg: String) -> WhisperError {
    WhisperError::InvalidConfiguration(msg)
}

/// Sorts `archives` (seconds per point, points) by precision and checks whisper's rules:
/// at least one archive; no equal precisions; each precision divides the next; each
/// archive covers strictly more time than the previous; each archive has at least as
/// many points as the next one consolidates.
pub fn validate_archive_list(archives: &mut [(u32, u32)]) -> Result<()> {
    if archives.is_empty() {
        return Err(invalid(
            "You must specify at least one archive configuration!".to_owned(),
        ));
    }
    archives.sort_by_key(|a| a.0);
    for (i, pair) in archives.windows(2).enumerate() {
        let ((spp, pts), (next_spp, next_pts)) = (pair[0], pair[1]);
        let j = i + 1;
        if spp >= next_spp {
            return Err(invalid(format!(
                "A Whisper database may not be configured having two archives with the same precision (archive{i}: ({spp}, {pts}), archive{j}: ({next_spp}, {next_pts}))"
            )));
        }
        if spp == 0 || next_spp % spp != 0 {
            return Err(invalid(format!(
                "Higher precision archives' precision must evenly divide all lower precision archives' precision (archive{i}: {spp}, archive{j}: {next_spp})"
            )));
        }
        let retention = u64::from(spp) * u64::from(pts);
        let next_retention = u64::from(next_spp) * u64::from(next_pts);
        if next_retention <= retention {
            return Err(invalid(format!(
                "Lower precision archives must cover larger time intervals than higher precision archives (archive{i}: {retention} seconds, archive{j}: {next_retention} seconds)"
            )));
        }
        let per_consolidation = next_spp / spp;
        if pts < per_consolidation {
            return Err(invalid(format!(
                "Each archive must have at least enough points to consolidate to the next archive (archive{j} consolidates {per_consolidation} of archive{i}'s points but it has only {pts} total points)"
            )));
        }
    }
    Ok(())
}

/// Checks an xFilesFactor the way whisper's header writer does (plus: NaN is refused).
pub fn check_xff(xff: f64) -> Result<f32> {
    if xff.is_nan() {
        return Err(WhisperError::InvalidXFilesFactor(format!(
            "{xff}, not a float"
        )));
    }
    if !(0.0..=1.0).contains(&xff) {
        return Err(WhisperError::InvalidXFilesFactor(format!(
            "{xff}, not between 0 and 1"
        )));
    }
    Ok(xff as f32)
}

/// Validates the archive list and returns the header whisper would write.
pub fn header_for(archives: &[(u32, u32)], xff: f64, method: AggregationMethod) -> Result<Header> {
    let mut list = archives.to_vec();
    validate_archive_list(&mut list)?;
    let x_files_factor = check_xff(xff)?;
    let max_retention = list
        .iter()
        .map(|&(s, p)| u64::from(s) * u64::from(p))
        .max()
        .unwrap_or(0);
    let max_retention = u32::try_from(max_retention).map_err(|_| {
        invalid(format!(
            "maximum retention {max_retention} does not fit in 32 bits"
        ))
    })?;
    let mut offset = METADATA_SIZE + ARCHIVE_INFO_SIZE * list.len() as u64;
    let mut infos = Vec::with_capacity(list.len());
    for (spp, points) in list {
        let off = u32::try_from(offset)
            .map_err(|_| invalid(format!("archive offset {offset} does not fit in 32 bits")))?;
        infos.push(ArchiveInfo {
            offset: off,
            seconds_per_point: spp,
            points,
        });
        offset += u64::from(points) * POINT_SIZE;
    }
    Ok(Header {
        aggregation_method: method,
        max_retention,
        x_files_factor,
        archives: infos,
    })
}

/// The complete bytes of a new, empty file.
pub fn create_image(
    archives: &[(u32, u32)],
    xff: f64,
    method: AggregationMethod,
) -> Result<Vec<u8>> {
    let header = header_for(archives, xff, method)?;
    let mut image = header.encode();
    image.resize(header.file_size() as usize, 0);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &[(u32, u32)]) -> String {
        let mut l = list.to_vec();
        validate_archive_list(&mut l)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn whisper_rules_and_messages() {
        assert!(check(&[]).starts_with("You must specify"));
        assert!(check(&[(60, 10), (60, 20)])
            .contains("same precision (archive0: (60, 10), archive1: (60, 20))"));
        assert!(check(&[(60, 100), (90, 100)]).contains("evenly divide"));
        assert!(check(&[(60, 100), (120, 50)])
            .contains("(archive0: 6000 seconds, archive1: 6000 seconds)"));
        assert!(check(&[(10, 5), (60, 10)]).contains(
            "archive1 consolidates 6 of archive0's points but it has only 5 total points"
        ));
        assert_eq!(check(&[(300, 3), (60, 5)]), "");
    }

    #[test]
    fn sorted_layout_and_image() {
        let img = create_image(&[(300, 3), (60, 5)], 0.5, AggregationMethod::Sum).unwrap();
        assert_eq!(img.len(), 136);
        assert_eq!(&img[16..28], &[0, 0, 0, 40, 0, 0, 0, 60, 0, 0, 0, 5]);
        assert!(img[40..].iter().all(|&b| b == 0));
        assert!(create_image(&[(60, 5)], 1.5, AggregationMethod::Sum).is_err());
        assert!(create_image(&[(60, 5)], f64::NAN, AggregationMethod::Sum).is_err());
    }
}
