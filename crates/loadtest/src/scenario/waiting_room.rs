//! `--scenario waiting-room`: a coupon whose waiting room is always on (`"waitingRoom":
//! "ALWAYS"`, pre-queue `--prequeue`, optionally opening `--opens-in-ms` after its
//! creation), `--users` arriving over `--arrival-secs` (evenly or at random) through
//! `--connections` connections. Each user issues (QUEUED), presses again once (the
//! place must hold), polls as told, is admitted, issues with the admission token and
//! gets a final answer. The admin view of the room is sampled every 500 ms meanwhile.
//!
//! The verdict adds what a fair line promises (`checks`): no overtaking, one place per
//! user, a definite answer for everyone, the whole stock issued, no errors. Everything
//! is judged from what the client saw, so only what it saw for certain counts:
//!
//! - *Join order.* B joined before A for certain when B's QUEUED answer arrived before
//!   A's joining request left. Joins answered before the opening also compare by the
//!   position the server gave (nobody leaves the line before it opens, so those
//!   positions are absolute; after the opening a position is a rank among those still
//!   waiting and says nothing about order across time).
//! - *Overtaking.* A overtook B when B joined before A and A was seen ADMITTED before a
//!   request that found B still waiting was even sent: the server then had A admitted
//!   while B, ahead, still waited. B's poll interval is the tolerance, exactly.
//! - A SHUFFLED pre-queue is drawn at random at the opening: then only users who joined
//!   `SHUFFLE_MARGIN` after the opening (after the draw) are checked as overtakers.

use super::issue::{Crowd, Final, Schedule};
use super::room::{FollowSettings, Join, Trail};
use crate::api::{Api, RoomState};
use crate::args::{Args, Arrival, Prequeue};
use crate::client::Target;
use crate::engine::RunConfig;
use crate::summary::Latency;
use crate::verify::{Check, Status, check};
use hdrhistogram::Histogram;
use http::HeaderValue;
use rand::Rng;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

/// Clock difference allowed between this client and the server when telling joins
/// before the opening from those after it.
pub const SKEW: Duration = Duration::from_millis(250);
/// A SHUFFLED pre-queue is drawn at the first tick after the opening; joins this long
/// after the opening come after the draw.
pub const SHUFFLE_MARGIN: Duration = Duration::from_secs(2);
/// How often the admin view of the room is read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Requests per user, schedule, engine and follow settings of a waiting-room run.
pub fn shape(args: &Args) -> (u64, Schedule, RunConfig, FollowSettings) {
    let config = RunConfig {
        connections: args.connections_or_default(),
        timeout: args.timeout,
        duration: None,
        send_deadline: None,
        latency_from_schedule: false,
        progress: (!args.quiet).then_some("waiting-room"),
    };
    let follow = FollowSettings {
        repress: true,
        max_wait: args.max_wait,
    };
    let times = arrivals(
        args.user_count(),
        args.arrival_window(),
        args.arrival_or_default(),
    );
    (
        1 + u64::from(args.duplicates),
        Schedule::Times(times),
        config,
        follow,
    )
}

/// When each of `n` users arrives within `window`, ascending: evenly (user `i` at
/// `i × window / n`) or uniformly at random.
pub fn arrivals(n: u64, window: Duration, arrival: Arrival) -> Vec<Duration> {
    let span = window.as_secs_f64();
    match arrival {
        Arrival::Even => (0..n)
            .map(|i| Duration::from_secs_f64(span * i as f64 / n.max(1) as f64))
            .collect(),
        Arrival::Random => {
            let mut rng = rand::thread_rng();
            let mut times: Vec<Duration> = (0..n)
                .map(|_| Duration::from_secs_f64(rng.gen_range(0.0..=span)))
                .collect();
            times.sort_unstable();
            times
        }
    }
}

/// Reads the admin view of the room every `SAMPLE_EVERY` until stopped.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<(Vec<(Instant, RoomState)>, u64)>,
}

