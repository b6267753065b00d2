//! Free and used space per mounted filesystem (Diamond's `diskspace` collector).
//!
//! Mounts come from `/proc/mounts`; a mount is kept when its type is in the
//! filesystem list (Diamond's default: ext2, ext3, ext4, xfs, glusterfs, nfs,
//! nfs4, ntfs, hfs, fat32, fat16, btrfs), its mount point does not match the
//! exclude pattern (default `^/export/home`), its device is a path, a
//! `host:share` or `tmpfs`, and it is not a second mount of a filesystem
//! already seen (same `st_dev`). Sizes come from `statvfs`, through a function
//! the caller passes, so tests inject values.
//!
//! The name is the filesystem label (`/dev/disk/by-label`) if it has one, else
//! the mount point with `/` and `.` turned into `_` (`/` is `root`, `/tmp` is
//! `tmp`, `/var/log` is `_var_log`). Under `diskspace.<name>.`:
//! `byte_percentfree`, `byte_used`, `byte_free`, `byte_avail` (two decimals;
//! free counts the blocks root may use, avail those anyone may), and
//! `inodes_percentfree` (when the filesystem has inodes), `inodes_used`,
//! `inodes_free`, `inodes_avail` (whole numbers).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use procfs::{FromRead, MountEntry};
use regex::Regex;

use super::sample::{parse_error, read_file, CollectError, Collector, Point};

const REL: &str = "proc/mounts";

/// Diamond's default filesystem types.
pub const DEFAULT_FILESYSTEMS: [&str; 12] = [
    "ext2",
    "ext3",
    "ext4",
    "xfs",
    "glusterfs",
    "nfs",
    "nfs4",
    "ntfs",
    "hfs",
    "fat32",
    "fat16",
    "btrfs",
];

/// Diamond's default exclude pattern for mount points.
pub const DEFAULT_EXCLUDE: &str = "^/export/home";

/// Which mounts to report.
#[derive(Debug, Clone)]
pub struct Filter {
    pub filesystems: Vec<String>,
    /// Mount points matching this are skipped; `None` skips none.
    pub exclude: Option<Regex>,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            filesystems: DEFAULT_FILESYSTEMS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            exclude: Some(
                Regex::new(DEFAULT_EXCLUDE).expect("the default exclude pattern is valid"),
            ),
        }
    }
}

/// What `statvfs` (and `stat` for the device id) says about a mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStat {
    /// `st_dev` of the mount point, to skip a filesystem mounted twice.
    pub dev: u64,
    /// Fragment size: the unit of the block counts.
    pub frsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub favail: u64,
}

/// One filesystem to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    pub name: String,
    pub stat: FsStat,
}

/// Diamond's name for a mount point without a label.
pub fn mount_name(mount_point: &str) -> String {
    let name = mount_point.replace(['/', '.'], "_").replace('\\', "");
    match name.as_str() {
        "_" => "root".into(),
        "_tmp" => "tmp".into(),
        _ => name,
    }
}

/// Device path → label, from `<root>/dev/disk/by-label`.
fn labels(root: &Path) -> HashMap<PathBuf, String> {
    let mut map = HashMap::new();
    let Ok(dir) = std::fs::read_dir(root.join("dev/disk/by-label")) else {
        return map;
    };
    for entry in dir.flatten() {
        let label = entry.file_name().to_string_lossy().replace("\\x2f", "/");
        if let Ok(dev) = std::fs::canonicalize(entry.path()) {
            map.insert(dev, label);
        }
    }
    map
}

/// Lists the mounts to report and asks `statfs` about each; a mount `statfs`
/// cannot answer for is reported in `errors` and skipped.
pub fn read(
    root: &Path,
    filter: &Filter,
    statfs: &dyn Fn(&Path) -> std::io::Result<FsStat>,
    errors: &mut Vec<CollectError>,
) -> Result<Vec<Filesystem>, CollectError> {
    let text = read_file(root, REL, Collector::Diskspace)?;
    let mounts = Vec::<MountEntry>::from_read(text.as_bytes())
        .map_err(|e| parse_error(root, REL, Collector::Diskspace, e))?;
    let labels = labels(root);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for m in mounts {
        let (device, mount) = (m.fs_spec.as_str(), m.fs_file.as_str());
        if !filter.filesystems.contains(&m.fs_vfstype) {
            continue;
        }
        if filter.exclude.as_ref().is_some_and(|r| r.is_match(mount)) {
            continue;
        }
        let device_like = device.contains('/') || device.contains(':') || device == "tmpfs";
        if !device_like || !mount.starts_with('/') {
            continue;
        }
        let path = root.join(mount.trim_start_matches('/'));
        let stat = match statfs(&path) {
            Ok(s) => s,
            Err(source) => {
                errors.push(CollectError::Read {
                    collector: Collector::Diskspace,
                    path,
                    source,
                });
                continue;
            }
        };
        if seen.contains(&stat.dev) {
            continue;
        }
        seen.push(stat.dev);
        let dev_path = std::fs::canonicalize(root.join(device.trim_start_matches('/')))
            .unwrap_or_else(|_| PathBuf::from(device));
        let name = labels
            .get(&dev_path)
            .cloned()
            .unwrap_or_else(|| mount_name(mount));
        out.push(Filesystem { name, stat });
    }
    Ok(out)
}

