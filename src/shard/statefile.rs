//! The StatsD state files: `<data-dir>/statsd-state/shard-<id>.state`.
//!
//! Each shard writes its [`Snapshot`] at shutdown ([`save`]: a temporary file, fsync,
//! rename over the final name, fsync of the directory, so a file is either whole or
//! absent). The next start reads every state file whatever shard count wrote them
//! ([`load`]), groups the snapshots by the boundary they belong to, hands each key to its
//! owner under the new shard count, and removes the files once the shards hold them
//! ([`Loaded::consume`]). A file that is damaged, cut short, of another version or not
//! ours is logged and moved to `statsd-state/set-aside/`, never fatal.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::aggregate::snapshot::Snapshot;

/// The directory under the data directory.
pub const DIR: &str = "statsd-state";
/// Where refused files are moved.
const SET_ASIDE: &str = "set-aside";
const EXTENSION: &str = "state";

/// The file of shard `id`.
pub fn path(data_dir: &Path, id: usize) -> PathBuf {
    data_dir.join(DIR).join(format!("shard-{id}.{EXTENSION}"))
}

/// Write shard `id`'s snapshot atomically; returns the file and its size.
pub fn save(data_dir: &Path, id: usize, snap: &Snapshot) -> std::io::Result<(PathBuf, usize)> {
    let dir = data_dir.join(DIR);
    std::fs::create_dir_all(&dir)?;
    let bytes = snap.encode();
    let path = path(data_dir, id);
    let tmp = dir.join(format!(".shard-{id}.{EXTENSION}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok((path, bytes.len()))
}

/// What a start found in the state directory.
#[derive(Default)]
pub struct Loaded {
    /// Per shard (index = shard id), its snapshots in ascending boundary order.
    pub per_shard: Vec<Vec<Snapshot>>,
    /// The files read (removed by [`consume`](Self::consume)).
    files: Vec<PathBuf>,
    /// Keys restored, over all files.
    pub keys: usize,
}

impl Loaded {
    /// Remove the files that were read: their content now lives in the shards, which save
    /// it again at the next shutdown (under the new shard count's file names).
    pub fn consume(&mut self) {
        for f in self.files.drain(..) {
            if let Err(e) = std::fs::remove_file(&f) {
                tracing::error!(file = %f.display(), error = %e, "statsd state: cannot remove a restored file; remove it by hand, or the next start restores it again");
            }
        }
    }
}

/// Read every state file under `data_dir` and split it over `shards` shards by `owner`.
pub fn load(data_dir: &Path, shards: usize, owner: impl Fn(&[u8]) -> usize) -> Loaded {
    let dir = data_dir.join(DIR);
    let mut loaded = Loaded {
        per_shard: (0..shards.max(1)).map(|_| Vec::new()).collect(),
        ..Loaded::default()
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return loaded;
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    // One snapshot per (boundary, interval), in ascending boundary order.
    let mut groups: Vec<Snapshot> = Vec::new();
    for file in names {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') && file.extension().is_some_and(|e| e == "tmp") {
            // A save cut short by a crash: the previous file (if any) is still whole.
            let _ = std::fs::remove_file(&file);
            continue;
        }
        if !file.is_file() || !name.ends_with(&format!(".{EXTENSION}")) {
            continue;
        }
        let snap = match std::fs::read(&file) {
            Ok(bytes) => Snapshot::decode(&bytes).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match snap {
            Ok(snap) => {
                loaded.keys += snap.len();
                loaded.files.push(file);
                let at = groups.iter().position(|g| {
                    (g.boundary_ms, g.interval_ms) == (snap.boundary_ms, snap.interval_ms)
                });
                match at {
                    Some(i) => groups[i].absorb(snap),
                    None => groups.push(snap),
                }
            }
            Err(reason) => set_aside(&dir, &file, &reason),
        }
    }
    groups.sort_by_key(|g| g.boundary_ms);
    for group in groups {
        for (id, part) in group.split(shards, &owner).into_iter().enumerate() {
            if !part.is_empty() {
                loaded.per_shard[id].push(part);
            }
        }
    }
    loaded
}

fn set_aside(dir: &Path, file: &Path, reason: &str) {
    let aside = dir.join(SET_ASIDE);
    let stamp = crate::clock::now().as_secs();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = aside.join(format!("{name}.{stamp}"));
    let moved = std::fs::create_dir_all(&aside).and_then(|()| std::fs::rename(file, &to));
    match moved {
        Ok(()) => tracing::error!(
            file = %file.display(),
            moved_to = %to.display(),
            reason,
            "statsd state: file refused and set aside; its interval is not restored"
        ),
        Err(e) => tracing::error!(
            file = %file.display(),
            reason,
            error = %e,
            "statsd state: file refused and could not be moved aside; remove it by hand"
        ),
    }
}
