//! The per-second series of a run (by completion time) and the summary of its p99s: one
//! bad second hides in a whole-run p99 of a long `--rate` run, so the JSON also says how
//! the seconds' p99s spread (`perSecondP99`: the median second and the worst one).

use crate::stats::Recorder;
use serde::Serialize;

/// One second of the run, by completion time.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondRow {
    pub second: u64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub accepted: u64,
    pub sold_out: u64,
    pub already_issued: u64,
    /// Issue requests answered QUEUED.
    pub queued: u64,
    /// Queue polls answered.
    pub polls: u64,
    /// ok + other 2xx answers.
    pub other: u64,
    pub errors: u64,
}

pub fn rows(stats: &Recorder) -> Vec<SecondRow> {
    let ms = |us: u64| us as f64 / 1000.0;
    stats
        .seconds
        .iter()
        .enumerate()
        .map(|(i, s)| SecondRow {
            second: i as u64,
            requests: s.requests(),
            p50_ms: ms(s.latency.value_at_quantile(0.50)),
            p95_ms: ms(s.latency.value_at_quantile(0.95)),
            p99_ms: ms(s.latency.value_at_quantile(0.99)),
            accepted: s.outcomes.accepted,
            sold_out: s.outcomes.sold_out,
            already_issued: s.outcomes.already_issued,
            queued: s.outcomes.queued,
            polls: s.outcomes.polls,
            other: s.outcomes.ok + s.outcomes.other,
            errors: s.errors,
        })
        .collect()
}

/// A final second with fewer requests than this share of the median second is the tail
/// of the run (the last answers trickling in), not a second of load: left out.
pub const PARTIAL_SHARE: f64 = 0.2;

/// The seconds' p99s over the seconds with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerSecondP99 {
    /// The median of the seconds' p99s (the mean of the middle two for an even count).
    pub median_ms: f64,
    pub worst_ms: f64,
    pub worst_second: u64,
    /// How many seconds were summarised.
    pub seconds: u64,
    /// The final second, left out because it had fewer than 20 % of the median
    /// second's requests (the median taken over every second with traffic).
    pub skipped_final_second: Option<u64>,
}

impl PerSecondP99 {
    /// `None` when no second had traffic.
    pub fn of(rows: &[SecondRow]) -> Option<Self> {
        let mut busy: Vec<&SecondRow> = rows.iter().filter(|r| r.requests > 0).collect();
        let typical = median(busy.iter().map(|r| r.requests as f64).collect())?;
        let mut skipped_final_second = None;
        if let [_, .., last] = busy[..]
            && (last.requests as f64) < PARTIAL_SHARE * typical
        {
            skipped_final_second = Some(last.second);
            busy.pop();
        }
        let worst = busy
            .iter()
            .copied()
            .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))?;
        Some(Self {
            median_ms: median(busy.iter().map(|r| r.p99_ms).collect())?,
            worst_ms: worst.p99_ms,
            worst_second: worst.second,
            seconds: busy.len() as u64,
            skipped_final_second,
        })
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ErrorKind;
    use crate::stats::Outcome;
    use std::time::Duration;

    fn row(second: u64, requests: u64, p99_ms: f64) -> SecondRow {
        SecondRow {
            second,
            requests,
            p50_ms: p99_ms / 4.0,
            p95_ms: p99_ms / 2.0,
            p99_ms,
            accepted: requests,
            sold_out: 0,
            already_issued: 0,
            queued: 0,
            polls: 0,
            other: 0,
            errors: 0,
        }
    }

    #[test]
    fn summarises_busy_seconds_and_skips_a_thin_final_one() {
        let rows = [
            row(0, 0, 0.0), // nothing started yet (a ramp)
            row(1, 1000, 10.0),
            row(2, 1000, 30.0),
            row(3, 900, 20.0),
            row(4, 1100, 80.0),
            row(5, 150, 500.0), // the tail: 150 < 20 % of the median 1000
        ];
        let p = PerSecondP99::of(&rows).unwrap();
        assert_eq!(
            p,
            PerSecondP99 {
                median_ms: 25.0,
                worst_ms: 80.0,
                worst_second: 4,
                seconds: 4,
                skipped_final_second: Some(5),
            }
        );
        // A final second with a real share of the load counts, even when it is slow.
        let mut kept = rows.to_vec();
        kept[5].requests = 400;
        let p = PerSecondP99::of(&kept).unwrap();
        assert_eq!((p.worst_ms, p.worst_second, p.seconds), (500.0, 5, 5));
        assert_eq!((p.median_ms, p.skipped_final_second), (30.0, None));
    }

    #[test]
    fn a_single_second_is_never_skipped_and_no_traffic_is_none() {
        let p = PerSecondP99::of(&[row(0, 3, 7.0)]).unwrap();
        assert_eq!((p.median_ms, p.worst_ms, p.seconds), (7.0, 7.0, 1));
        assert_eq!(PerSecondP99::of(&[row(0, 0, 0.0)]), None);
        assert_eq!(PerSecondP99::of(&[]), None);
    }

    #[test]
    fn rows_come_from_the_recorder_with_errors_per_second() {
        let mut r = Recorder::default();
        r.record(
            crate::stats::Kind::Main,
            Duration::from_millis(100),
            Duration::from_millis(4),
            Ok(Outcome::Accepted),
        );
        r.record(
            crate::stats::Kind::Main,
            Duration::from_millis(1500),
            Duration::from_millis(8),
            Err((ErrorKind::Timeout, "late")),
        );
        let rows = rows(&r);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].requests, rows[0].accepted, rows[0].errors),
            (1, 1, 0)
        );
        assert_eq!((rows[1].requests, rows[1].errors), (1, 1));
        assert!((rows[1].p99_ms - 8.0).abs() < 0.1, "{}", rows[1].p99_ms);
    }
}