pub fn points(filesystems: &[Filesystem], out: &mut Vec<Point>) {
    for fs in filesystems {
        let s = fs.stat;
        let n = &fs.name;
        let pct_free = if s.blocks > 0 {
            s.bfree as f64 / s.blocks as f64 * 100.0
        } else {
            0.0
        };
        let bytes = |blocks: u64| s.frsize as f64 * blocks as f64;
        out.push(Point::new(
            format!("diskspace.{n}.byte_percentfree"),
            pct_free,
            2,
        ));
        out.push(Point::new(
            format!("diskspace.{n}.byte_used"),
            bytes(s.blocks.saturating_sub(s.bfree)),
            2,
        ));
        out.push(Point::new(
            format!("diskspace.{n}.byte_free"),
            bytes(s.bfree),
            2,
        ));
        out.push(Point::new(
            format!("diskspace.{n}.byte_avail"),
            bytes(s.bavail),
            2,
        ));
        if s.files > 0 {
            let pct = s.ffree as f64 / s.files as f64 * 100.0;
            out.push(Point::new(
                format!("diskspace.{n}.inodes_percentfree"),
                pct,
                0,
            ));
        }
        let used = s.files.saturating_sub(s.ffree) as f64;
        out.push(Point::new(format!("diskspace.{n}.inodes_used"), used, 0));
        out.push(Point::new(
            format!("diskspace.{n}.inodes_free"),
            s.ffree as f64,
            0,
        ));
        out.push(Point::new(
            format!("diskspace.{n}.inodes_avail"),
            s.favail as f64,
            0,
        ));
    }
}

/// `statvfs(2)` and `stat(2)` of a live mount point.
pub fn statvfs(path: &Path) -> std::io::Result<FsStat> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path)?.dev();
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call, and
    // `st` points to writable memory the size of `struct statvfs`.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the whole struct (and it was zeroed before).
    let st = unsafe { st.assume_init() };
    #[allow(
        clippy::useless_conversion,
        reason = "field widths differ between targets"
    )]
    Ok(FsStat {
        dev,
        frsize: u64::from(st.f_frsize),
        blocks: u64::from(st.f_blocks),
        bfree: u64::from(st.f_bfree),
        bavail: u64::from(st.f_bavail),
        files: u64::from(st.f_files),
        ffree: u64::from(st.f_ffree),
        favail: u64::from(st.f_favail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_diamond() {
        assert_eq!(mount_name("/"), "root");
        assert_eq!(mount_name("/tmp"), "tmp");
        assert_eq!(mount_name("/var/log"), "_var_log");
        assert_eq!(mount_name("/srv/a.b"), "_srv_a_b");
    }

    #[test]
    fn formats_injected_values() {
        let fs = Filesystem {
            name: "root".into(),
            stat: FsStat {
                dev: 1,
                frsize: 4096,
                blocks: 1000,
                bfree: 250,
                bavail: 200,
                files: 300,
                ffree: 100,
                favail: 90,
            },
        };
        let mut out = Vec::new();
        points(&[fs], &mut out);
        let lines = super::super::sample::carbon_lines("servers.h", &out, 7);
        assert_eq!(
            lines,
            [
                "servers.h.diskspace.root.byte_percentfree 25.00 7",
                "servers.h.diskspace.root.byte_used 3072000.00 7",
                "servers.h.diskspace.root.byte_free 1024000.00 7",
                "servers.h.diskspace.root.byte_avail 819200.00 7",
                "servers.h.diskspace.root.inodes_percentfree 33 7",
                "servers.h.diskspace.root.inodes_used 200 7",
                "servers.h.diskspace.root.inodes_free 100 7",
                "servers.h.diskspace.root.inodes_avail 90 7",
            ]
        );
    }

    #[test]
    fn live_statvfs_of_root() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.frsize > 0 && s.blocks >= s.bfree && s.bfree >= s.bavail);
    }
}
