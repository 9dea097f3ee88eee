//! Log setup: human lines by default, JSON with `--log-format json`; both on stderr so that
//! command output on stdout stays clean. `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}
