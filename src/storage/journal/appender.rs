//! The journal at run time: appends from the shard's hot path, the task that writes them
//! through glommio (io_uring), rotation, deletion of committed segments, and the replay at
//! start. The contract is in the parent module's documentation.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::io::BufferedFile;

use super::record::{Header, SegmentEncoder, SegmentReader, HEADER_BYTES};
use super::{list_segments, segment_path};
use crate::config::JournalLevel;
use crate::storage::shard_store::ShardStore;
use crate::storage::stats::{bump, StoreStats};

/// Past this many bytes waiting to be written, TCP receivers pause (the disk is slower
/// than the senders).
const BACKLOG_PAUSE: usize = 32 << 20;
/// Room kept free under `journal_max_bytes` when TCP receivers pause: what one 64 KiB read
/// of short carbon lines can add, so a paused TCP sender loses nothing (at least 10 % of
/// the budget, at most half of it).
const PAUSE_ROOM: u64 = 256 << 10;
/// How often an idle journal looks for segments to delete.
const IDLE_TICK: Duration = Duration::from_millis(500);

/// One shard's journal: the open record and segment, and what is on disk.
pub struct Journal {
    dir: PathBuf,
    header: Header,
    level: JournalLevel,
    sync_every: Duration,
    segment_bytes: u64,
    enc: RefCell<SegmentEncoder>,
    /// The segment the open record belongs to.
    seg: Cell<u64>,
    /// Bytes of that segment once every closed record is written (header included).
    seg_bytes: Cell<u64>,
    /// Carbon points in the open record: counted as received once it is written.
    received: Cell<u64>,
    bell: LocalSender<()>,
    rings: RefCell<Option<LocalReceiver<()>>>,
    /// Segments on disk, with their size.
    on_disk: RefCell<BTreeMap<u64, u64>>,
    /// Their total.
    disk_bytes: Cell<u64>,
    /// Bytes of the record being written (a segment header included).
    writing: Cell<u64>,
    /// `journal_max_bytes` (0: no budget).
    max_bytes: u64,
    /// Set at shutdown: write what is left, then end.
    closing: Cell<bool>,
    stats: Arc<StoreStats>,
}

impl Journal {
    /// A journal for shard `shard` of `shards` in `dir`, starting at segment `next_seq`,
    /// with the segments a [`replay`] left on disk.
    pub fn new(
        dir: PathBuf,
        (shard, shards): (usize, usize),
        config: &crate::config::StorageConfig,
        replayed: &Replayed,
        stats: Arc<StoreStats>,
    ) -> Rc<Self> {
        let (bell, rings) = local_channel::new_bounded(1);
        let j = Rc::new(Self {
            dir,
            header: Header {
                shard: shard as u32,
                shards: shards as u32,
            },
            level: config.journal,
            sync_every: config.journal_sync_interval,
            segment_bytes: config.journal_segment_bytes as u64,
            enc: RefCell::default(),
            seg: Cell::new(replayed.next_seq),
            seg_bytes: Cell::new(HEADER_BYTES as u64),
            received: Cell::new(0),
            bell,
            rings: RefCell::new(Some(rings)),
            on_disk: RefCell::new(replayed.on_disk.clone()),
            disk_bytes: Cell::new(0),
            writing: Cell::new(0),
            max_bytes: config.journal_max_bytes as u64,
            closing: Cell::new(false),
            stats,
        });
        j.publish();
        j
    }

    /// The segment a point appended now goes to.
    pub fn segment(&self) -> u64 {
        self.seg.get()
    }

    /// Append a point to the open record; `received`: a carbon point, counted as received
    /// once written.
    pub fn append(&self, name: &[u8], ts: i64, value: f64, received: bool) {
        let mut enc = self.enc.borrow_mut();
        if enc.pending() == 0 {
            // Wake the journal task (a full channel means it is already rung).
            let _ = self.bell.try_send(());
        }
        enc.push(name, ts, value);
        if received {
            self.received.set(self.received.get() + 1);
        }
    }

