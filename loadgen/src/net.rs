//! Batched UDP system calls (`sendmmsg`, `recvmmsg`) and the kernel's UDP drop counter.
//!
//! Contract: [`SendBatch`] owns one `mmsghdr` per pool packet, built once before the clock
//! starts; a send names a run of consecutive packets and the kernel reads them in place, so the
//! send loop copies nothing. [`RecvBatch`] owns the receive buffers of the sink. Both are
//! `!Send` (they hold raw pointers) and are built on the thread that uses them.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use crate::payload::Pool;

/// One `mmsghdr` per packet of a shared pool, for `sendmmsg` on a connected socket.
pub struct SendBatch {
    pool: Arc<Pool>,
    // `hdrs[i].msg_hdr.msg_iov` points at `iovs[i]`; `iovs[i]` points into `pool`.
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl SendBatch {
    /// Builds the headers for every packet of `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        let base = pool.bytes().as_ptr();
        let iovs: Vec<libc::iovec> = pool
            .packets()
            .iter()
            .map(|p| libc::iovec {
                // The kernel only reads through this pointer (sendmmsg), so casting away const
                // is sound; `p.start` is in bounds of the pool buffer.
                iov_base: base.wrapping_add(p.start).cast_mut().cast(),
                iov_len: p.len,
            })
            .collect();
        let mut batch = Self {
            pool,
            iovs,
            hdrs: Vec::new(),
        };
        let iov_base = batch.iovs.as_mut_ptr();
        batch.hdrs = (0..batch.iovs.len())
            .map(|i| {
                // SAFETY: mmsghdr is a plain C struct for which all-zero bytes are valid
                // (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov_base.wrapping_add(i);
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        batch
    }

    /// The pool the headers point into.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Sends packets `from..from + n` on the connected datagram socket `fd` with one
    /// `sendmmsg`. Returns how many were sent (the first `k`); an error means the packet at
    /// `from` was not sent.
    pub fn send(&mut self, fd: RawFd, from: usize, n: usize) -> io::Result<usize> {
        let n = n.min(self.hdrs.len().saturating_sub(from));
        if n == 0 {
            return Ok(0);
        }
        let hdrs = &mut self.hdrs[from..from + n];
        // SAFETY: `hdrs` is a live, exclusively borrowed slice of `n` initialised mmsghdr;
        // each points at one iovec in `self.iovs` (never reallocated after `new`), which points
        // into the pool buffer kept alive by `self.pool` and never mutated. The kernel reads
        // those and writes only `msg_len` of the `n` headers. No address is given (connected
        // socket), no control data.
        let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}

/// Receive buffers for `recvmmsg`: `slots` datagrams of up to `size` bytes per call.
pub struct RecvBatch {
    bufs: Vec<u8>,
    size: usize,
    // `hdrs[i]` points at `iovs[i]`, which points at `bufs[i * size..]`.
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    /// Buffers for `slots` datagrams of `size` bytes each.
    pub fn new(slots: usize, size: usize) -> Self {
        let mut bufs = vec![0u8; slots * size];
        let base = bufs.as_mut_ptr();
        let mut iovs: Vec<libc::iovec> = (0..slots)
            .map(|i| libc::iovec {
                iov_base: base.wrapping_add(i * size).cast(),
                iov_len: size,
            })
            .collect();
        let iov_base = iovs.as_mut_ptr();
        let hdrs = (0..slots)
            .map(|i| {
                // SAFETY: all-zero bytes are a valid mmsghdr (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov_base.wrapping_add(i);
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Self {
            bufs,
            size,
            iovs,
            hdrs,
        }
    }

    /// Receives up to all slots with one `recvmmsg` (blocking until at least one datagram or
    /// the socket's receive timeout). Returns the number received.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        debug_assert_eq!(self.iovs.len(), self.hdrs.len());
        // SAFETY: every header points at one iovec of `self.iovs`, each iovec at a distinct
        // `size`-byte region of `self.bufs`; none of the three vectors is reallocated after
        // `new` and `&mut self` guarantees no one else reads them during the call. The kernel
        // writes datagram bytes into those regions and `msg_len` into the headers.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Datagram `i` of the last `recv` (`i` < what it returned).
    pub fn datagram(&self, i: usize) -> &[u8] {
        let len = (self.hdrs[i].msg_len as usize).min(self.size);
        &self.bufs[i * self.size..i * self.size + len]
    }
}

/// Asks for a receive buffer of `bytes` (the kernel caps it at `net.core.rmem_max`); returns
/// what the kernel granted.
pub fn set_recv_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `want` outlives the call and `len` is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&want).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got: libc::c_int = 0;
    let mut got_len = len;
    // SAFETY: `got` and `got_len` are valid for writes of their sizes for the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_mut(&mut got).cast(),
            &raw mut got_len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(got).unwrap_or(0))
}

/// Sum of the `drops` column of `/proc/net/udp` and `/proc/net/udp6` for sockets bound to
/// local `port` (all sockets of a `SO_REUSEPORT` group). `None` when neither file is readable.
pub fn udp_drops(port: u16) -> Option<u64> {
    let mut total = None;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            *total.get_or_insert(0) += parse_udp_drops(&text, port);
        }
    }
    total
}

/// Parses the text of `/proc/net/udp[6]`: sums the last column (`drops`) of the rows whose
/// local address has `port`.
pub fn parse_udp_drops(text: &str, port: u16) -> u64 {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let (_, p) = local.rsplit_once(':')?;
            if u16::from_str_radix(p, 16).ok()? != port {
                return None;
            }
            fields.last()?.parse::<u64>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  124: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 3
  125: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4244 2 0000000000000000 99
";

    #[test]
    fn drops_are_summed_per_port() {
        assert_eq!(parse_udp_drops(SAMPLE, 0x1FBD), 20);
        assert_eq!(parse_udp_drops(SAMPLE, 53), 99);
        assert_eq!(parse_udp_drops(SAMPLE, 1), 0);
        assert_eq!(parse_udp_drops("", 1), 0);
    }

    #[test]
    fn sendmmsg_and_recvmmsg_move_the_pool() {
        use crate::mix::Mix;
        use crate::payload::{PoolSpec, Protocol};
        use std::os::fd::AsRawFd;

        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.connect(rx.local_addr().expect("addr")).expect("connect");
        let pool = Arc::new(
            Pool::build(&PoolSpec {
                protocol: Protocol::StatsdUdp,
                names: 10,
                mix: Mix::parse("c=1").expect("mix"),
                sample_rate: 1.0,
                tags: 0,
                per_packet: 5,
                lines: 20,
                seed: 1,
                prefix: "t".into(),
                timestamp: 0,
                history: 1,
                step: 60,
            })
            .expect("pool"),
        );
        let mut batch = SendBatch::new(Arc::clone(&pool));
        assert_eq!(batch.send(tx.as_raw_fd(), 1, 10).expect("send"), 3);
        let mut recv = RecvBatch::new(8, 2048);
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = recv.recv(rx.as_raw_fd()).expect("recv");
            got.extend((0..n).map(|i| recv.datagram(i).to_vec()));
        }
        assert_eq!(got, vec![pool.packet(1), pool.packet(2), pool.packet(3)]);
    }
}
