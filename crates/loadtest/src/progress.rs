//! The live progress line: once a second on stderr, what has happened so far (elapsed,
//! requests per second in the last second, p95 so far, errors, outcome counts). Stderr,
//! so stdout stays the summary alone and can be piped.

use crate::stats::{Recorder, merge_shards};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub async fn report(label: &'static str, shards: Arc<[Mutex<Recorder>]>, t0: Instant) {
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    let mut last = 0u64;
    loop {
        tick.tick().await;
        let now = merge_shards(&shards, false);
        let requests = now.requests();
        eprintln!("{}", line(label, t0.elapsed(), requests - last, &now));
        last = requests;
    }
}

/// One progress line; `in_last_second` requests completed since the previous line.
pub fn line(label: &str, elapsed: Duration, in_last_second: u64, so_far: &Recorder) -> String {
    let o = &so_far.outcomes;
    let mut s = format!(
        "[{label} {:>5.1}s] {:>8} req/s  p95 {:>8}  errors {}",
        elapsed.as_secs_f64(),
        in_last_second,
        fmt_micros(so_far.latency.value_at_quantile(0.95)),
        so_far.error_total(),
    );
    for (name, n) in [
        ("ACCEPTED", o.accepted),
        ("SOLD_OUT", o.sold_out),
        ("ALREADY_ISSUED", o.already_issued),
        ("QUEUED", o.queued),
        ("polls", o.polls),
        ("ok", o.ok),
        ("other", o.other),
    ] {
        if n > 0 {
            s.push_str(&format!("  {name} {n}"));
        }
    }
    if so_far.dropped > 0 {
        s.push_str(&format!("  dropped {}", so_far.dropped));
    }
    s
}

/// `850µs`, `12.3ms`, `1.20s`.
pub fn fmt_micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}