    /// Bytes on disk and waiting to be written.
    fn used(&self) -> u64 {
        self.disk_bytes.get() + self.writing.get() + self.enc.borrow().pending_bytes() as u64
    }

    /// True while more is waiting to be written than the disk keeps up with, or the
    /// journal is near its budget (see [`PAUSE_ROOM`]): TCP receivers pause.
    pub fn is_behind(&self) -> bool {
        let max = self.max_bytes;
        let room = PAUSE_ROOM.max(max / 10).min(max / 2);
        self.enc.borrow().pending_bytes() > BACKLOG_PAUSE || (max > 0 && self.used() + room >= max)
    }

    /// True when a point of `name` would take the journal past its budget: it is refused
    /// (and counted).
    pub fn is_full(&self, name: &[u8]) -> bool {
        // A point takes at most 8 + 10 + 10 bytes, its name's definition 10 + its length.
        self.max_bytes > 0 && self.used() + 38 + name.len() as u64 > self.max_bytes
    }

    /// Write what is left and end the journal task (at shutdown, after the writer).
    pub fn close(&self) {
        self.closing.set(true);
        let _ = self.bell.try_send(());
    }

    /// Close the open record: its bytes, its segment and its carbon points. Starts a new
    /// segment for the next points when this one is full.
    fn take_record(&self) -> Option<(u64, Vec<u8>, u64)> {
        let mut enc = self.enc.borrow_mut();
        if enc.pending() == 0 {
            return None;
        }
        let points = enc.pending();
        let mut bytes = Vec::with_capacity(enc.pending_bytes());
        enc.finish_record(&mut bytes);
        bump(&self.stats.journal.points, points);
        let seg = self.seg.get();
        let size = self.seg_bytes.get() + bytes.len() as u64;
        if size >= self.segment_bytes {
            self.seg.set(seg + 1);
            self.seg_bytes.set(HEADER_BYTES as u64);
            enc.new_segment();
        } else {
            self.seg_bytes.set(size);
        }
        self.writing.set((bytes.len() + HEADER_BYTES) as u64);
        Some((seg, bytes, self.received.replace(0)))
    }

    /// Begin a new segment at the next point (the open one is wholly committed and goes).
    fn skip_segment(&self) {
        self.seg.set(self.seg.get() + 1);
        self.seg_bytes.set(HEADER_BYTES as u64);
        self.enc.borrow_mut().new_segment();
    }

    fn publish(&self) {
        let d = self.on_disk.borrow();
        let s = &self.stats.journal;
        let bytes = d.values().sum::<u64>();
        self.disk_bytes.set(bytes);
        s.segments.store(d.len() as u64, Ordering::Relaxed);
        s.bytes_on_disk.store(bytes, Ordering::Relaxed);
    }

    /// Delete the segments before `keep_from` (all are committed).
    fn delete_before(&self, keep_from: u64) {
        let gone: Vec<u64> = self
            .on_disk
            .borrow()
            .range(..keep_from)
            .map(|(s, _)| *s)
            .collect();
        for seq in gone {
            let path = segment_path(&self.dir, seq);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "journal: cannot remove a committed segment; it will be replayed again at the next start (harmless, but remove it by hand)");
                }
            }
            self.on_disk.borrow_mut().remove(&seq);
        }
        self.publish();
    }
}

/// The segment file being appended to.
struct OpenSegment {
    seq: u64,
    file: BufferedFile,
    pos: u64,
}

