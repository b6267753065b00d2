//! The read-only commands: `info`, `fetch`, `dump` (whisper-info.py, whisper-fetch.py,
//! whisper-dump.py), printing exactly what the scripts print.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::{clock, Failure, Outcome};
use crate::py::format::{self as pyfmt, percent_f, percent_g, repr};
use crate::storage::whisper::file;
use crate::storage::whisper::{read_header_lenient, Header, POINT_SIZE};

/// Python's `str(dict)` of one archive, in whisper's key order.
fn archive_dict_repr(a: &crate::storage::whisper::ArchiveInfo) -> String {
    format!(
        "{{'offset': {}, 'secondsPerPoint': {}, 'points': {}, 'retention': {}, 'size': {}}}",
        a.offset,
        a.seconds_per_point,
        a.points,
        a.retention(),
        a.size()
    )
}

pub(super) fn info(path: &Path, field: Option<&str>, json: bool, out: &mut dyn Write) -> Outcome {
    let header = file::info(path)?;
    let file_size = std::fs::metadata(path)?.len();
    let xff = repr(header.xff());
    let scalar = [
        (
            "aggregationMethod",
            header.aggregation_method.name().to_owned(),
        ),
        ("maxRetention", header.max_retention.to_string()),
        ("xFilesFactor", xff.clone()),
    ];
    if let Some(field) = field {
        let value = match field {
            "archives" => {
                let items: Vec<String> = header.archives.iter().map(archive_dict_repr).collect();
                format!("[{}]", items.join(", "))
            }
            "fileSize" => file_size.to_string(),
            other => {
                if let Some((_, v)) = scalar.iter().find(|(k, _)| *k == other) {
                    v.clone()
                } else {
                    writeln!(
                        out,
                        "Unknown field \"{other}\". Valid fields are aggregationMethod,maxRetention,xFilesFactor,archives,fileSize"
                    )?;
                    return Err(Failure::bare(String::new()));
                }
            }
        };
        writeln!(out, "{value}")?;
        return Ok(());
    }
    if json {
        let mut s = String::from("{\n");
        let _ = writeln!(
            s,
            "  \"aggregationMethod\": \"{}\",",
            header.aggregation_method.name()
        );
        let _ = writeln!(s, "  \"maxRetention\": {},", header.max_retention);
        let xff_json = if header.xff().is_nan() {
            "NaN".to_owned()
        } else {
            xff
        };
        let _ = writeln!(s, "  \"xFilesFactor\": {xff_json},");
        if header.archives.is_empty() {
            s.push_str("  \"archives\": [],\n");
        } else {
            s.push_str("  \"archives\": [\n");
            let items: Vec<String> = header
                .archives
                .iter()
                .map(|a| {
                    format!(
                        "    {{\n      \"offset\": {},\n      \"secondsPerPoint\": {},\n      \"points\": {},\n      \"retention\": {},\n      \"size\": {}\n    }}",
                        a.offset,
                        a.seconds_per_point,
                        a.points,
                        a.retention(),
                        a.size()
                    )
                })
                .collect();
            s.push_str(&items.join(",\n"));
            s.push_str("\n  ],\n");
        }
        let _ = writeln!(s, "  \"fileSize\": {file_size}");
        s.push('}');
        writeln!(out, "{s}")?;
        return Ok(());
    }
    for (k, v) in &scalar {
        writeln!(out, "{k}: {v}")?;
    }
    writeln!(out, "fileSize: {file_size}")?;
    writeln!(out)?;
    for (i, a) in header.archives.iter().enumerate() {
        writeln!(out, "Archive {i}")?;
        writeln!(out, "offset: {}", a.offset)?;
        writeln!(out, "secondsPerPoint: {}", a.seconds_per_point)?;
        writeln!(out, "points: {}", a.points)?;
        writeln!(out, "retention: {}", a.retention())?;
        writeln!(out, "size: {}", a.size())?;
        writeln!(out)?;
    }
    Ok(())
}

