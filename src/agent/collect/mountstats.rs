//! NFS client statistics from `/proc/self/mountstats` (Diamond's `mountstats` collector).
//!
//! Every NFS mount (a `device … statvers=…` block; other mounts have no
//! statistics and are skipped) whose mount point the filter keeps is reported
//! under `mountstats.<name>.`, `<name>` being the mount point as the kernel
//! prints it with `.` and `/` turned into `_` (`/mnt/home` → `_mnt_home`,
//! `/` → `_`). Every value is a counter sent as its change per second since
//! the previous reading, whole numbers (Diamond's `publish_counter`):
//!
//! | name | from |
//! | --- | --- |
//! | `events.<e>` for the 23 names of [`EVENTS`] | the first 23 numbers of the `events:` line, by position |
//! | `bytes.<b>` for the 6 names of [`BYTES`] | the first 6 numbers of the `bytes:` line |
//! | `xprt.<proto>.<x>` for `tcp`, `udp`, `rdma` | the numbers of the `xprt:` line after the protocol, by position ([`XPRT_TCP`], [`XPRT_UDP`], [`XPRT_RDMA`]) |
//! | `rpc.<op>.ops`, `.rtt`, `.exe` for the procedures of [`RPCS`] (lower case) | a per-op line's operations, cumulative response time (ms) and cumulative total time (ms) |
//!
//! Diamond names the numbers by position, and its lists do not follow the
//! kernel's: `events.syncinodes` carries the kernel's fifth counter (VFS
//! opens), `events.vfsopen` its sixth (lookups), `events.delay` short reads;
//! `xprt.tcp.backlogutil` and `xprt.udp.backlogutil` carry the cumulative
//! request-slot use (`req_u`), and the rdma names from `backlogutil` on are
//! one place early. This collector sends the same numbers under the same
//! names as Diamond, so graphs made from Diamond's data keep working; the
//! comments on the lists below say which kernel counter each name holds.
//!
//! The filter: with include patterns, a mount is kept when its mount point
//! matches one of them; with exclude patterns, it is skipped when it matches
//! one of them; patterns are anchored at the start, as Python's `re.match`.
//! (Diamond ignores the exclude patterns when include patterns are set;
//! here both apply.)
//!
//! No NFS mount means no points and no error; so does a missing
//! `/proc/self/mountstats`. The first reading is a baseline, as for the other
//! counter collectors, and a mount that appears between two readings is
//! reported from the reading after.

use std::collections::HashMap;
use std::path::Path;

use procfs::process::{MountNFSStatistics, MountStats, NFSEventCounter};
use procfs::FromRead;
use regex::Regex;

use super::sample::{delta, parse_error, rate_base, CollectError, Collector, Point};

const REL: &str = "proc/self/mountstats";

/// Diamond's names for the numbers of the `events:` line, by position.
pub const EVENTS: [&str; 23] = [
    "inoderevalidates",
    "dentryrevalidates",
    "datainvalidates",
    "attrinvalidates",
    "syncinodes",
    "vfsopen",
    "vfslookup",
    "vfspermission",
    "vfsreadpage",
    "vfsreadpages",
    "vfswritepage",
    "vfswritepages",
    "vfsreaddir",
    "vfsflush",
    "vfsfsync",
    "vfsflock",
    "vfsrelease",
    "setattrtrunc",
    "extendwrite",
    "sillyrenames",
    "shortreads",
    "shortwrites",
    "delay",
];

/// The kernel's first 23 event counters in its order (`enum nfs_stat_eventcounters`
/// in `include/linux/nfs_iostat.h`), to pair with [`EVENTS`] by position.
fn event_values(e: &NFSEventCounter) -> [u64; 23] {
    [
        e.inode_revalidate,
        e.deny_try_revalidate, // procfs's name for dentry revalidations
        e.data_invalidate,
        e.attr_invalidate,
        e.vfs_open,        // sent as syncinodes
        e.vfs_lookup,      // sent as vfsopen
        e.vfs_access,      // sent as vfslookup
        e.vfs_update_page, // sent as vfspermission
        e.vfs_read_page,
        e.vfs_read_pages,
        e.vfs_write_page,
        e.vfs_write_pages,
        e.vfs_get_dents,   // sent as vfsreaddir
        e.vfs_set_attr,    // sent as vfsflush
        e.vfs_flush,       // sent as vfsfsync
        e.vfs_fs_sync,     // sent as vfsflock
        e.vfs_lock,        // sent as vfsrelease
        e.vfs_release,     // sent as setattrtrunc
        e.congestion_wait, // sent as extendwrite
        e.set_attr_trunc,  // sent as sillyrenames
        e.extend_write,    // sent as shortreads
        e.silly_rename,    // sent as shortwrites
        e.short_read,      // sent as delay
    ]
}

