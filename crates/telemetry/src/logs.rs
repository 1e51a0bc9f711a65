//! Logs: human-readable by default, one JSON object per line with `json`. The level
//! comes from `RUST_LOG` (default `info`).
//!
//! Span fields are part of every line: the text format prints them before the message
//! (`http{trace_id=…}: …`), the JSON format under `span` and `spans`. That is how a
//! request's or a record's `trace_id` reaches each line logged while handling it.

use std::io::IsTerminal;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Installs the global subscriber writing to stdout (colours only on a terminal). A
/// second call (tests start many servers in one process) keeps the first.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    try_install(subscriber(format, filter, std::io::stdout, ansi));
}

/// The subscriber every process uses, writing to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Makes `subscriber` the global one (and routes `log` records to it). False if a
/// global subscriber was already installed.
pub fn try_install(subscriber: Box<dyn Subscriber + Send + Sync>) -> bool {
    subscriber.try_init().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LogCapture;

    fn log_in_span(format: LogFormat) -> String {
        let out = LogCapture::default();
        let sub = subscriber(format, EnvFilter::new("info"), out.clone(), false);
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("http", trace_id = "t-42");
            let _in = span.enter();
            tracing::info!(user = 7, "issued");
        });
        out.contents()
    }

    #[test]
    fn span_fields_appear_in_text_lines() {
        let line = log_in_span(LogFormat::Text);
        assert!(
            line.contains("http{trace_id=\"t-42\"}") || line.contains("http{trace_id=t-42}"),
            "{line}"
        );
        assert!(line.contains("issued") && line.contains("user=7"), "{line}");
    }

    #[test]
    fn span_fields_appear_in_json_lines() {
        let line = log_in_span(LogFormat::Json);
        assert!(line.contains("\"trace_id\":\"t-42\""), "{line}");
        assert!(line.contains("\"message\":\"issued\""), "{line}");
    }
}