/// The journal task of a shard: writes each record as it fills (one write in flight),
/// syncs with `power`, and deletes what the cache no longer needs. Ends after
/// [`Journal::close`], removing every segment when the cache was wholly written.
pub async fn journal_loop(j: Rc<Journal>, store: Rc<ShardStore>) {
    let Some(rings) = j.rings.borrow_mut().take() else {
        return;
    };
    let mut open: Option<OpenSegment> = None;
    let mut unsynced = false;
    let mut last_sync = Instant::now();
    let mut last_error: Option<Instant> = None;
    let tick = match j.level {
        JournalLevel::Power => j.sync_every.min(IDLE_TICK),
        _ => IDLE_TICK,
    };
    loop {
        if j.enc.borrow().pending() == 0 && !j.closing.get() {
            futures_lite::future::or(
                async {
                    rings.recv().await;
                },
                glommio::timer::sleep(tick),
            )
            .await;
        }
        if let Some((seq, bytes, received)) = j.take_record() {
            let n = bytes.len() as u64;
            // A failed write is retried until it succeeds: its points are not counted as
            // received meanwhile, and the receivers pause once the backlog is large.
            loop {
                match write_record(&j, &mut open, seq, &bytes).await {
                    Ok(()) => break,
                    Err(e) => {
                        bump(&j.stats.journal.write_errors, 1);
                        if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            last_error = Some(Instant::now());
                            tracing::error!(dir = %j.dir.display(), error = %e, "journal: write failed; retrying (points wait to count as received)");
                        }
                        open = None;
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            j.writing.set(0);
            bump(&j.stats.journal.bytes_written, n);
            bump(&j.stats.metrics_received, received);
            unsynced = true;
        }
        if j.level == JournalLevel::Power
            && unsynced
            && (last_sync.elapsed() >= j.sync_every || j.closing.get())
        {
            if let Some(o) = &open {
                if let Err(e) = o.file.fdatasync().await {
                    tracing::error!(error = %e, "journal: fdatasync failed");
                    bump(&j.stats.journal.write_errors, 1);
                }
            }
            unsynced = false;
            last_sync = Instant::now();
        }
        let (oldest, nothing_pending) = {
            let cache = store.cache.borrow();
            (cache.oldest_segment(), j.enc.borrow().pending() == 0)
        };
        match oldest {
            Some(oldest) => j.delete_before(oldest.min(j.segment())),
            None if nothing_pending => {
                // Every point journaled so far is in whisper: the open segment goes too.
                if open.as_ref().is_some_and(|o| o.seq == j.segment()) {
                    open = None;
                    j.skip_segment();
                }
                j.delete_before(j.segment());
            }
            None => j.delete_before(j.segment()),
        }
        if j.closing.get() && j.enc.borrow().pending() == 0 {
            break;
        }
    }
    if let Some(o) = open.take() {
        let _ = o.file.close().await;
    }
    let left = j.on_disk.borrow().len();
    if left > 0 {
        tracing::warn!(
            segments = left,
            dir = %j.dir.display(),
            "journal: points not yet in whisper stay in the journal; the next start replays them"
        );
    }
}

/// Append `bytes` to segment `seq`, creating its file (with the header) first if needed.
async fn write_record(
    j: &Journal,
    open: &mut Option<OpenSegment>,
    seq: u64,
    bytes: &[u8],
) -> std::io::Result<()> {
    if open.as_ref().is_none_or(|o| o.seq != seq) {
        if let Some(old) = open.take() {
            if j.level == JournalLevel::Power {
                old.file.fdatasync().await.map_err(std::io::Error::from)?;
            }
            let _ = old.file.close().await;
        }
        let path = segment_path(&j.dir, seq);
        let written = j.on_disk.borrow().get(&seq).copied();
        let (file, pos) = if let Some(pos) = written {
            // Reopened after a failed write: cut what that write may have left.
            let file = BufferedFile::open(&path).await?;
            file.truncate(pos).await?;
            (file, pos)
        } else {
            std::fs::create_dir_all(&j.dir)?;
            let file = BufferedFile::create(&path).await?;
            write_all(&file, &j.header.encode(), 0).await?;
            if j.level == JournalLevel::Power {
                // The new name must survive a power loss too (once per segment).
                std::fs::File::open(&j.dir)?.sync_all()?;
            }
            j.on_disk.borrow_mut().insert(seq, HEADER_BYTES as u64);
            (file, HEADER_BYTES as u64)
        };
        *open = Some(OpenSegment { seq, file, pos });
    }
    let Some(o) = open.as_mut() else {
        return Ok(());
    };
    write_all(&o.file, bytes, o.pos).await?;
    o.pos += bytes.len() as u64;
    j.on_disk.borrow_mut().insert(seq, o.pos);
    j.publish();
    Ok(())
}

async fn write_all(file: &BufferedFile, bytes: &[u8], mut pos: u64) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = file.write_at(rest.to_vec(), pos).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "the journal write wrote nothing",
            ));
        }
        rest = &rest[n..];
        pos += n as u64;
    }
    Ok(())
}

