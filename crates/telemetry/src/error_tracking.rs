//! Error tracking: with `sentry_dsn` set, every 5xx answer and every panic is sent to
//! Sentry (or anything that speaks its envelope protocol), tagged with the trace id
//! and the route template, so an event leads straight to the request's log lines and to
//! the Kafka record it produced. Without a DSN nothing is set up and reporting is one
//! atomic load.
//!
//! The HTTP middleware reports answers ([`report_server_error`]); the panic hook
//! reports panics outside requests (background tasks, the writer, the consumer loop).
//! A panic inside a request becomes a 500 answer and is reported once, by the
//! middleware, with the panic's message and the route it happened on.

use sentry::protocol::{Event, Level};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// How long shutdown waits for events still in flight to the tracker.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
#[error("sentry_dsn is not a valid DSN ({0}): expected https://<key>@<host>/<project>")]
pub struct InvalidDsn(String);

/// Keeps the client alive; dropping it flushes what is queued (bounded).
pub struct ErrorTracking {
    client: Arc<sentry::Client>,
}

impl Drop for ErrorTracking {
    fn drop(&mut self) {
        ENABLED.store(false, Ordering::Release);
        self.client.close(Some(FLUSH_ON_EXIT));
        sentry::Hub::main().bind_client(None);
    }
}

/// Whether `dsn` is one the client can report to.
pub fn check_dsn(dsn: &str) -> Result<(), InvalidDsn> {
    parse_dsn(dsn).map(drop)
}

fn parse_dsn(dsn: &str) -> Result<sentry::types::Dsn, InvalidDsn> {
    dsn.parse().map_err(|e| InvalidDsn(format!("{e}")))
}

/// Starts reporting to `dsn`. `process` names the kind of process (`embedded`, `api`,
/// `consumer`), sent as a tag.
pub fn init(dsn: &str, process: &'static str) -> Result<ErrorTracking, InvalidDsn> {
    let parsed = parse_dsn(dsn)?;
    let options = sentry::apply_defaults(sentry::ClientOptions {
        dsn: Some(parsed),
        release: Some(concat!("couponrush@", env!("CARGO_PKG_VERSION")).into()),
        // No request bodies, headers or user data leave the process: events carry the
        // tags below and a message, nothing a client sent.
        send_default_pii: false,
        ..Default::default()
    });
    let client = Arc::new(sentry::Client::from(options));
    // Bound to the process-wide hub, which every event here goes through: not to the
    // calling thread's hub (`sentry::init` binds to that one), since requests run on
    // whichever runtime thread picks them up.
    let hub = sentry::Hub::main();
    hub.bind_client(Some(Arc::clone(&client)));
    hub.configure_scope(|scope| scope.set_tag("process", process));
    ENABLED.store(true, Ordering::Release);
    install_panic_hook();
    Ok(ErrorTracking { client })
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// A 5xx answer, as the HTTP edge saw it.
#[derive(Debug, Clone)]
pub struct ServerError<'a> {
    pub method: &'a str,
    /// The matched route template (`/api/coupons/{id}/issue`), never the raw path.
    pub route: &'a str,
    pub status: u16,
    /// The answer's stable error code (`ISSUE_UNAVAILABLE`), when it has one.
    pub code: Option<&'a str>,
    /// The panic's message, when the answer is a caught panic.
    pub panic: Option<&'a str>,
    pub trace_id: Option<&'a str>,
}

/// Reports a 5xx answer (no-op without a DSN).
pub fn report_server_error(e: &ServerError<'_>) {
    if !enabled() {
        return;
    }
    let transaction = format!("{} {}", e.method, e.route);
    let message = match (e.panic, e.code) {
        (Some(panic), _) => format!("panic in {transaction}: {panic}"),
        (None, Some(code)) => format!("{} {code} on {transaction}", e.status),
        (None, None) => format!("{} on {transaction}", e.status),
    };
    let mut event = Event {
        level: if e.panic.is_some() {
            Level::Fatal
        } else {
            Level::Error
        },
        message: Some(message),
        transaction: Some(transaction),
        ..Default::default()
    };
    event.tags.insert("route".into(), e.route.into());
    event.tags.insert("method".into(), e.method.into());
    event.tags.insert("status".into(), e.status.to_string());
    if let Some(code) = e.code {
        event.tags.insert("code".into(), code.into());
    }
    if let Some(id) = e.trace_id {
        event.tags.insert("trace_id".into(), id.into());
    }
    if e.panic.is_some() {
        event.tags.insert("panic".into(), "true".into());
    }
    sentry::Hub::main().capture_event(event);
}

/// Reports panics that no request will answer for, then runs the previous hook (which
/// prints the message). A panic inside a request (a trace id is in scope) is left to
/// the middleware, which reports it with its route.
fn install_panic_hook() {
    // Once per process: a second init (a restarted app in the same process) must not
    // chain a second hook, which would report every panic twice.
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(chain_panic_hook);
}

fn chain_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if enabled() && crate::trace::current_trace_id().is_none() {
            let detail = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut event = Event {
                level: Level::Fatal,
                message: Some(format!("panic{location}: {detail}")),
                ..Default::default()
            };
            event.tags.insert("panic".into(), "true".into());
            sentry::Hub::main().capture_event(event);
            if let Some(client) = sentry::Hub::main().client() {
                client.flush(Some(FLUSH_ON_EXIT));
            }
        }
        previous(info);
    }));
}
