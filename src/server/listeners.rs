//! Binding every listener before the shards start: one reuse-port UDP socket and TCP
//! listener per shard on each service's port (StatsD, carbon plaintext, pickle), the
//! admin and HTTP listeners, and the StatsD unix socket's path. Port 0 picks one free
//! port shared by all shards. A bind error names the flag to change.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::ServerError;
use crate::config::Config;
use crate::shard::ShardSockets;

/// Bound sockets, ready to hand to the shards and the side thread.
pub struct Listeners {
    pub statsd_udp: Vec<std::net::UdpSocket>,
    pub statsd_tcp: Vec<std::net::TcpListener>,
    /// Path of the StatsD unix datagram socket, checked bindable; shard 0 binds it.
    pub statsd_unix: Option<std::path::PathBuf>,
    pub admin: std::net::TcpListener,
    /// Carbon plaintext: one TCP listener and one UDP socket per shard (reuse-port).
    pub carbon_tcp: Vec<std::net::TcpListener>,
    pub carbon_udp: Vec<std::net::UdpSocket>,
    /// Carbon pickle: one TCP listener per shard.
    pub pickle_tcp: Vec<std::net::TcpListener>,
    /// The Graphite HTTP API (query thread), unless off.
    pub http: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Take each shard's sockets out (index = shard id): its StatsD UDP socket and TCP
    /// listener, carbon's, and the unix socket's path for shard 0.
    pub fn shard_sockets(&mut self) -> Vec<ShardSockets> {
        let mut tcp = std::mem::take(&mut self.statsd_tcp).into_iter();
        let mut carbon_tcp = std::mem::take(&mut self.carbon_tcp).into_iter();
        let mut carbon_udp = std::mem::take(&mut self.carbon_udp).into_iter();
        let mut pickle_tcp = std::mem::take(&mut self.pickle_tcp).into_iter();
        let mut unix = self.statsd_unix.take();
        std::mem::take(&mut self.statsd_udp)
            .into_iter()
            .map(|udp| ShardSockets {
                udp,
                tcp: tcp.next(),
                unix: unix.take(),
                carbon_tcp: carbon_tcp.next(),
                carbon_udp: carbon_udp.next(),
                pickle_tcp: pickle_tcp.next(),
            })
            .collect()
    }

    /// The `listening <name> <proto> <addr>` lines, one per listener.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = self.statsd_udp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening statsd udp {a}"));
        }
        if let Some(a) = self.statsd_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening statsd tcp {a}"));
        }
        if let Some(p) = &self.statsd_unix {
            out.push(format!("listening statsd unix {}", p.display()));
        }
        if let Some(a) = self.carbon_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening carbon tcp {a}"));
        }
        if let Some(a) = self.carbon_udp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening carbon udp {a}"));
        }
        if let Some(a) = self.pickle_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening pickle tcp {a}"));
        }
        if let Some(a) = self.http.as_ref().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening http tcp {a}"));
        }
        // Last, so a script may stop reading at the admin line.
        if let Ok(a) = self.admin.local_addr() {
            out.push(format!("listening admin tcp {a}"));
        }
        out
    }
}

pub(super) fn reuseport_socket(
    addr: SocketAddr,
    ty: Type,
    proto: Protocol,
) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    Ok(s)
}

/// Ask for a receive queue of `bytes` so a shard busy for a moment (a flush) loses no
/// datagram. The kernel caps `SO_RCVBUF` at `net.core.rmem_max`; as root `SO_RCVBUFFORCE`
/// passes the cap. A smaller grant is logged with the fix.
fn deep_receive_buffer(sk: &Socket, bytes: usize, what: &str) {
    let _ = sk.set_recv_buffer_size(bytes);
    // The kernel reports twice the usable size (it counts its bookkeeping).
    let granted = sk.recv_buffer_size().unwrap_or(0) / 2;
    if granted >= bytes {
        return;
    }
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer to a local
    // c_int, on a descriptor `sk` owns for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sk),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&want).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let granted = sk.recv_buffer_size().unwrap_or(0) / 2;
    if rc != 0 || granted < bytes {
        tracing::warn!(
            what,
            wanted = bytes,
            granted,
            "UDP receive buffer capped by net.core.rmem_max: bursts (e.g. during a flush) may be dropped; \
             install tuning/sysctl.d/60-lonsdaleite.conf or run as root"
        );
    }
}