/// What a replay left: the segments still on disk and where new ones start.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    pub on_disk: BTreeMap<u64, u64>,
    pub next_seq: u64,
    pub points: u64,
}

/// Put every point of shard `shard`'s segments in `dir` back into its cache (oldest
/// first, each under its segment), waiting for the writer when the cache is nearly full.
pub async fn replay(dir: &std::path::Path, shard: usize, store: &ShardStore) -> Replayed {
    let started = Instant::now();
    let stats = &store.stats.journal;
    let mut out = Replayed {
        next_seq: 1,
        ..Replayed::default()
    };
    let segments = match list_segments(dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "journal: cannot list the segments; nothing replayed");
            return out;
        }
    };
    let total = segments.len();
    let mut last_report = Instant::now();
    let mut buf = Vec::new();
    for (i, (seq, path)) in segments.into_iter().enumerate() {
        out.next_seq = out.next_seq.max(seq + 1);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "journal: cannot read a segment; its points are not replayed (it is kept)");
                continue;
            }
        };
        let mut reader = match SegmentReader::new(&bytes) {
            Ok(r) => r,
            Err(d) => {
                set_aside(&path, &d.to_string());
                bump(&stats.damaged_segments, 1);
                bump(&stats.cut_bytes, bytes.len() as u64);
                continue;
            }
        };
        out.on_disk.insert(seq, bytes.len() as u64);
        loop {
            match reader.next_record(&mut buf) {
                Ok(true) => {}
                Ok(false) => break,
                Err(d) => {
                    bump(&stats.damaged_segments, 1);
                    let cut = bytes.len() - d.offset;
                    bump(&stats.cut_bytes, cut as u64);
                    tracing::warn!(file = %path.display(), damage = %d, cut_bytes = cut, "journal: segment read up to a damaged record; the rest of it is lost (a write cut by a crash leaves this at the end of the last segment)");
                    break;
                }
            }
            for &(id, ts, v) in &buf {
                let name = reader.name(id);
                while !store.add_replayed(seq, name, ts, v) {
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
            out.points += buf.len() as u64;
            bump(&stats.replayed_points, buf.len() as u64);
            while store.should_pause() {
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            if last_report.elapsed() >= Duration::from_secs(2) {
                last_report = Instant::now();
                eprintln!(
                    "journal: shard {shard}: {} points replayed, segment {}/{total}",
                    out.points,
                    i + 1
                );
            }
        }
    }
    let ms = started.elapsed().as_millis() as u64;
    stats.replay_ms.store(ms, Ordering::Relaxed);
    stats.replays_done.store(1, Ordering::Relaxed);
    if out.points > 0 || total > 0 {
        tracing::info!(
            shard,
            points = out.points,
            segments = total,
            ms,
            "journal replayed into the cache"
        );
    }
    out
}

/// Move a segment whose header cannot be read out of the way (`*.jrnl.damaged`).
fn set_aside(path: &std::path::Path, why: &str) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".damaged");
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::error!(file = %path.display(), damage = why, "journal: unreadable segment header; moved aside, nothing replayed from it");
        }
        Err(e) => {
            tracing::error!(file = %path.display(), damage = why, error = %e, "journal: unreadable segment header, and it cannot be moved aside; remove it by hand");
        }
    }
}
