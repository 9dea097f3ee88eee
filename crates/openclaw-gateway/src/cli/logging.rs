//! Log setup: human lines by default, JSON with `--log-format json`; both on stderr so that
//! command output on stdout stays clean. `RUST_LOG` overrides the level: the gateway logs at
//! `info`, one-shot commands only at `warn` (their output is the answer, not the log); the
//! PostgreSQL driver only at `warn`. Colours
//! only when stderr is a terminal.
//!
//! One event is one line. Untrusted values are escaped where they are logged
//! (`openclaw_twilio::escape::Escaped`); as a backstop, a human line is written with any line
//! break inside it escaped ([`OneLine`]), so that a value logged without `Escaped` still cannot
//! start a line of its own. JSON lines need no backstop: JSON strings escape every control.

use std::fmt;
use std::io::IsTerminal as _;

use openclaw_twilio::escape::LineBreaksEscaped;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::LogFormat;

pub(crate) fn init(format: LogFormat, default_level: &str) {
    // The PostgreSQL driver logs the server's notices ("schema … already exists, skipping",
    // at every start) at info: only its warnings are worth a line by default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},tokio_postgres=warn")));
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder
            .event_format(OneLine(
                tracing_subscriber::fmt::format()
                    .with_target(false)
                    .with_ansi(ansi),
            ))
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}

/// An event format that writes what `F` formats with every line break inside it escaped:
/// one event, one line.
struct OneLine<F>(F);

impl<S, N, F> FormatEvent<S, N> for OneLine<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let inside = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(writer, "{}", LineBreaksEscaped(inside))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_raw_line_break_in_a_logged_value_stays_on_its_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(OneLine(
                tracing_subscriber::fmt::format()
                    .with_target(false)
                    .with_ansi(false),
            ))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let forged = "x\r\n2026-01-01T00:00:00Z  INFO pairing approved\u{2028}y";
            tracing::warn!(url = %forged, "first {forged}");
            tracing::info!("second");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains(r"first x\r\n2026-01-01T00:00:00Z  INFO pairing approved\u{2028}y"),
            "{text}"
        );
        assert!(lines[0].contains(r"url=x\r\n2026"), "{text}");
        assert!(lines[1].ends_with("second"), "{text}");
        assert!(
            !text.contains('\r') && !text.contains('\u{2028}'),
            "{text:?}"
        );
    }
}
