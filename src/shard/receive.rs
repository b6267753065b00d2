//! The StatsD receivers of a shard: its reuse-port UDP socket (batched receive, see
//! [`super::udp`]), a unix datagram socket (shard 0), and TCP connections (newline-framed;
//! a last line without a newline is kept when the connection closes). Each read is handed
//! to the shard's [`State`] in one borrow.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

use super::{udp, State};
use crate::protocol::framing::LineFramer;

/// Receive datagrams in batches until the shard ends.
pub(super) async fn udp_loop(
    sock: glommio::net::UdpSocket,
    slot: usize,
    state: Rc<RefCell<State>>,
) {
    let mut batch = udp::BatchRecv::new(slot);
    let fd = sock.as_raw_fd();
    let mut probe = [0u8; 1];
    loop {
        match batch.recv(fd) {
            Ok(0) => {
                // Nothing waiting: sleep in io_uring until a datagram arrives.
                if let Err(e) = sock.peek_from(&mut probe).await {
                    tracing::warn!(error = %e, "statsd udp: waiting for data failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok(n) => {
                {
                    let mut st = state.borrow_mut();
                    for i in 0..n {
                        let (d, cut) = batch.datagram(i);
                        if cut {
                            st.counters.truncated_datagrams += 1;
                            st.ingest_lines(udp::whole_lines(d));
                        } else {
                            st.ingest_lines(d);
                        }
                    }
                    st.counters.last_msg_seen = crate::clock::now().as_secs();
                }
                glommio::yield_if_needed().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "statsd udp: receive failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Receive unix datagrams until the shard ends.
pub(super) async fn unix_loop(
    sock: glommio::net::UnixDatagram,
    slot: usize,
    state: Rc<RefCell<State>>,
) {
    let mut buf = vec![0u8; slot];
    loop {
        match sock.recv(&mut buf).await {
            Ok(n) => {
                let mut st = state.borrow_mut();
                st.ingest_lines(&buf[..n]);
                st.counters.last_msg_seen = crate::clock::now().as_secs();
            }
            Err(e) => {
                tracing::warn!(error = %e, "statsd unix socket: receive failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accept TCP connections forever, each served by its own task made by `serve`; a failed
/// accept (e.g. out of file descriptors) is logged and retried after a pause.
pub(crate) async fn accept_loop<F, Fut>(
    listener: glommio::net::TcpListener,
    what: &'static str,
    mut serve: F,
) where
    F: FnMut(glommio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve(stream)).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One StatsD TCP connection.
pub(super) async fn tcp_conn(
    mut stream: glommio::net::TcpStream,
    max_line: usize,
    state: Rc<RefCell<State>>,
) {
    let mut framer = LineFramer::new(max_line);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut st = state.borrow_mut();
        st.counters.packets += 1;
        let before = framer.too_long;
        framer.push(&buf[..n], |line| st.ingest_line(line));
        st.counters.tcp_lines_too_long += framer.too_long - before;
        st.counters.last_msg_seen = crate::clock::now().as_secs();
    }
    let mut st = state.borrow_mut();
    framer.finish(|line| st.ingest_line(line));
}

/// Inode of a socket (to find its row in /proc/net/udp).
pub(super) fn socket_inode(s: &std::net::UdpSocket) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
        .ok()
        .map(|m| m.ino())
}
