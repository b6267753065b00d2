//! The side thread: a small tokio runtime beside the shards for the admin interface, the
//! forwarder to another Graphite, and the signals that stop the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::admin::AdminState;
use super::ServerError;
use crate::config::Config;
use crate::route::forward::{ForwardStats, Forwarder};
use crate::shard::shutdown::Shutdown;

/// The side thread (tokio, current-thread): the admin interface, the forwarder, and the
/// signal handlers (SIGTERM and SIGINT set the stop flag). It ends once the flag is set
/// and the forwarder has delivered its backlog.
pub(super) fn spawn(
    admin_listener: std::net::TcpListener,
    admin: AdminState,
    cfg: Arc<Config>,
    fwd_rx: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    forward_stats: Arc<ForwardStats>,
    shutdown: Arc<Shutdown>,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Side)?;
    // Register signal handlers before any listener is announced, so an early SIGTERM is caught.
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate()).map_err(ServerError::Side)?,
            signal(SignalKind::interrupt()).map_err(ServerError::Side)?,
        )
    };
    admin_listener
        .set_nonblocking(true)
        .map_err(ServerError::Side)?;
    std::thread::Builder::new()
        .name("side".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(admin_listener) else {
                    tracing::error!("admin: cannot use the bound listener");
                    shutdown.trigger();
                    return;
                };
                let admin_task =
                    tokio::spawn(crate::server::admin::serve(listener, Arc::new(admin)));
                let fwd_task = fwd_rx.map(|rx| {
                    tokio::spawn(
                        Forwarder::new(cfg.forward.clone(), rx, forward_stats)
                            .run(Duration::from_secs(10)),
                    )
                });
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: flushing and stopping"),
                        _ = int.recv() => tracing::info!("SIGINT: flushing and stopping"),
                    }
                    stop.trigger();
                });
                while !shutdown.is_set() {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                if let Some(t) = fwd_task {
                    let _ = t.await;
                }
                admin_task.abort();
            });
        })
        .map_err(ServerError::Side)
}