/// Bind every listener of `cfg` for `shards` shards. Port 0 picks one free port, shared by all shards.
pub fn bind(cfg: &Config, shards: usize) -> Result<Listeners, ServerError> {
    let s = &cfg.statsd;
    let bind_err = |what, addr: SocketAddr, flag| {
        move |source| ServerError::Bind {
            what,
            addr: addr.to_string(),
            flag,
            source,
        }
    };
    let (statsd_udp, statsd_tcp) = bind_pair(s.addr, shards, true, s.tcp, s.recv_buffer, &STATSD)
        .map_err(|(what, source)| ServerError::Bind {
        what,
        addr: s.addr.to_string(),
        flag: "--statsd-addr",
        source,
    })?;
    let statsd_unix = if s.unix_socket.is_empty() {
        None
    } else {
        let _ = std::fs::remove_file(&s.unix_socket);
        drop(
            std::os::unix::net::UnixDatagram::bind(&s.unix_socket).map_err(|source| {
                ServerError::Bind {
                    what: "statsd unix socket",
                    addr: s.unix_socket.clone(),
                    flag: "statsd.unix_socket in the config",
                    source,
                }
            })?,
        );
        Some(std::path::PathBuf::from(&s.unix_socket))
    };
    let admin = std::net::TcpListener::bind(cfg.admin.addr).map_err(bind_err(
        "admin",
        cfg.admin.addr,
        "--admin-addr",
    ))?;
    let (mut carbon_tcp, mut carbon_udp) = (Vec::new(), Vec::new());
    if let Ok(addr) = cfg.carbon.addr.parse::<SocketAddr>() {
        (carbon_udp, carbon_tcp) = bind_pair(
            addr,
            shards,
            cfg.carbon.udp,
            true,
            cfg.statsd.recv_buffer,
            &CARBON,
        )
        .map_err(|(what, source)| ServerError::Bind {
            what,
            addr: addr.to_string(),
            flag: "--carbon-addr",
            source,
        })?;
    }
    let mut pickle_tcp = Vec::new();
    if let Ok(mut addr) = cfg.carbon.pickle_addr.parse::<SocketAddr>() {
        pickle_tcp = tcp_listeners(&mut addr, shards).map_err(bind_err(
            "pickle tcp",
            addr,
            "--pickle-addr",
        ))?;
    }
    let http = match cfg.http.addr.parse::<SocketAddr>() {
        Ok(addr) => Some(std::net::TcpListener::bind(addr).map_err(bind_err(
            "http",
            addr,
            "--http-addr",
        ))?),
        Err(_) => None,
    };
    Ok(Listeners {
        statsd_udp,
        statsd_tcp,
        statsd_unix,
        admin,
        carbon_tcp,
        carbon_udp,
        pickle_tcp,
        http,
    })
}

type UdpTcp = (Vec<std::net::UdpSocket>, Vec<std::net::TcpListener>);

/// How a service's sockets are named in logs and bind errors.
struct Labels {
    name: &'static str,
    udp: &'static str,
    tcp: &'static str,
}

const STATSD: Labels = Labels {
    name: "statsd",
    udp: "statsd udp",
    tcp: "statsd tcp",
};

const CARBON: Labels = Labels {
    name: "carbon",
    udp: "carbon udp",
    tcp: "carbon tcp",
};

/// One UDP socket and/or one TCP listener per shard, all on one port number (reuse-port).
///
/// With port 0 the kernel picks a port free for UDP (or for TCP when there is no UDP),
/// but the other protocol's port of that number may be taken, possibly by another
/// reuse-port listener we would then share it with. So a plain probe socket checks the
/// number first, and a taken number is given back and another one tried.
/// On error, returns which socket (`labels.udp` or `labels.tcp`) failed.
fn bind_pair(
    addr: SocketAddr,
    shards: usize,
    udp: bool,
    tcp: bool,
    recv_buffer: usize,
    labels: &Labels,
) -> Result<UdpTcp, (&'static str, std::io::Error)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut at = addr;
        let mut udps = Vec::with_capacity(shards);
        if udp {
            for _ in 0..shards {
                let sock = (|| {
                    let sk = reuseport_socket(at, Type::DGRAM, Protocol::UDP)?;
                    deep_receive_buffer(&sk, recv_buffer, labels.name);
                    sk.bind(&at.into())?;
                    sk.set_nonblocking(true)?;
                    Ok(std::net::UdpSocket::from(sk))
                })()
                .map_err(|e| (labels.udp, e))?;
                at = sock.local_addr().map_err(|e| (labels.udp, e))?;
                udps.push(sock);
            }
        }
        if !tcp {
            return Ok((udps, Vec::new()));
        }
        let retry = addr.port() == 0 && udp && attempt < 64;
        if retry {
            // Held only for this check; the reuse-port listeners bind right after.
            match std::net::TcpListener::bind(at) {
                Ok(probe) => drop(probe),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err((labels.tcp, e)),
            }
        }
        match tcp_listeners(&mut at, shards) {
            Ok(tcps) => return Ok((udps, tcps)),
            Err(e) if retry && e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err((labels.tcp, e)),
        }
    }
}

/// One reuse-port TCP listener per shard on `addr`; port 0 becomes the port of the first.
fn tcp_listeners(
    addr: &mut SocketAddr,
    shards: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(shards);
    for _ in 0..shards {
        let sk = reuseport_socket(*addr, Type::STREAM, Protocol::TCP)?;
        sk.bind(&(*addr).into())?;
        sk.listen(1024)?;
        let l = std::net::TcpListener::from(sk);
        *addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_never_shares_a_tcp_number_another_listener_holds() {
        // Reuse-port TCP listeners of this process (same uid, so the kernel would let a
        // reuse-port bind join them) on kernel-chosen numbers with nothing on UDP.
        let held: Vec<std::net::TcpListener> = (0..500)
            .map(|_| {
                let sk =
                    reuseport_socket("127.0.0.1:0".parse().unwrap(), Type::STREAM, Protocol::TCP)
                        .unwrap();
                sk.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                    .unwrap();
                sk.listen(8).unwrap();
                sk.into()
            })
            .collect();
        let taken: std::collections::HashSet<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        // Each round's UDP number falls on a held one with odds of about 500 in 28,000.
        for _ in 0..200 {
            let (udp, tcp) = bind_pair(
                "127.0.0.1:0".parse().unwrap(),
                2,
                true,
                true,
                1 << 16,
                &STATSD,
            )
            .unwrap();
            assert_eq!((udp.len(), tcp.len()), (2, 2));
            let port = udp[0].local_addr().unwrap().port();
            assert!(!taken.contains(&port), "shared TCP port {port}");
            for p in udp.iter().map(|s| s.local_addr().unwrap().port()) {
                assert_eq!(p, port);
            }
            for p in tcp.iter().map(|l| l.local_addr().unwrap().port()) {
                assert_eq!(p, port);
            }
        }
    }
}
