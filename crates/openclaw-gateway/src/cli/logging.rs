//! Log setup: human lines by default, JSON with `--log-format json`; both on stderr so that
//! command output on stdout stays clean. `RUST_LOG` overrides the level: the gateway logs at
//! `info`, one-shot commands only at `warn` (their output is the answer, not the log); the
//! PostgreSQL driver only at `warn`. Colours
//! only when stderr is a terminal.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

pub(crate) fn init(format: LogFormat, default_level: &str) {
    // The PostgreSQL driver logs the server's notices ("schema … already exists, skipping",
    // at every start) at info: only its warnings are worth a line by default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},tokio_postgres=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}
