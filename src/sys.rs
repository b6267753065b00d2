//! Preflight: checks of the host made before any shard starts, each failing with the
//! exact setting to change.
//!
//! glommio locks memory for every executor's io_uring rings and buffers; when the
//! memlock limit is too low it fails only when the shard thread is joined, with an
//! opaque error. We check first and name the fix.

use crate::config::Config;

/// Locked memory an executor needs beyond its `io_memory`: three rings and their
/// submission/completion arrays, rounded up generously.
pub const RING_OVERHEAD: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "the memlock limit is {limit_kib} KiB but {shards} shard(s) need about {need_kib} KiB \
         ({io_kib} KiB `shard_io_memory` + {ring_kib} KiB io_uring rings each).\n\
         Fix one of: raise the limit (`ulimit -l {suggest_kib}` in this shell, `LimitMEMLOCK=` in the \
         systemd unit, or tuning/limits.d/lonsdaleite.conf), lower `shard_io_memory` in the config, \
         or run fewer shards (`--shards`)."
    )]
    Memlock {
        limit_kib: u64,
        need_kib: u64,
        shards: usize,
        io_kib: u64,
        ring_kib: u64,
        suggest_kib: u64,
    },
    #[error(
        "io_uring is disabled on this host (/proc/sys/kernel/io_uring_disabled = {0}).\n\
         Fix: `sysctl kernel.io_uring_disabled=0` (see tuning/sysctl.d/60-lonsdaleite.conf)."
    )]
    UringDisabled(String),
    #[error(
        "io_uring is not usable here: {0}.\nlonsdaleite needs Linux 5.8 or newer with io_uring \
         enabled; in a container, allow the io_uring_setup system call (seccomp profile)."
    )]
    UringUnavailable(std::io::Error),
}

/// Locked memory needed by `shards` executors with `io_memory` bytes each.
/// This host's name from the kernel, or `localhost` when it cannot be read or is empty.
pub fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name.to_owned()
    }
}

pub fn memlock_needed(shards: usize, io_memory: usize) -> u64 {
    shards as u64 * (io_memory as u64 + RING_OVERHEAD)
}

/// Compare a memlock limit (bytes; `None` = unlimited) with the need.
pub fn check_memlock(
    limit: Option<u64>,
    shards: usize,
    io_memory: usize,
) -> Result<(), PreflightError> {
    let need = memlock_needed(shards, io_memory);
    match limit {
        Some(l) if l < need => Err(PreflightError::Memlock {
            limit_kib: l / 1024,
            need_kib: need.div_ceil(1024),
            shards,
            io_kib: io_memory as u64 / 1024,
            ring_kib: RING_OVERHEAD / 1024,
            suggest_kib: need.div_ceil(1024).next_power_of_two(),
        }),
        _ => Ok(()),
    }
}

/// The soft `RLIMIT_MEMLOCK` of this process, in bytes (`None` = unlimited).
pub fn memlock_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut r) };
    if rc != 0 || r.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(r.rlim_cur)
    }
}

/// Run every check for `cfg`.
pub fn preflight(cfg: &Config) -> Result<(), PreflightError> {
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        let v = v.trim();
        if v == "2" {
            return Err(PreflightError::UringDisabled(v.to_owned()));
        }
    }
    io_uring::IoUring::new(2).map_err(PreflightError::UringUnavailable)?;
    check_memlock(memlock_limit(), cfg.shard_count(), cfg.shard_io_memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_fits_an_8_mib_limit_on_this_machine_size() {
        let cfg = Config::embedded();
        assert!(check_memlock(Some(8 << 20), 2, cfg.shard_io_memory).is_ok());
    }

    #[test]
    fn too_low_limit_names_the_settings() {
        let e = check_memlock(Some(64 << 10), 2, 1 << 20)
            .unwrap_err()
            .to_string();
        for needle in ["ulimit -l", "LimitMEMLOCK", "shard_io_memory", "--shards"] {
            assert!(e.contains(needle), "{needle} missing from: {e}");
        }
        assert!(check_memlock(None, 64, 1 << 30).is_ok());
    }
}