impl Sampler {
    pub fn spawn(target: &Target, admin: &HeaderValue, coupon: Uuid, timeout: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let (target, admin) = (target.clone(), admin.clone());
        let task = tokio::spawn(async move {
            let mut api = Api::new(&target, timeout.min(SAMPLE_EVERY * 4));
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut samples, mut failures) = (Vec::new(), 0u64);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return (samples, failures),
                }
                let at = Instant::now();
                match api.room_state(&admin, coupon).await {
                    Ok(state) => samples.push((at, state)),
                    Err(_) => failures += 1,
                }
            }
        });
        Self { stop, task }
    }

    /// Stops and returns the samples (and how many reads failed).
    pub async fn finish(self) -> (Vec<(Instant, RoomState)>, u64) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// One reading of the admin view, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSample {
    /// Seconds after the start of the run.
    pub t_secs: f64,
    /// OFF, ON or DRAINING.
    pub state: String,
    /// Queue length.
    pub waiting: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
    /// The controller's limit, admissions per second.
    pub admission_rate: f64,
    /// Admissions per second as the server measured them.
    pub admitted_per_second: f64,
    /// Admissions per second from the change of `admittedTotal` since the sample before.
    pub admitted_delta_per_second: f64,
    pub p95_ms: Option<f64>,
    pub remaining: Option<u64>,
}

/// The samples taken after `t0`, with the admissions per second between samples.
pub fn samples(raw: &[(Instant, RoomState)], t0: Instant) -> Vec<RoomSample> {
    let mut out: Vec<RoomSample> = Vec::with_capacity(raw.len());
    let mut before: Option<(f64, u64)> = None;
    for (at, s) in raw {
        let t = match at.checked_duration_since(t0) {
            Some(d) => d.as_secs_f64(),
            None => -(t0 - *at).as_secs_f64(),
        };
        let delta = match before {
            Some((t_before, total_before)) if t > t_before => {
                s.admitted_total.saturating_sub(total_before) as f64 / (t - t_before)
            }
            _ => 0.0,
        };
        before = Some((t, s.admitted_total));
        if t < 0.0 {
            continue; // before the start: only the baseline for the next delta
        }
        let t_secs = t;
        out.push(RoomSample {
            t_secs,
            state: s.state.clone(),
            waiting: s.waiting,
            admitted_total: s.admitted_total,
            abandoned_total: s.abandoned_total,
            admission_rate: s.admission_rate,
            admitted_per_second: s.admitted_per_second,
            admitted_delta_per_second: delta,
            p95_ms: s.p95_ms,
            remaining: s.remaining,
        });
    }
    out
}