/// Diamond's names for the numbers of the `bytes:` line (the kernel's order; its
/// last two, pages read and written, are not sent).
pub const BYTES: [&str; 6] = [
    "normalreadbytes",
    "normalwritebytes",
    "directreadbytes",
    "directwritebytes",
    "serverreadbytes",
    "serverwritebytes",
];

/// Diamond's names for `xprt: tcp` (the kernel's: source port, binds, connects,
/// connect time, idle time, sends, receives, bad xids, then `req_u` sent as `backlogutil`).
pub const XPRT_TCP: [&str; 9] = [
    "port",
    "bind_count",
    "connect_count",
    "connect_time",
    "idle_time",
    "rpcsends",
    "rpcreceives",
    "badxids",
    "backlogutil",
];

/// Diamond's names for `xprt: udp` (the kernel's: source port, binds, sends,
/// receives, bad xids, then `req_u` sent as `backlogutil`).
pub const XPRT_UDP: [&str; 6] = [
    "port",
    "bind_count",
    "rpcsends",
    "rpcreceives",
    "badxids",
    "backlogutil",
];

/// Diamond's names for `xprt: rdma`; from `backlogutil` on each holds the
/// kernel's number one place before the one its name says (`req_u`, `bklog_u`,
/// read chunks, …, failed marshals).
pub const XPRT_RDMA: [&str; 19] = [
    "port",
    "bind_count",
    "connect_count",
    "connect_time",
    "idle_time",
    "rpcsends",
    "rpcreceives",
    "badxids",
    "backlogutil",
    "read_chunks",
    "write_chunks",
    "reply_chunks",
    "total_rdma_req",
    "total_dma_rep",
    "pullup",
    "fixup",
    "hardway",
    "failed_marshal",
    "bad_reply",
];

/// The RPC procedures Diamond reports (those of NFS version 3 and the older ones of
/// version 4); others, such as version 4.1's `SEQUENCE` or `EXCHANGE_ID`, are not sent.
pub const RPCS: [&str; 40] = [
    "ACCESS",
    "CLOSE",
    "COMMIT",
    "CREATE",
    "DELEGRETURN",
    "FSINFO",
    "FSSTAT",
    "FS_LOCATIONS",
    "GETACL",
    "GETATTR",
    "LINK",
    "LOCK",
    "LOCKT",
    "LOCKU",
    "LOOKUP",
    "LOOKUP_ROOT",
    "MKDIR",
    "MKNOD",
    "NULL",
    "OPEN",
    "OPEN_CONFIRM",
    "OPEN_DOWNGRADE",
    "OPEN_NOATTR",
    "PATHCONF",
    "READ",
    "READDIR",
    "READDIRPLUS",
    "READLINK",
    "REMOVE",
    "RENAME",
    "RENEW",
    "RMDIR",
    "SERVER_CAPS",
    "SETACL",
    "SETATTR",
    "SETCLIENTID",
    "SETCLIENTID_CONFIRM",
    "STATFS",
    "SYMLINK",
    "WRITE",
];

/// Which NFS mounts to report (Diamond's `include_filters` and `exclude_filters`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep only mount points matching this; `None` keeps all.
    pub include: Option<Regex>,
    /// Skip mount points matching this; `None` skips none.
    pub exclude: Option<Regex>,
}

impl Filter {
    /// A filter from lists of patterns, each anchored at the start of the mount point.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, regex::Error> {
        fn any_of(patterns: &[String]) -> Result<Option<Regex>, regex::Error> {
            if patterns.is_empty() {
                return Ok(None);
            }
            let alternatives: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
            Regex::new(&format!("^(?:{})", alternatives.join("|"))).map(Some)
        }
        Ok(Self {
            include: any_of(include)?,
            exclude: any_of(exclude)?,
        })
    }

    /// Whether the mount at `mount_point` (as the kernel prints it) is reported.
    pub fn keeps(&self, mount_point: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|r| r.is_match(mount_point));
        let excluded = self
            .exclude
            .as_ref()
            .is_some_and(|r| r.is_match(mount_point));
        included && !excluded
    }
}

/// The counters of one NFS mount, named below `mountstats.<name>.`, in output order.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub name: String,
    pub counters: Vec<(String, u64)>,
}

