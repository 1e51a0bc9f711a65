//! The global trace id: one id per issue request, from the HTTP edge through Kafka into
//! the consumer's logs, dead letters and failed events.
//!
//! The HTTP middleware takes the caller's id (`X-Global-Trace-Id`, or the trace-id part
//! of a W3C `traceparent`) or makes one, and runs the request inside [`scope`]. Code
//! deeper down the same task (the Kafka producer) reads it with [`current_trace_id`],
//! so no port has to carry it as a parameter.

use std::future::Future;
use std::sync::Arc;

/// The header carrying the id over HTTP and on Kafka records.
pub const HEADER: &str = "x-global-trace-id";
/// The W3C Trace Context header; its trace-id part is used when no [`HEADER`] is given.
pub const TRACEPARENT: &str = "traceparent";

/// Longest id accepted from a caller; longer ones are replaced by a fresh id.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static TRACE_ID: Arc<str>;
}

/// Runs `fut` with `id` as the task's trace id.
pub async fn scope<F: Future>(id: Arc<str>, fut: F) -> F::Output {
    TRACE_ID.scope(id, fut).await
}

/// The trace id of the request this task is handling, if any.
pub fn current_trace_id() -> Option<Arc<str>> {
    TRACE_ID.try_with(Arc::clone).ok()
}

/// A fresh id: a UUIDv7 as 32 hex digits (time-ordered, so ids sort by arrival).
pub fn generate() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The id to use for a request with these header values: a valid `X-Global-Trace-Id`,
/// else the trace id of a valid `traceparent`, else `None` (the caller generates one).
///
/// Accepted ids are 1–128 characters of `[A-Za-z0-9._:-]`: they are echoed in a
/// response header and written into logs, so nothing else may pass.
pub fn from_headers(global: Option<&[u8]>, traceparent: Option<&[u8]>) -> Option<String> {
    if let Some(id) = global.and_then(valid_id) {
        return Some(id);
    }
    traceparent.and_then(traceparent_id)
}

fn valid_id(raw: &[u8]) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_LEN
        && raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    // All ASCII, so the conversion cannot fail.
    ok.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; version `ff` and all-zero
/// ids are invalid (W3C Trace Context §3.2).
fn traceparent_id(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let mut parts = text.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| trace.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_callers_id_when_it_is_safe() {
        assert_eq!(
            from_headers(Some(b"test-trace-1:a.b_c"), None).as_deref(),
            Some("test-trace-1:a.b_c")
        );
        for bad in [
            &b""[..],
            b"has space",
            b"new\nline",
            b"quote\"",
            "é".as_bytes(),
        ] {
            assert_eq!(from_headers(Some(bad), None), None, "{bad:?}");
        }
        assert_eq!(from_headers(Some(&[b'a'; 129]), None), None, "too long");
    }

    #[test]
    fn falls_back_to_the_traceparent_trace_id() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            from_headers(None, Some(tp)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            from_headers(Some(b"bad id"), Some(tp)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            "an invalid X-Global-Trace-Id does not hide a valid traceparent"
        );
        assert_eq!(
            from_headers(Some(b"mine"), Some(tp)).as_deref(),
            Some("mine"),
            "X-Global-Trace-Id wins"
        );
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736",
        ] {
            assert_eq!(from_headers(None, Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_distinct() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_id_is_visible_inside_the_scope_only() {
        assert!(current_trace_id().is_none());
        let seen = scope(Arc::from("t-1"), async {
            tokio::task::yield_now().await;
            current_trace_id()
        })
        .await;
        assert_eq!(seen.as_deref(), Some("t-1"));
        assert!(current_trace_id().is_none());
    }
}