/// Where the opening falls for the checks: µs after the start of the run (0 when it
/// was at or before the start), `None` without an `opensAt`.
pub fn opening_us(
    opens_at: Option<chrono::DateTime<chrono::Utc>>,
    t0_wall: chrono::DateTime<chrono::Utc>,
) -> Option<u64> {
    opens_at.map(|at| (at - t0_wall).num_microseconds().unwrap_or(0).max(0) as u64)
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Whether a join answered at `recv_us` came before the opening.
fn before_opening(recv_us: u64, opening_us: Option<u64>) -> bool {
    opening_us.is_some_and(|o| recv_us + micros(SKEW) <= o)
}

/// For each `a` = (key, admitted µs): how many `b` = (key, waiting µs) have
/// `key_b < key_a` and `waiting_b > admitted_a`. O((|a| + |b|) log |b|).
pub fn overtaken_counts(bs: &[(u64, u64)], as_: &[(u64, u64)]) -> Vec<u64> {
    let mut waits: Vec<u64> = bs.iter().map(|b| b.1).collect();
    waits.sort_unstable();
    waits.dedup();
    let mut b_order: Vec<usize> = (0..bs.len()).collect();
    b_order.sort_unstable_by_key(|&i| bs[i].0);
    let mut a_order: Vec<usize> = (0..as_.len()).collect();
    a_order.sort_unstable_by_key(|&i| as_[i].0);
    // A Fenwick tree of the inserted waits, by rank (1-based).
    let mut tree = vec![0u64; waits.len() + 1];
    let (mut added, mut next_b) = (0u64, 0usize);
    let mut out = vec![0u64; as_.len()];
    for &a in &a_order {
        let (key, admitted) = as_[a];
        while next_b < b_order.len() && bs[b_order[next_b]].0 < key {
            let rank = waits.partition_point(|&w| w < bs[b_order[next_b]].1) + 1;
            let mut i = rank;
            while i < tree.len() {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
            added += 1;
            next_b += 1;
        }
        let mut at_most = 0u64;
        let mut i = waits.partition_point(|&w| w <= admitted);
        while i > 0 {
            at_most += tree[i];
            i -= i & i.wrapping_neg();
        }
        out[a] = added - at_most;
    }
    out
}

/// What the overtaking check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overtaking {
    /// Pairs (earlier joiner B, later joiner A) where A was seen ADMITTED before a
    /// request that found B still waiting was sent.
    pub inversions: u64,
    /// Users who overtook at least one earlier joiner.
    pub overtakers: u64,
    /// Admitted users checked as possible overtakers.
    pub checked: u64,
    /// Users whose join also compares by position (joined before the opening, FIFO).
    pub by_position: u64,
    /// Admitted users not checked: joined before the draw of a SHUFFLED pre-queue.
    pub skipped_shuffled: u64,
}

/// Counts overtakings among the users' current stays in line.
pub fn overtaking(stays: &[Join], prequeue: Prequeue, opening_us: Option<u64>) -> Overtaking {
    let waiting: Vec<&Join> = stays.iter().filter(|j| j.waiting_sent_us > 0).collect();
    let admitted: Vec<&Join> = stays.iter().filter(|j| j.admitted_us.is_some()).collect();
    let a_key = |j: &Join| (j.sent_us, j.admitted_us.unwrap_or(u64::MAX));
    let b_key = |j: &Join| (j.recv_us, j.waiting_sent_us);
    match prequeue {
        Prequeue::Fifo => {
            let bs: Vec<_> = waiting.iter().map(|j| b_key(j)).collect();
            let as_: Vec<_> = admitted.iter().map(|j| a_key(j)).collect();
            let mut counts = overtaken_counts(&bs, &as_);
            // Before the opening, positions order the joins too: between two such
            // users the position decides (it implies the send/receipt order).
            let pre = |j: &&&Join| before_opening(j.recv_us, opening_us);
            let pre_b: Vec<&&Join> = waiting.iter().filter(pre).collect();
            let pre_a: Vec<usize> = (0..admitted.len())
                .filter(|&i| before_opening(admitted[i].recv_us, opening_us))
                .collect();
            if !pre_a.is_empty() {
                let b_hb: Vec<_> = pre_b.iter().map(|j| b_key(j)).collect();
                let b_pos: Vec<_> = pre_b
                    .iter()
                    .map(|j| (j.position, j.waiting_sent_us))
                    .collect();
                let a_hb: Vec<_> = pre_a.iter().map(|&i| a_key(admitted[i])).collect();
                let a_pos: Vec<_> = pre_a
                    .iter()
                    .map(|&i| (admitted[i].position, admitted[i].admitted_us.unwrap_or(0)))
                    .collect();
                let hb = overtaken_counts(&b_hb, &a_hb);
                let pos = overtaken_counts(&b_pos, &a_pos);
                for (k, &i) in pre_a.iter().enumerate() {
                    counts[i] = counts[i] - hb[k] + pos[k];
                }
            }
            Overtaking {
                inversions: counts.iter().sum(),
                overtakers: counts.iter().filter(|&&c| c > 0).count() as u64,
                checked: admitted.len() as u64,
                by_position: stays
                    .iter()
                    .filter(|j| before_opening(j.recv_us, opening_us))
                    .count() as u64,
                skipped_shuffled: 0,
            }
        }
        Prequeue::Shuffled => {
            let drawn_by = opening_us.unwrap_or(0) + micros(SHUFFLE_MARGIN);
            let bs: Vec<_> = waiting.iter().map(|j| b_key(j)).collect();
            let as_: Vec<_> = admitted
                .iter()
                .filter(|j| j.sent_us >= drawn_by)
                .map(|j| a_key(j))
                .collect();
            let counts = overtaken_counts(&bs, &as_);
            Overtaking {
                inversions: counts.iter().sum(),
                overtakers: counts.iter().filter(|&&c| c > 0).count() as u64,
                checked: as_.len() as u64,
                by_position: 0,
                skipped_shuffled: (admitted.len() - as_.len()) as u64,
            }
        }
    }
}

/// What the one-place check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnePlace {
    /// Users told a worse place than before in the same stay (an answer sent after the
    /// earlier one was received), not explained by the draw of a SHUFFLED pre-queue.
    pub moved_back: u64,
    /// First joins answered before the opening (their positions are absolute).
    pub joins_before_opening: u64,
    /// Of those, how many share their join position with another user.
    pub shared_positions: u64,
}

