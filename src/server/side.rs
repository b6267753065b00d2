//! The side thread: a small tokio runtime beside the shards for the admin interface, the
//! forwarder to another Graphite, and the signals that stop the server (SIGTERM, SIGINT)
//! or reload what can be reloaded (SIGHUP).

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use super::admin::AdminState;
use super::ServerError;
use crate::config::Config;
use crate::route::forward::{ForwardStats, Forwarder};
use crate::shutdown::Shutdown;

/// The side thread's runtime with the signal handlers already registered: made first
/// thing at start, so a signal that arrives while the server starts is handled, not the
/// default action (SIGHUP's is to end the process).
pub struct Signals {
    rt: tokio::runtime::Runtime,
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Register SIGTERM, SIGINT and SIGHUP.
    pub fn register() -> Result<Self, ServerError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Side)?;
        let entered = rt.enter();
        let on = |kind| signal(kind).map_err(ServerError::Side);
        let term = on(SignalKind::terminate())?;
        let int = on(SignalKind::interrupt())?;
        let hup = on(SignalKind::hangup())?;
        drop(entered);
        Ok(Self { rt, term, int, hup })
    }
}

/// SIGHUP: the storage rules are read again by every shard's writer at once, and the
/// config file (if any) is read again for a changed `log_level`. Nothing else changes
/// while running; a file that no longer parses is reported and the current settings stay.
fn reload(cfg: &Config, shutdown: &Shutdown) {
    tracing::info!("SIGHUP: reading the storage rules and the log level again");
    shutdown.request_reload();
    let Some(path) = &cfg.config_file else {
        tracing::info!("SIGHUP: no --config file, the log level stays");
        return;
    };
    match Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|new| super::logging::reload(&new.log_level))
    {
        Ok(what) => tracing::info!(file = %path.display(), "SIGHUP: {what}"),
        Err(e) => tracing::error!(
            file = %path.display(),
            error = %e,
            "SIGHUP: the log level was not changed; the current settings stay"
        ),
    }
}

/// The side thread (tokio, current-thread): the admin interface, the forwarder, and the
/// signal handlers (SIGTERM and SIGINT set the stop flag, SIGHUP reloads). It ends once
/// the flag is set and the forwarder has delivered its backlog.
pub(super) fn spawn(
    signals: Signals,
    admin_listener: std::net::TcpListener,
    admin: AdminState,
    cfg: Arc<Config>,
    fwd_rx: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    forward_stats: Arc<ForwardStats>,
    shutdown: Arc<Shutdown>,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    let Signals {
        rt,
        mut term,
        mut int,
        mut hup,
    } = signals;
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
                let (cfg, signals) = (cfg.clone(), shutdown.clone());
                let hup_task = tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        reload(&cfg, &signals);
                    }
                });
                while !shutdown.is_set() {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                if let Some(t) = fwd_task {
                    let _ = t.await;
                }
                admin_task.abort();
                hup_task.abort();
            });
        })
        .map_err(ServerError::Side)
}
