//! The local series: every `a/b/c.wsp` under `<data-dir>/whisper`, named `a.b.c`.
//!
//! The same reading of the tree as the server's start-up scan (both go through
//! [`crate::storage::index::walk_tree`]), without the scan's side effect: this walk removes nothing
//! (the scan deletes temporary files of crashed creates, which, with a server running
//! next to rebalance, could be that server's create in progress). Temporary and hidden
//! files (`.name…`) are passed over, files under `_tagged/` are counted and not named
//! (their names are hashes: see the rebalance module doc), and entries that are not valid
//! UTF-8 are counted as skipped.

use std::path::{Path, PathBuf};

use crate::storage::index::{walk_tree, TreeEntry};

/// One local series file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    pub path: PathBuf,
}

/// What the walk found besides series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// Series files, sorted by name.
    pub series: Vec<Series>,
    /// `.wsp` files under `_tagged/`.
    pub tagged: usize,
    /// Entries that could not be read or whose names are not UTF-8.
    pub skipped: usize,
}

/// Walks `whisper_dir` (a missing directory holds nothing).
pub fn walk(whisper_dir: &Path) -> Walk {
    let mut out = Walk::default();
    let counts = walk_tree(whisper_dir, |entry| match entry {
        TreeEntry::Tagged(dir) => out.tagged += count_wsp(dir),
        TreeEntry::File(f) => {
            if let (true, Some(name)) = (f.file_type.is_file(), f.series) {
                out.series.push(Series {
                    name: name.to_owned(),
                    path: f.path.to_path_buf(),
                });
            }
        }
    });
    out.skipped = counts.skipped;
    out.series.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `.wsp` files anywhere under `dir`.
fn count_wsp(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() && e.path().extension().is_some_and(|x| x == "wsp") => {
                    n += 1;
                }
                _ => {}
            }
        }
    }
    n
}

/// Removes `path`, then its parent directories up to (not including) `root` while they
/// are empty. A directory another process has just put a file in stays (`rmdir` refuses
/// a non-empty directory).
pub fn remove(path: &Path, root: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_the_tree_and_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        for f in [
            "a/b/c.wsp",
            "a/d.wsp",
            "top.wsp",
            "a/b/.c.wsp.77.tmp",
            "a/b/.lonsdaleite-1-2.tmp",
            "a/notes.txt",
            "_tagged/abc/def/abcdef.wsp",
            "_tagged/abc/def/abcdee.wsp",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
        }
        let w = walk(&root);
        let names: Vec<&str> = w.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a.b.c", "a.d", "top"]);
        assert_eq!(w.series[0].path, root.join("a/b/c.wsp"));
        assert_eq!(w.tagged, 2);
        assert!(root.join("a/b/.lonsdaleite-1-2.tmp").exists());
        assert_eq!(walk(&dir.path().join("absent")), Walk::default());

        // Removal takes empty parents up to the root, and no further.
        remove(&root.join("a/b/c.wsp"), &root).unwrap();
        assert!(root.join("a/b").exists(), "a/b still holds temporary files");
        std::fs::remove_file(root.join("a/b/.c.wsp.77.tmp")).unwrap();
        std::fs::remove_file(root.join("a/b/.lonsdaleite-1-2.tmp")).unwrap();
        std::fs::write(root.join("a/b/x.wsp"), b"").unwrap();
        remove(&root.join("a/b/x.wsp"), &root).unwrap();
        assert!(!root.join("a/b").exists());
        assert!(root.join("a").exists(), "a holds d.wsp");
        remove(&root.join("top.wsp"), &root).unwrap();
        assert!(root.exists());
    }
}