pub fn one_place(trails: &[&Trail], prequeue: Prequeue, opening_us: Option<u64>) -> OnePlace {
    let drawn_by = opening_us.unwrap_or(0) + micros(SHUFFLE_MARGIN);
    let moved_back = trails
        .iter()
        .filter(|t| {
            t.increases > 0 && (prequeue == Prequeue::Fifo || t.increase_after_us >= drawn_by)
        })
        .count() as u64;
    let mut positions: Vec<u64> = trails
        .iter()
        .filter_map(|t| t.first_join)
        .filter(|j| before_opening(j.recv_us, opening_us))
        .map(|j| j.position)
        .collect();
    positions.sort_unstable();
    let mut shared = 0u64;
    for (i, p) in positions.iter().enumerate() {
        let next_same = positions.get(i + 1) == Some(p);
        let prev_same = i > 0 && positions[i - 1] == *p;
        if next_same || prev_same {
            shared += 1;
        }
    }
    OnePlace {
        moved_back,
        joins_before_opening: positions.len() as u64,
        shared_positions: shared,
    }
}

/// The users' final answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answers {
    pub users: u64,
    /// ACCEPTED (whether the coupon was persisted is the verdict's state check).
    pub accepted: u64,
    pub sold_out: u64,
    pub already_issued: u64,
    /// Of the ALREADY_ISSUED users (never answered ACCEPTED), those whose issue state
    /// reads ISSUED, and those whose state could not be read.
    pub already_issued_held: u64,
    pub already_issued_unread: u64,
    /// Users who sent and never got a final answer.
    pub none: u64,
}

impl Answers {
    pub fn of(crowd: &Crowd) -> Self {
        let mut a = Self::default();
        for t in &crowd.tally {
            if t.sent.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                continue;
            }
            a.users += 1;
            match t.final_answer() {
                Some(Final::Accepted) => a.accepted += 1,
                Some(Final::SoldOut) => a.sold_out += 1,
                Some(Final::AlreadyIssued) => a.already_issued += 1,
                None => a.none += 1,
            }
        }
        a
    }
}

/// Users whose final answer is ALREADY_ISSUED although they were never answered
/// ACCEPTED: the verdict reads whether they hold the coupon.
pub fn already_issued_only(crowd: &Crowd) -> Vec<usize> {
    (0..crowd.tally.len())
        .filter(|&i| {
            let t = &crowd.tally[i];
            t.final_answer() == Some(Final::AlreadyIssued)
                && t.accepted.load(std::sync::atomic::Ordering::Relaxed) == 0
        })
        .collect()
}

/// The figures the waiting-room checks judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judged {
    pub prequeue: Prequeue,
    pub overtaking: Overtaking,
    pub one_place: OnePlace,
    pub answers: Answers,
    pub quantity: u64,
    pub persisted: Option<u64>,
    /// Failed requests (errors, unknown 2xx answers) and users who gave up.
    pub errors: u64,
    pub gave_up: u64,
}