/// Diamond's name for a mount point: `.` and `/` become `_`.
pub fn mount_name(mount_point: &str) -> String {
    mount_point.replace(['.', '/'], "_")
}

/// Parses the text of `/proc/self/mountstats`, keeping the NFS mounts `filter` keeps.
/// When two mounts get the same name (one mounted over the other), the later one,
/// the one in sight, is kept.
pub fn parse(text: &str, filter: &Filter) -> Result<Vec<Mount>, String> {
    let MountStats(mounts) = MountStats::from_read(text.as_bytes()).map_err(|e| e.to_string())?;
    let xprts = xprt_lines(text);
    if xprts.len() != mounts.len() {
        return Err(format!(
            "{} device lines, but {} mounts parsed (an NFS block not ended by an empty line?)",
            xprts.len(),
            mounts.len()
        ));
    }
    let mut out: Vec<Mount> = Vec::new();
    for (m, xprt) in mounts.iter().zip(&xprts) {
        let Some(nfs) = &m.statistics else {
            continue;
        };
        let mount_point = m.mount_point.to_string_lossy();
        if !filter.keeps(&mount_point) {
            continue;
        }
        let name = mount_name(&mount_point);
        let counters = counters(nfs, xprt).map_err(|e| format!("{mount_point}: {e}"))?;
        out.retain(|o| o.name != name);
        out.push(Mount { name, counters });
    }
    Ok(out)
}

/// The counters of one NFS block, in Diamond's order: events, bytes, xprt, rpc.
fn counters(nfs: &MountNFSStatistics, xprt: &[&str]) -> Result<Vec<(String, u64)>, String> {
    let mut c = Vec::with_capacity(EVENTS.len() + BYTES.len() + 20 + 3 * 30);
    for (name, v) in EVENTS.iter().zip(event_values(&nfs.events)) {
        c.push((format!("events.{name}"), v));
    }
    let b = &nfs.bytes;
    let bytes = [
        b.normal_read,
        b.normal_write,
        b.direct_read,
        b.direct_write,
        b.server_read,
        b.server_write,
    ];
    for (name, v) in BYTES.iter().zip(bytes) {
        c.push((format!("bytes.{name}"), v));
    }
    xprt_counters(xprt, &mut c)?;
    for op in RPCS {
        if let Some(s) = nfs.per_op_stats.get(op) {
            let op = op.to_ascii_lowercase();
            let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            c.push((format!("rpc.{op}.ops"), s.operations));
            c.push((format!("rpc.{op}.rtt"), ms(s.cum_resp_time)));
            c.push((format!("rpc.{op}.exe"), ms(s.cum_total_req_time)));
        }
    }
    Ok(c)
}

/// The text after `xprt:` of each `device` block, in file order (one list per
/// `device` line, as procfs makes one mount per `device` line).
///
/// Read here because procfs 0.17's `MountNFSStatistics` skips the `xprt:` line.
fn xprt_lines(text: &str) -> Vec<Vec<&str>> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("device ") {
            blocks.push(Vec::new());
        } else if let Some(rest) = line.trim_start().strip_prefix("xprt:") {
            if let Some(b) = blocks.last_mut() {
                b.push(rest);
            }
        }
    }
    blocks
}

/// The `xprt.<proto>.<name>` counters of a block's `xprt:` lines. A mount with
/// several transports of one protocol (`nconnect=`, session trunking) has one
/// line each; their numbers are added (Diamond would send each under the same
/// name). A protocol Diamond has no names for (`local`) is not sent; a line
/// shorter than Diamond's list sends the numbers it has.
fn xprt_counters(lines: &[&str], out: &mut Vec<(String, u64)>) -> Result<(), String> {
    let mut sums: Vec<(&str, &[&str], Vec<u64>)> = Vec::new();
    for line in lines {
        let mut fields = line.split_whitespace();
        let Some(proto) = fields.next() else {
            continue;
        };
        let names: &[&str] = match proto {
            "tcp" => &XPRT_TCP,
            "udp" => &XPRT_UDP,
            "rdma" => &XPRT_RDMA,
            _ => continue,
        };
        let values = fields
            .take(names.len())
            .map(|f| {
                f.parse::<u64>().or_else(|_| match f.parse::<i64>() {
                    // idle_time is signed in the kernel; a negative one counts as 0.
                    Ok(_) => Ok(0),
                    Err(_) => Err(format!("xprt: {f:?} is not a number")),
                })
            })
            .collect::<Result<Vec<u64>, String>>()?;
        match sums.iter_mut().find(|(p, _, _)| *p == proto) {
            Some((_, _, sum)) => {
                for (s, v) in sum.iter_mut().zip(&values) {
                    *s = s.saturating_add(*v);
                }
                sum.truncate(values.len());
            }
            None => sums.push((proto, names, values)),
        }
    }
    for (proto, names, values) in sums {
        for (name, v) in names.iter().zip(values) {
            out.push((format!("xprt.{proto}.{name}"), v));
        }
    }
    Ok(())
}