pub(super) struct FetchOptions<'a> {
    pub from: i64,
    pub until: i64,
    pub json: bool,
    pub pretty: bool,
    pub time_format: Option<&'a str>,
    pub drop: Option<&'a str>,
}

fn time_string(t: i64, pretty: bool, time_format: Option<&str>) -> String {
    match (pretty, time_format) {
        (false, _) => t.to_string(),
        (true, Some(f)) => clock::strftime(f, t),
        (true, None) => clock::ctime(t),
    }
}

pub(super) fn fetch(path: &Path, o: &FetchOptions<'_>, now: i64, out: &mut dyn Write) -> Outcome {
    let Some(r) = file::fetch(path, o.from, Some(o.until), now, None)? else {
        return Err(Failure::bare("No data in selected timerange"));
    };
    let values: Vec<Option<f64>> = match o.drop {
        // Python: `x != 0` keeps None and NaN; `x is not None`; both.
        Some("zeroes") => r
            .values
            .iter()
            .copied()
            .filter(|v| v.is_none_or(|x| x != 0.0))
            .collect(),
        Some("nulls") => r.values.iter().flatten().map(|&x| Some(x)).collect(),
        Some("empty") => r
            .values
            .iter()
            .copied()
            .filter(|v| v.is_some_and(|x| x != 0.0))
            .collect(),
        _ => r.values.clone(),
    };
    if o.json {
        let list = pyfmt::list_repr(&values).replace("None", "null");
        writeln!(
            out,
            "{{\n    \"start\" : {},\n    \"end\" : {},\n    \"step\" : {},\n    \"values\" : {list}\n  }}",
            r.from, r.until, r.step
        )?;
        return Ok(());
    }
    let mut t = r.from;
    for v in values {
        let value = v.map_or_else(|| "None".to_owned(), percent_f);
        writeln!(out, "{}\t{value}", time_string(t, o.pretty, o.time_format))?;
        t += r.step;
    }
    Ok(())
}

pub(super) fn dump(
    path: &Path,
    pretty: bool,
    time_format: Option<&str>,
    raw: bool,
    out: &mut dyn Write,
) -> Outcome {
    if !path.exists() {
        return Err(Failure::error(format!(
            "File \"{}\" does not exist!",
            path.display()
        )));
    }
    let mut bytes = std::fs::read(path)?;
    let header: Header = read_header_lenient(&mut bytes)?;
    if !raw {
        writeln!(out, "Meta data:")?;
        writeln!(out, "  aggregation method: {}", header.aggregation_method)?;
        writeln!(out, "  max retention: {}", header.max_retention)?;
        writeln!(out, "  xFilesFactor: {}", percent_g(header.xff(), 6))?;
        writeln!(out)?;
        for (i, a) in header.archives.iter().enumerate() {
            writeln!(out, "Archive {i} info:")?;
            writeln!(out, "  offset: {}", a.offset)?;
            writeln!(out, "  seconds per point: {}", a.seconds_per_point)?;
            writeln!(out, "  points: {}", a.points)?;
            writeln!(out, "  retention: {}", a.retention())?;
            writeln!(out, "  size: {}", a.size())?;
            writeln!(out)?;
        }
    }
    for (i, a) in header.archives.iter().enumerate() {
        if !raw {
            writeln!(out, "Archive {i} data:")?;
        }
        let mut offset = u64::from(a.offset);
        for point in 0..a.points {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let Some(chunk) = bytes.get(start..start.saturating_add(POINT_SIZE as usize)) else {
                return Err(Failure::error(format!(
                    "{}: archive {i} point {point} lies beyond the end of the file",
                    path.display()
                )));
            };
            let (ts, value) = crate::storage::whisper::decode_point(chunk);
            if raw {
                writeln!(out, "{ts}:{}", percent_g(value, 35))?;
            } else {
                let g = percent_g(value, 35);
                writeln!(
                    out,
                    "{point}: {}, {g:>10}",
                    time_string(ts, pretty, time_format)
                )?;
            }
            offset += POINT_SIZE;
        }
    }
    Ok(())
}