/// The waiting room's additions to the verdict.
pub fn checks(j: &Judged) -> Vec<Check> {
    let mut out = Vec::new();
    let o = &j.overtaking;
    let scope = match j.prequeue {
        Prequeue::Fifo => format!(
            "{} admitted users checked ({} joined before the opening, also ordered by position)",
            o.checked, o.by_position
        ),
        Prequeue::Shuffled => format!(
            "{} admitted users who joined after the pre-queue's draw checked, {} drawn at random skipped",
            o.checked, o.skipped_shuffled
        ),
    };
    out.push(check(
        "no overtaking: admission follows join order",
        if o.inversions == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        format!(
            "{} overtakings by {} users; {scope}",
            o.inversions, o.overtakers
        ),
    ));
    let p = &j.one_place;
    out.push(check(
        "one place per user",
        if p.moved_back == 0 && p.shared_positions == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        format!(
            "{} users told a worse place later in the same stay; {} of {} joins before the opening share a position",
            p.moved_back, p.shared_positions, p.joins_before_opening
        ),
    ));
    let a = &j.answers;
    let unbacked = a
        .already_issued
        .saturating_sub(a.already_issued_held + a.already_issued_unread);
    let status = if a.none > 0 || unbacked > 0 {
        Status::Fail
    } else if a.already_issued_unread > 0 {
        Status::Inconclusive
    } else {
        Status::Pass
    };
    out.push(check(
        "every user ends with a definite answer",
        status,
        format!(
            "{} users: {} ACCEPTED, {} SOLD_OUT, {} ALREADY_ISSUED ({} hold the coupon, {} unread), {} without an answer{}",
            a.users,
            a.accepted,
            a.sold_out,
            a.already_issued,
            a.already_issued_held,
            a.already_issued_unread,
            a.none,
            if j.gave_up > 0 {
                format!(" ({} gave up)", j.gave_up)
            } else {
                String::new()
            }
        ),
    ));
    let expected = j.quantity.min(a.users);
    out.push(match j.persisted {
        Some(n) => check(
            "issued == quantity",
            if n == expected {
                Status::Pass
            } else {
                Status::Fail
            },
            format!(
                "{n} issued (persisted), quantity {}{}",
                j.quantity,
                if expected < j.quantity {
                    format!(", {} users", a.users)
                } else {
                    String::new()
                }
            ),
        ),
        None => check(
            "issued == quantity",
            Status::Fail,
            "the coupon's stats could not be read".into(),
        ),
    });
    out.push(check(
        "no errors",
        if j.errors == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        format!(
            "{} failed or unknown answers (timeouts, error statuses, unreadable bodies)",
            j.errors
        ),
    ));
    out
}

/// The waiting room in the summary: settings, what users saw, the admin samples.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomReport {
    pub prequeue: Prequeue,
    pub opens_in_ms: Option<u64>,
    /// The opening in seconds after the start of the run (negative: before it).
    pub opens_at_secs: Option<f64>,
    pub arrival: Arrival,
    pub arrival_secs: f64,
    /// Users answered QUEUED at least once.
    pub queued_users: u64,
    /// Users seen ADMITTED.
    pub admitted_users: u64,
    pub rejoins: u64,
    pub gave_up: u64,
    /// From the request that joined to the answer that said ADMITTED.
    pub wait_to_admission: Option<Latency>,
    pub overtaking: Overtaking,
    pub one_place: OnePlace,
    pub answers: Answers,
    /// The admin view every 500 ms.
    pub samples: Vec<RoomSample>,
    pub sample_failures: u64,
}

/// What the users' trails say, for the report and the checks.
pub struct Observed {
    pub queued_users: u64,
    pub admitted_users: u64,
    pub rejoins: u64,
    pub gave_up: u64,
    pub wait_to_admission: Option<Latency>,
    pub overtaking: Overtaking,
    pub one_place: OnePlace,
}