/// Reads `<root>/proc/self/mountstats`; a missing file reads as no mounts.
pub fn read(root: &Path, filter: &Filter) -> Result<Vec<Mount>, CollectError> {
    let path = root.join(REL);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CollectError::Read {
                collector: Collector::Mountstats,
                path,
                source,
            })
        }
    };
    // A mount point is printed as the kernel holds it, which need not be UTF-8.
    let text = String::from_utf8_lossy(&bytes);
    parse(&text, filter).map_err(|m| parse_error(root, REL, Collector::Mountstats, m))
}

pub fn points(prev: Option<&[Mount]>, cur: &[Mount], elapsed: f64, out: &mut Vec<Point>) {
    let Some(prev) = rate_base(prev, elapsed) else {
        return;
    };
    for m in cur {
        let Some(p) = prev.iter().find(|p| p.name == m.name) else {
            continue;
        };
        let old: HashMap<&str, u64> = p.counters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for (key, new) in &m.counters {
            let Some(&o) = old.get(key.as_str()) else {
                continue;
            };
            out.push(Point::new(
                format!("mountstats.{}.{key}", m.name),
                delta(o, *new) as f64 / elapsed,
                0,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One NFS block with events 1..=27, bytes 101..=108, the given xprt lines and per-op lines.
    fn block(mount_point: &str, xprt: &[&str], ops: &[&str]) -> String {
        let events: Vec<String> = (1..=27).map(|i| i.to_string()).collect();
        let bytes: Vec<String> = (101..=108).map(|i| i.to_string()).collect();
        let mut s = format!(
            "device srv:/e mounted on {mount_point} with fstype nfs4 statvers=1.1\n\
             \topts:\trw,vers=4.2\n\tage:\t10\n\tcaps:\tcaps=0x3ffbffff\n\tsec:\tflavor=1\n\
             \tevents:\t{} \n\tbytes:\t{} \n\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)\n",
            events.join(" "),
            bytes.join(" ")
        );
        for x in xprt {
            s.push_str("\txprt:\t");
            s.push_str(x);
            s.push('\n');
        }
        s += "\tper-op statistics\n";
        for o in ops {
            s.push('\t');
            s.push_str(o);
            s.push('\n');
        }
        s + "\n"
    }

    fn counter(m: &Mount, key: &str) -> Option<u64> {
        m.counters.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    #[test]
    fn names_events_by_diamond_position() {
        let text = block("/a", &[], &[]);
        let m = &parse(&text, &Filter::default()).unwrap()[0];
        assert_eq!(m.name, "_a");
        // The kernel's n-th counter under Diamond's n-th name: only 23 of 27 are sent.
        for (i, name) in EVENTS.iter().enumerate() {
            assert_eq!(counter(m, &format!("events.{name}")), Some(i as u64 + 1));
        }
        assert_eq!(counter(m, "events.syncinodes"), Some(5));
        assert_eq!(counter(m, "events.delay"), Some(23));
        let keys: Vec<&str> = m.counters.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 23 + 6);
        assert_eq!(counter(m, "bytes.serverwritebytes"), Some(106));
    }

    #[test]
    fn xprt_lines_by_protocol() {
        let text = block(
            "/t",
            &[
                // nconnect=2: two TCP transports, added (the second in the older
                // ten-number layout; Diamond's nine names fit both).
                "tcp 700 1 1 5 -2 100 99 1 400 0 2 0 0",
                "tcp 701 1 2 6 3 50 50 0 200 0",
                "local 1 1 1 0 1 2 2 0 0 0", // AF_LOCAL: Diamond has no names
                "rdma 0 1 1 0 0 10 10 0 11 12 13 14 15 16 17 18 19 20 21 22 23",
                "udp 1 2 3 x",
            ],
            &[],
        );
        let err = parse(&text, &Filter::default()).unwrap_err();
        assert!(err.contains("/t: xprt: \"x\" is not a number"), "{err}");
        let text = text.replace("udp 1 2 3 x", "udp 900 1 30 29");
        let m = &parse(&text, &Filter::default()).unwrap()[0];
        let tcp: Vec<(&str, u64)> = m
            .counters
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("xprt.tcp.")?, *v)))
            .collect();
        assert_eq!(
            tcp,
            [
                ("port", 1401),
                ("bind_count", 2),
                ("connect_count", 3),
                ("connect_time", 11),
                ("idle_time", 3), // the negative one counts as 0
                ("rpcsends", 150),
                ("rpcreceives", 149),
                ("badxids", 1),
                ("backlogutil", 600), // req_u
            ]
        );
        assert!(!m.counters.iter().any(|(k, _)| k.starts_with("xprt.local")));
        assert_eq!(counter(m, "xprt.rdma.backlogutil"), Some(11));
        assert_eq!(counter(m, "xprt.rdma.read_chunks"), Some(12));
        assert_eq!(counter(m, "xprt.rdma.bad_reply"), Some(21));
        assert_eq!(counter(m, "xprt.rdma.port"), Some(0));
        // A short udp line sends the numbers it has.
        let udp: Vec<&str> = m
            .counters
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("xprt.udp."))
            .collect();
        assert_eq!(udp, ["port", "bind_count", "rpcsends", "rpcreceives"]);
    }

    #[test]
    fn only_diamonds_procedures() {
        let ops = [
            "        READ: 10 10 0 1000 900000 1 70 80 0",
            "    SEQUENCE: 99 99 0 9 9 0 9 9 0",
            " READDIRPLUS: 3 3 0 30 3000 0 5 6",
            "OPEN_DOWNGRADE: 1 1 0 1 1 0 2 3 0",
        ];
        let m = &parse(&block("/o", &[], &ops), &Filter::default()).unwrap()[0];
        let rpc: Vec<(&str, u64)> = m
            .counters
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("rpc.")?, *v)))
            .collect();
        assert_eq!(
            rpc,
            [
                ("open_downgrade.ops", 1),
                ("open_downgrade.rtt", 2),
                ("open_downgrade.exe", 3),
                ("read.ops", 10),
                ("read.rtt", 70),
                ("read.exe", 80),
                ("readdirplus.ops", 3),
                ("readdirplus.rtt", 5),
                ("readdirplus.exe", 6),
            ]
        );
    }

    #[test]
    fn skips_other_mounts_and_keeps_the_top_of_a_stack() {
        let text = format!(
            "device /dev/sda1 mounted on / with fstype ext4\n{}device tmpfs mounted on /run with fstype tmpfs\n{}",
            block("/n.1", &["tcp 1 1 1 1 1 1 1 1 1"], &[]),
            block("/n_1", &["tcp 2 2 2 2 2 2 2 2 2"], &[]),
        );
        let mounts = parse(&text, &Filter::default()).unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].name, "_n_1");
        assert_eq!(counter(&mounts[0], "xprt.tcp.port"), Some(2));
        assert_eq!(parse("", &Filter::default()).unwrap(), []);
    }

    #[test]
    fn a_block_without_its_empty_line_is_an_error_not_a_lost_mount() {
        let text = block("/a", &[], &[]).replace("\n\n", "\n")
            + "device /dev/sdb mounted on /b with fstype xfs\n";
        assert!(parse(&text, &Filter::default()).is_err());
    }

    #[test]
    fn rates_per_second_and_counter_resets() {
        let m = |v: u64| Mount {
            name: "_m".into(),
            counters: vec![
                ("bytes.normalreadbytes".into(), v),
                ("events.delay".into(), 7),
            ],
        };
        let mut out = Vec::new();
        points(Some(&[m(1000)]), &[m(3500)], 10.0, &mut out);
        assert_eq!(
            out,
            [
                Point::new("mountstats._m.bytes.normalreadbytes", 250.0, 0),
                Point::new("mountstats._m.events.delay", 0.0, 0),
            ]
        );
        out.clear();
        // Remounted: the counters start again from 0.
        points(Some(&[m(3500)]), &[m(20)], 10.0, &mut out);
        assert_eq!(
            out[0],
            Point::new("mountstats._m.bytes.normalreadbytes", 0.0, 0)
        );
        // A mount new since the previous reading waits for the next one.
        out.clear();
        let other = Mount {
            name: "_other".into(),
            ..m(1)
        };
        points(Some(&[m(1)]), &[other], 10.0, &mut out);
        assert!(out.is_empty());
    }
}
