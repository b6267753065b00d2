//! Logging: glommio's `log` records and our `tracing` events to stderr, under a filter
//! that SIGHUP can change.
//!
//! The filter is `RUST_LOG` when that is set, else the config's `log_level`. The
//! subscriber is process-wide by nature, so its reload handle is kept here, once.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Whether `RUST_LOG` decides the filter (then `log_level` is not used).
fn from_env() -> bool {
    std::env::var_os(EnvFilter::DEFAULT_ENV).is_some()
}

/// Check `log_level` the way [`init`] and [`reload`](fn@reload) use it; the error names the setting.
pub fn parse(log_level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(log_level)
        .map_err(|e| format!("log_level {log_level:?} is not a level or tracing directives: {e}"))
}

/// Start logging under `RUST_LOG`, else `log_level` (`info` if it does not parse).
pub fn init(log_level: &str) {
    let filter = if from_env() {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    } else {
        parse(log_level).unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let (layer, handle) = reload::Layer::new(filter);
    // `try_init` also routes the `log` records (glommio's) into tracing.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if tracing_subscriber::registry()
        .with(layer)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
}

/// Apply a new `log_level` (SIGHUP), unless `RUST_LOG` decides. Says what it did.
pub fn reload(log_level: &str) -> Result<&'static str, String> {
    if from_env() {
        return Ok("RUST_LOG is set: the log level stays");
    }
    let filter = parse(log_level)?;
    let handle = FILTER
        .get()
        .ok_or("logging was not started by the server")?;
    handle
        .reload(filter)
        .map(|()| "log level applied")
        .map_err(|e| e.to_string())
}