pub fn observe(trails: &[Option<Trail>], prequeue: Prequeue, opening_us: Option<u64>) -> Observed {
    let trails: Vec<&Trail> = trails.iter().flatten().collect();
    let stays: Vec<Join> = trails.iter().filter_map(|t| t.join).collect();
    let mut waits = Histogram::<u64>::new(3).expect("valid significant figures");
    waits.auto(true);
    for t in &trails {
        if let (Some(first), Some(admitted)) = (t.first_join, t.join.and_then(|j| j.admitted_us)) {
            let _ = waits.record(admitted.saturating_sub(first.sent_us).max(1));
        }
    }
    Observed {
        queued_users: trails.len() as u64,
        admitted_users: trails.iter().filter(|t| t.admitted_seq.is_some()).count() as u64,
        rejoins: trails.iter().map(|t| u64::from(t.rejoins)).sum(),
        gave_up: trails.iter().filter(|t| t.gave_up.is_some()).count() as u64,
        wait_to_admission: (!waits.is_empty()).then(|| Latency::of(&waits)),
        overtaking: overtaking(&stays, prequeue, opening_us),
        one_place: one_place(&trails, prequeue, opening_us),
    }
}

/// `--user-records`: one CSV line per user, in user order.
pub fn write_records(path: &Path, crowd: &Crowd, trails: &[Option<Trail>]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "user,user_id,join_seq,join_position,first_queued_ms,admitted_seq,admitted_ms,final,time_to_answer_ms,polls,rejoins,gave_up"
    )?;
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    for (i, ((user, tally), trail)) in crowd.users.iter().zip(&crowd.tally).zip(trails).enumerate()
    {
        let t = trail.as_ref();
        let first = t.and_then(|t| t.first_join);
        writeln!(
            out,
            "{i},{},{},{},{},{},{},{},{},{},{},{}",
            user.id,
            t.and_then(|t| t.join_seq)
                .map_or(String::new(), |s| s.to_string()),
            first.map_or(String::new(), |j| j.position.to_string()),
            first.map_or(String::new(), |j| ms(j.recv_us)),
            t.and_then(|t| t.admitted_seq)
                .map_or(String::new(), |s| s.to_string()),
            t.and_then(|t| t.join)
                .and_then(|j| j.admitted_us)
                .map_or(String::new(), ms),
            tally.final_answer().map_or("", Final::as_str),
            tally
                .time_to_answer()
                .map_or(String::new(), |d| ms(d.as_micros() as u64)),
            t.map_or(0, |t| t.polls),
            t.map_or(0, |t| t.rejoins),
            t.and_then(|t| t.gave_up)
                .map_or(String::new(), |g| format!("{g:?}")),
        )?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    /// A stay: joined (sent, received) at ms, position, admitted seen at ms, last seen
    /// waiting at ms (sent).
    fn stay(sent: u64, recv: u64, position: u64, admitted: Option<u64>, waiting: u64) -> Join {
        Join {
            sent_us: sent * MS,
            recv_us: recv * MS,
            position,
            admitted_us: admitted.map(|a| a * MS),
            waiting_sent_us: waiting * MS,
        }
    }

    /// Every pair, the slow way: the reference for `overtaken_counts`.
    fn brute(bs: &[(u64, u64)], as_: &[(u64, u64)]) -> Vec<u64> {
        as_.iter()
            .map(|a| bs.iter().filter(|b| b.0 < a.0 && b.1 > a.1).count() as u64)
            .collect()
    }

    #[test]
    fn counting_matches_the_pairwise_definition() {
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let n = rng.gen_range(0..60);
            let bs: Vec<(u64, u64)> = (0..n)
                .map(|_| (rng.gen_range(0..30), rng.gen_range(0..30)))
                .collect();
            let as_: Vec<(u64, u64)> = (0..rng.gen_range(0..60))
                .map(|_| (rng.gen_range(0..30), rng.gen_range(0..30)))
                .collect();
            assert_eq!(
                overtaken_counts(&bs, &as_),
                brute(&bs, &as_),
                "{bs:?} {as_:?}"
            );
        }
    }

    #[test]
    fn a_fair_fifo_line_has_no_overtaking() {
        // Three users join one after another and are admitted in that order; each
        // last saw themselves waiting before the next one was admitted.
        let stays = [
            stay(0, 5, 1, Some(1000), 900),
            stay(10, 15, 2, Some(1100), 1050),
            stay(20, 25, 3, Some(1150), 1120),
        ];
        let o = overtaking(&stays, Prequeue::Fifo, None);
        assert_eq!((o.inversions, o.overtakers, o.checked), (0, 0, 3));
    }

    #[test]
    fn a_later_joiner_admitted_while_an_earlier_one_still_waits_overtakes() {
        let stays = [
            // B joined first and was still waiting at 2000 ms…
            stay(0, 5, 1, Some(3000), 2000),
            // …while A, who joined after B's answer, was seen admitted at 1500 ms.
            stay(10, 15, 2, Some(1500), 1200),
        ];
        let o = overtaking(&stays, Prequeue::Fifo, None);
        assert_eq!((o.inversions, o.overtakers), (1, 1));
        // Within B's poll interval it is no proof: B may have been admitted just after
        // its last poll, before A.
        let close = [
            stay(0, 5, 1, Some(3000), 1400),
            stay(10, 15, 2, Some(1500), 1200),
        ];
        assert_eq!(overtaking(&close, Prequeue::Fifo, None).inversions, 0);
        // Overlapping joins are not ordered by time…
        let overlapping = [
            stay(0, 20, 1, Some(3000), 2000),
            stay(10, 15, 2, Some(1500), 1200),
        ];
        assert_eq!(overtaking(&overlapping, Prequeue::Fifo, None).inversions, 0);
        // …but before the opening their positions order them.
        let opening = Some(500 * MS);
        let o = overtaking(&overlapping, Prequeue::Fifo, opening);
        assert_eq!((o.inversions, o.by_position), (1, 2));
        // And a position order contradicting the arrival order is what decides there.
        let reversed = [
            stay(0, 5, 2, Some(3000), 2000),
            stay(10, 15, 1, Some(1500), 1200),
        ];
        assert_eq!(overtaking(&reversed, Prequeue::Fifo, opening).inversions, 0);
        assert_eq!(overtaking(&reversed, Prequeue::Fifo, None).inversions, 1);
    }

    #[test]
    fn a_shuffled_prequeue_is_only_checked_after_the_draw() {
        let opening = Some(1000 * MS);
        let stays = [
            // Pre-queue, drawn at random: the second admitted first is fair.
            stay(0, 5, 1, Some(1800), 1700),
            stay(10, 15, 2, Some(1100), 1050),
            // Joined after the draw (≥ 3000 ms) yet admitted while the first pre-queue
            // user still waited: an overtaking.
            stay(3000, 3005, 2, Some(3100), 3050),
            stay(0, 5, 3, Some(4000), 3500),
        ];
        let o = overtaking(&stays, Prequeue::Shuffled, opening);
        assert_eq!((o.checked, o.skipped_shuffled), (1, 3));
        assert_eq!((o.inversions, o.overtakers), (1, 1));
        // The same pre-queue under FIFO: the second user overtook the first.
        let fifo = overtaking(&stays[..2], Prequeue::Fifo, opening);
        assert_eq!(fifo.inversions, 1);
    }

    fn trail(first: Join, increases: u32, increase_after_ms: u64) -> Trail {
        Trail {
            first_join: Some(first),
            join: Some(first),
            increases,
            increase_after_us: increase_after_ms * MS,
            ..Trail::default()
        }
    }

    #[test]
    fn one_place_sees_shared_positions_and_worse_places() {
        let opening = Some(1000 * MS);
        let t = [
            trail(stay(0, 5, 1, None, 0), 0, 0),
            trail(stay(10, 15, 2, None, 0), 0, 0),
            trail(stay(20, 25, 2, None, 0), 0, 0),
            // After the opening positions are ranks: sharing one is no fault.
            trail(stay(2000, 2005, 1, None, 0), 0, 0),
        ];
        let refs: Vec<&Trail> = t.iter().collect();
        let p = one_place(&refs, Prequeue::Fifo, opening);
        assert_eq!(
            (p.joins_before_opening, p.shared_positions, p.moved_back),
            (3, 2, 0)
        );
        let moved = [
            trail(stay(0, 5, 1, None, 0), 1, 900),
            trail(stay(10, 15, 2, None, 0), 1, 4000),
        ];
        let refs: Vec<&Trail> = moved.iter().collect();
        assert_eq!(one_place(&refs, Prequeue::Fifo, opening).moved_back, 2);
        assert_eq!(
            one_place(&refs, Prequeue::Shuffled, opening).moved_back,
            1,
            "a place before the draw may get worse at the draw"
        );
    }

    fn judged() -> Judged {
        Judged {
            prequeue: Prequeue::Fifo,
            overtaking: Overtaking {
                checked: 100,
                ..Overtaking::default()
            },
            one_place: OnePlace::default(),
            answers: Answers {
                users: 1000,
                accepted: 100,
                sold_out: 899,
                already_issued: 1,
                already_issued_held: 1,
                ..Answers::default()
            },
            quantity: 100,
            persisted: Some(100),
            errors: 0,
            gave_up: 0,
        }
    }

    fn statuses(j: &Judged) -> Vec<Status> {
        checks(j).iter().map(|c| c.status).collect()
    }

    #[test]
    fn the_verdict_additions_pass_a_fair_run_and_name_each_fault() {
        assert_eq!(statuses(&judged()), [Status::Pass; 5]);
        let mut j = judged();
        j.overtaking.inversions = 3;
        assert_eq!(statuses(&j)[0], Status::Fail);
        let mut j = judged();
        j.one_place.shared_positions = 2;
        assert_eq!(statuses(&j)[1], Status::Fail);
        let mut j = judged();
        j.answers.already_issued_held = 0;
        assert_eq!(
            statuses(&j)[2],
            Status::Fail,
            "ALREADY_ISSUED without the coupon"
        );
        j.answers.already_issued_unread = 1;
        assert_eq!(statuses(&j)[2], Status::Inconclusive);
        let mut j = judged();
        j.answers.none = 1;
        assert_eq!(statuses(&j)[2], Status::Fail);
        let mut j = judged();
        j.persisted = Some(99);
        assert_eq!(statuses(&j)[3], Status::Fail, "under-sold");
        j.persisted = Some(101);
        assert_eq!(statuses(&j)[3], Status::Fail, "over-issued");
        j.answers.users = 50;
        j.persisted = Some(50);
        assert_eq!(statuses(&j)[3], Status::Pass, "fewer users than units");
        let mut j = judged();
        j.errors = 1;
        assert_eq!(statuses(&j)[4], Status::Fail);
        let names: Vec<String> = checks(&judged()).into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "no overtaking: admission follows join order",
                "one place per user",
                "every user ends with a definite answer",
                "issued == quantity",
                "no errors"
            ]
        );
    }

    #[test]
    fn arrivals_spread_over_the_window() {
        let even = arrivals(4, Duration::from_secs(2), Arrival::Even);
        assert_eq!(
            even,
            [0, 500, 1000, 1500].map(Duration::from_millis).to_vec()
        );
        let random = arrivals(1000, Duration::from_secs(2), Arrival::Random);
        assert_eq!(random.len(), 1000);
        assert!(random.windows(2).all(|w| w[0] <= w[1]), "ascending");
        assert!(random.iter().all(|t| *t <= Duration::from_secs(2)));
    }

    #[test]
    fn samples_keep_the_run_and_the_admissions_between_them() {
        let t0 = Instant::now();
        let state = |admitted_total| RoomState {
            mode: "ALWAYS".into(),
            prequeue: "FIFO".into(),
            state: "ON".into(),
            waiting: 10,
            admitted_total,
            abandoned_total: 0,
            admission_rate: 100.0,
            admitted_per_second: 90.0,
            min_rate: 100.0,
            max_rate: 5000.0,
            p95_ms: None,
            remaining: Some(5),
        };
        let raw = [
            (t0, state(0)),
            (t0 + Duration::from_millis(500), state(50)),
            (t0 + Duration::from_millis(1000), state(150)),
        ];
        let s = samples(&raw, t0 + Duration::from_millis(1));
        assert_eq!(s.len(), 2, "the one before the start is left out");
        assert!(
            (s[0].admitted_delta_per_second - 100.0).abs() < 1e-6,
            "{s:?}"
        );
        assert!((s[1].admitted_delta_per_second - 200.0).abs() < 1e-6);
        assert!((s[1].t_secs - 0.999).abs() < 1e-6);
    }
}
