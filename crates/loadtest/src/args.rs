//! The command line of `couponrush loadtest`, and the small parsers it needs (durations
//! like `1.5s`, k6-style ramp stages; thresholds live in `thresholds`). Defaults that
//! depend on the scenario are resolved here once, so the scenarios read plain numbers.

use crate::thresholds::{self, Threshold};
use clap::ArgAction;
use std::path::PathBuf;
use std::time::Duration;

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  verdict PASS (or --no-verify) and every threshold held
  1  verdict FAIL: the server broke a guarantee
  2  verdict INCONCLUSIVE: unanswered requests could explain a miscount
  3  verdict PASS (or --no-verify), but a threshold was crossed
  (--scenario mint exits 0 once the tokens are written)";

/// Drive a running couponrush with a rush and check correctness.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct Args {
    /// Base URL of the server (plain HTTP/1.1).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,

    /// What to run: `rush` (default), `rate` (constant arrival rate; implied by --rate),
    /// `waiting-room` (a coupon whose waiting room is always on: every user queues, polls
    /// and is admitted; checks the line's fairness), `health` (load on GET /health: the
    /// server's ceiling, or paced with --rate) or `mint` (write --users tokens to --tokens-out
    /// for another client such as wrk; sends nothing).
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,

    /// Distinct virtual users in a rush or a waiting room (or tokens to mint)
    /// [default: 10000; 100000 for waiting-room].
    #[arg(long)]
    pub users: Option<u64>,

    /// Coupons to create. Default: 100 for a rush; one per arrival for --rate, so the
    /// run measures the issue path rather than SOLD_OUT answers.
    #[arg(long)]
    pub quantity: Option<u64>,

    /// Extra concurrent requests per user in a rush (impatient double presses).
    #[arg(long, default_value_t = 0)]
    pub duplicates: u32,

    /// Release the rush's users gradually: comma-separated TARGET:DURATION stages, k6
    /// style; TARGET is the number of users that have started by the end of the stage
    /// (linear within it), e.g. `0:1s,10000:5s` waits 1 s then releases 10,000 users
    /// over 5 s. Without it every user starts at once.
    #[arg(long, value_parser = parse_ramp)]
    pub ramp: Option<Ramp>,

    /// Constant arrival rate (new users per second) for sustained throughput; with
    /// `--scenario health`, GET /health requests per second instead of a closed loop.
    #[arg(long)]
    pub rate: Option<u64>,

    /// Length of a --rate or health run [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Keep-alive HTTP/1.1 connections, i.e. requests in flight [default: min(users, 512)].
    #[arg(long)]
    pub connections: Option<usize>,

    /// Longest wait for one answer; a timeout is counted as an error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The server's HS256 secret, to mint tokens locally. Default: the server's
    /// configuration (COUPONRUSH_JWT_SECRET, the config file, or <data-dir>/jwt-secret).
    #[arg(long, env = "COUPONRUSH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The embedded server's data directory, whose `jwt-secret` file is read when no
    /// secret is given. Filled from the global `--data-dir` flag by the binary.
    #[arg(skip)]
    pub data_dir: Option<PathBuf>,

    /// Create real accounts (signup + login) instead of minting tokens: slow, realistic.
    #[arg(long)]
    pub signup: bool,

    /// Admin account for --signup (coupon creation and stats).
    #[arg(long, default_value = "admin")]
    pub admin_username: String,

    /// Password of that admin (also COUPONRUSH_ADMIN_PASSWORD).
    #[arg(long, env = "COUPONRUSH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Skip the correctness verdict.
    #[arg(long = "no-verify", action = ArgAction::SetFalse)]
    pub verify: bool,

    /// Check the issue state of only this many ACCEPTED users (0 = all of them).
    #[arg(long, default_value_t = 0)]
    pub verify_sample: usize,

    /// Connections for the verdict's issue-state reads. They are the checker's, not the
    /// event's: a few hundred keep the server's memory and the box's CPU on the event
    /// figures rather than on a burst of checks (0 = as many as the load used).
    #[arg(long, default_value_t = 256)]
    pub verify_connections: usize,

    /// Longest wait for the persisted count to settle before the verdict.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Write a self-contained HTML report (charts + summary) here.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Write the summary as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// A pass/fail criterion on the run's figures, k6 style; repeat the flag for more.
    /// METRIC OP LIMIT: latency `p50|p90|p95|p99|max|avg` with a unit (`p95<500ms`,
    /// `p99<=1s`); `errors<0.1%` (failed or unanswered requests and dropped arrivals, as
    /// a share of those sent or due); `unanswered<=N` (users with no definite answer);
    /// `rps>N` (requests/s). Ops: < <= > >= ==. Judged apart from the verdict; a crossed
    /// threshold exits 3. Default for rush and rate: p95<500ms, p99<1s, errors<0.1%,
    /// unanswered==0; for waiting-room: errors<0.1%, unanswered==0 (its users wait in
    /// line by design: latency is not the point); for health: errors<0.1%.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = thresholds::parse)]
    pub thresholds: Vec<Threshold>,

    /// Judge no thresholds, not even the defaults.
    #[arg(long, conflicts_with = "thresholds")]
    pub no_thresholds: bool,

    /// --scenario waiting-room: the order of those who arrive before the opening, `fifo`
    /// (arrival order) or `shuffled` (drawn at random at the opening) [default: fifo].
    #[arg(long, value_enum)]
    pub prequeue: Option<Prequeue>,

    /// --scenario waiting-room: the coupon opens (`opensAt`) this many milliseconds after
    /// it is created, so users who arrive before wait in the pre-queue [default: open
    /// at once].
    #[arg(long, value_name = "MS")]
    pub opens_in_ms: Option<u64>,

    /// --scenario waiting-room: users arrive within this many seconds [default: 5].
    #[arg(long, value_name = "SECS")]
    pub arrival_secs: Option<f64>,

    /// --scenario waiting-room: arrivals spread `even`ly or at `random` (uniformly, a
    /// Poisson-like crowd) over --arrival-secs [default: even].
    #[arg(long, value_enum)]
    pub arrival: Option<Arrival>,

    /// --scenario waiting-room: write one CSV line per user (join order and position,
    /// admission order, final answer, time to answer) to FILE.
    #[arg(long, value_name = "FILE")]
    pub user_records: Option<PathBuf>,

    /// Longest a user follows a waiting room (polls, rejoins) before giving up without
    /// an answer (counted unanswered).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub max_wait: Duration,

    /// --scenario mint: write the tokens here, one bare token (no `Bearer `) per line.
    #[arg(long, value_name = "FILE")]
    pub tokens_out: Option<PathBuf>,

    /// --scenario mint: split the tokens evenly over FILE.0 … FILE.{K-1} (e.g. one per
    /// wrk thread) instead of writing FILE.
    #[arg(long, value_name = "K")]
    pub tokens_split: Option<usize>,

    /// No live progress line or status lines on stderr (the summary on stdout stays).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Rush,
    Rate,
    #[serde(rename = "waiting-room")]
    WaitingRoom,
    Health,
    Mint,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rush => "rush",
            Self::Rate => "rate",
            Self::WaitingRoom => "waiting-room",
            Self::Health => "health",
            Self::Mint => "mint",
        }
    }
}

/// The pre-queue order of a waiting room (`"prequeue"` of the coupon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Prequeue {
    #[default]
    Fifo,
    Shuffled,
}

impl Prequeue {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fifo => "FIFO",
            Self::Shuffled => "SHUFFLED",
        }
    }
}

/// How arrivals spread over --arrival-secs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    #[default]
    Even,
    Random,
}

/// One k6-style stage: reach `target` by the end of `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub target: u64,
    pub duration: Duration,
}

/// Ramp stages, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ramp(pub Vec<Stage>);

impl Ramp {
    /// When the `n`-th user (1-based) starts: where the piecewise-linear cumulative curve
    /// through the stages first reaches `n`. Users beyond the last target start at its end.
    pub fn release_at(&self, n: u64) -> Duration {
        let (mut t, mut reached) = (Duration::ZERO, 0u64);
        for stage in &self.0 {
            let end = stage.target.max(reached);
            if n <= end && end > reached {
                let frac = (n - reached) as f64 / (end - reached) as f64;
                return t + stage.duration.mul_f64(frac);
            }
            t += stage.duration;
            reached = end;
        }
        t
    }

    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }
}

impl Args {
    /// Parses an argument list (for tests and tools that embed the load generator);
    /// the first item is the program name.
    pub fn try_from_argv<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            args: Args,
        }
        <Cmd as clap::Parser>::try_parse_from(argv).map(|c| c.args)
    }

    /// Fills the token secret from the server's configuration where no flag gave one:
    /// `configured` (COUPONRUSH_JWT_SECRET or the config file), then `data_dir`.
    pub fn with_server_config(mut self, configured: Option<String>, data_dir: PathBuf) -> Self {
        if self.jwt_secret.is_none() {
            self.jwt_secret = configured;
        }
        if self.data_dir.is_none() {
            self.data_dir = Some(data_dir);
        }
        self
    }

    pub fn scenario(&self) -> Scenario {
        match (self.scenario, self.rate) {
            (Some(s), _) => s,
            (None, Some(_)) => Scenario::Rate,
            (None, None) => Scenario::Rush,
        }
    }

    pub fn duration_or_default(&self) -> Duration {
        self.duration.unwrap_or(Duration::from_secs(10))
    }

    /// Arrivals of a --rate run: rate × duration.
    pub fn arrivals(&self) -> u64 {
        let rate = self.rate.unwrap_or(0) as f64;
        (rate * self.duration_or_default().as_secs_f64()).round() as u64
    }

    /// The thresholds to judge: the flags', else the scenario's defaults, none with
    /// --no-thresholds.
    pub fn thresholds_in_effect(&self) -> Vec<Threshold> {
        if self.no_thresholds {
            Vec::new()
        } else if self.thresholds.is_empty() {
            thresholds::defaults(self.scenario())
        } else {
            self.thresholds.clone()
        }
    }

    /// --users, or the scenario's default.
    pub fn users_or_default(&self) -> u64 {
        match (self.users, self.scenario()) {
            (Some(n), _) => n,
            (None, Scenario::WaitingRoom) => 100_000,
            (None, _) => 10_000,
        }
    }

    /// Distinct users the scenario needs.
    pub fn user_count(&self) -> u64 {
        match self.scenario() {
            Scenario::Rush | Scenario::Mint | Scenario::WaitingRoom => self.users_or_default(),
            Scenario::Rate => self.arrivals(),
            Scenario::Health => 0,
        }
    }

    pub fn prequeue_or_default(&self) -> Prequeue {
        self.prequeue.unwrap_or_default()
    }

    pub fn arrival_or_default(&self) -> Arrival {
        self.arrival.unwrap_or_default()
    }

    /// Over how long waiting-room users arrive.
    pub fn arrival_window(&self) -> Duration {
        Duration::from_secs_f64(self.arrival_secs.unwrap_or(5.0))
    }

    pub fn quantity_or_default(&self) -> u64 {
        match (self.quantity, self.scenario()) {
            (Some(q), _) => q,
            (None, Scenario::Rate) => self.arrivals().max(1),
            (None, _) => 100,
        }
    }

    pub fn connections_or_default(&self) -> usize {
        match (self.connections, self.scenario()) {
            (Some(c), _) => c.max(1),
            (None, Scenario::Health) => 512,
            (None, _) => self.user_count().clamp(1, 512) as usize,
        }
    }

    /// Catches contradictory flags before any traffic is sent.
    pub fn validate(&self) -> anyhow::Result<()> {
        let scenario = self.scenario();
        if !self.target.starts_with("http://") {
            anyhow::bail!(
                "--target must be an http:// URL (no TLS), not {}",
                self.target
            );
        }
        match scenario {
            Scenario::Rush => {
                anyhow::ensure!(self.users_or_default() >= 1, "--users must be at least 1");
                anyhow::ensure!(self.rate.is_none(), "--rate belongs to --scenario rate");
            }
            Scenario::WaitingRoom => {
                anyhow::ensure!(self.users_or_default() >= 1, "--users must be at least 1");
                anyhow::ensure!(self.rate.is_none(), "--rate belongs to --scenario rate");
                anyhow::ensure!(
                    self.ramp.is_none(),
                    "--ramp applies to a rush; a waiting room's users arrive over --arrival-secs"
                );
                anyhow::ensure!(
                    self.arrival_secs
                        .is_none_or(|s| s.is_finite() && (0.0..=3600.0).contains(&s)),
                    "--arrival-secs must be between 0 and 3600"
                );
                anyhow::ensure!(
                    self.users_or_default() <= 5_000_000,
                    "--users is above 5,000,000: every user has its own token"
                );
            }
            Scenario::Rate => {
                anyhow::ensure!(
                    self.rate.is_some_and(|r| r >= 1),
                    "--scenario rate needs --rate R (arrivals per second)"
                );
                anyhow::ensure!(self.ramp.is_none(), "--ramp applies to a rush only");
                anyhow::ensure!(
                    self.arrivals() <= 5_000_000,
                    "--rate × --duration is above 5,000,000 arrivals: every arrival is a user with its own token"
                );
            }
            Scenario::Health => {
                anyhow::ensure!(
                    self.rate.is_none_or(|r| r >= 1),
                    "--rate must be at least 1 request per second"
                );
            }
            Scenario::Mint => {
                anyhow::ensure!(
                    self.tokens_out.is_some(),
                    "--scenario mint needs --tokens-out FILE"
                );
                anyhow::ensure!(self.users_or_default() >= 1, "--users must be at least 1");
                anyhow::ensure!(!self.signup, "--scenario mint mints tokens: no --signup");
                anyhow::ensure!(self.rate.is_none(), "--rate belongs to --scenario rate");
                if let Some(k) = self.tokens_split {
                    anyhow::ensure!(
                        k >= 1 && k as u64 <= self.users_or_default(),
                        "--tokens-split must be between 1 and --users ({})",
                        self.users_or_default()
                    );
                }
            }
        }
        if scenario != Scenario::Mint {
            anyhow::ensure!(
                self.tokens_out.is_none() && self.tokens_split.is_none(),
                "--tokens-out and --tokens-split belong to --scenario mint"
            );
        }
        if scenario != Scenario::WaitingRoom {
            anyhow::ensure!(
                self.prequeue.is_none()
                    && self.opens_in_ms.is_none()
                    && self.arrival_secs.is_none()
                    && self.arrival.is_none()
                    && self.user_records.is_none(),
                "--prequeue, --opens-in-ms, --arrival-secs, --arrival and --user-records \
                 belong to --scenario waiting-room"
            );
        }
        if !matches!(scenario, Scenario::Health | Scenario::Mint) && self.signup {
            anyhow::ensure!(
                self.admin_password.is_some(),
                "--signup needs --admin-password (or COUPONRUSH_ADMIN_PASSWORD) for the admin token"
            );
        }
        let q = self.quantity_or_default();
        anyhow::ensure!(
            (1..=u64::from(u32::MAX)).contains(&q),
            "--quantity must be between 1 and {}",
            u32::MAX
        );
        Ok(())
    }
}

/// `"1.5ms"` → (`"1.5"`, `"ms"`): the leading number and the unit after it.
pub(crate) fn split_number(raw: &str) -> (&str, &str) {
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    raw.split_at(split)
}

/// `500ms`, `2s`, `1.5s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = split_number(raw);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {raw:?} (try 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in {raw:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{raw:?}: {e}"))
}

/// `0:1s,10000:5s`: TARGET:DURATION stages separated by commas.
pub fn parse_ramp(raw: &str) -> Result<Ramp, String> {
    let stages = raw
        .split(',')
        .map(|stage| {
            let (target, duration) = stage
                .split_once(':')
                .ok_or_else(|| format!("stage {stage:?} is not TARGET:DURATION"))?;
            Ok(Stage {
                target: target
                    .trim()
                    .parse()
                    .map_err(|_| format!("stage {stage:?}: target is not a number"))?,
                duration: parse_duration(duration)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if stages.is_empty() {
        return Err("empty ramp".into());
    }
    Ok(Ramp(stages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn ramp_releases_users_along_the_stages() {
        let ramp = parse_ramp("0:1s,10000:5s").unwrap();
        assert_eq!(ramp.total(), Duration::from_secs(6));
        assert_eq!(
            ramp.release_at(1),
            Duration::from_secs(1) + Duration::from_micros(500)
        );
        assert_eq!(ramp.release_at(5000), Duration::from_millis(3500));
        assert_eq!(ramp.release_at(10_000), Duration::from_secs(6));
        assert_eq!(
            ramp.release_at(20_000),
            Duration::from_secs(6),
            "beyond the last target: at its end"
        );
        let flat_then_up = parse_ramp("100:1s,100:1s,200:1s").unwrap();
        assert_eq!(flat_then_up.release_at(100), Duration::from_secs(1));
        assert_eq!(flat_then_up.release_at(150), Duration::from_millis(2500));
        assert!(parse_ramp("10").is_err());
    }

    #[test]
    fn defaults_follow_the_scenario() {
        let a = Args::try_from_argv(["lt"]).unwrap();
        assert_eq!(a.scenario(), Scenario::Rush);
        assert_eq!(
            (
                a.users_or_default(),
                a.quantity_or_default(),
                a.connections_or_default()
            ),
            (10_000, 100, 512)
        );
        assert!(a.verify);
        let r = Args::try_from_argv(["lt", "--rate", "1000", "--duration", "3s", "--no-verify"])
            .unwrap();
        assert_eq!(r.scenario(), Scenario::Rate);
        assert_eq!((r.arrivals(), r.quantity_or_default()), (3000, 3000));
        assert!(!r.verify);
        r.validate().unwrap();
        let bad = Args::try_from_argv(["lt", "--scenario", "rate"]).unwrap();
        assert!(bad.validate().is_err());

        let w = Args::try_from_argv(["lt", "--scenario", "waiting-room"]).unwrap();
        assert_eq!(w.scenario(), Scenario::WaitingRoom);
        assert_eq!(
            (
                w.user_count(),
                w.quantity_or_default(),
                w.connections_or_default()
            ),
            (100_000, 100, 512)
        );
        assert_eq!(
            (
                w.prequeue_or_default(),
                w.arrival_or_default(),
                w.arrival_window()
            ),
            (Prequeue::Fifo, Arrival::Even, Duration::from_secs(5))
        );
        w.validate().unwrap();
        let w = Args::try_from_argv([
            "lt",
            "--scenario",
            "waiting-room",
            "--users",
            "2000",
            "--prequeue",
            "shuffled",
            "--opens-in-ms",
            "3000",
            "--arrival-secs",
            "1.5",
            "--arrival",
            "random",
        ])
        .unwrap();
        assert_eq!(
            (w.user_count(), w.prequeue_or_default(), w.opens_in_ms),
            (2000, Prequeue::Shuffled, Some(3000))
        );
        assert_eq!(w.arrival_window(), Duration::from_millis(1500));
        w.validate().unwrap();
        let stray = Args::try_from_argv(["lt", "--prequeue", "fifo"]).unwrap();
        assert!(
            stray
                .validate()
                .unwrap_err()
                .to_string()
                .contains("waiting-room")
        );
        let ramped =
            Args::try_from_argv(["lt", "--scenario", "waiting-room", "--ramp", "10:1s"]).unwrap();
        assert!(ramped.validate().is_err());
    }

    #[test]
    fn thresholds_are_flags_with_defaults_and_an_off_switch() {
        let exprs = |a: &Args| {
            a.thresholds_in_effect()
                .into_iter()
                .map(|t| t.expr)
                .collect::<Vec<_>>()
        };
        let a = Args::try_from_argv(["lt"]).unwrap();
        assert_eq!(
            exprs(&a),
            ["p95<500ms", "p99<1s", "errors<0.1%", "unanswered==0"]
        );
        let a = Args::try_from_argv([
            "lt",
            "--threshold",
            "p95<200ms",
            "--threshold",
            "rps > 1000",
        ])
        .unwrap();
        assert_eq!(
            exprs(&a),
            ["p95<200ms", "rps>1000"],
            "the flags replace the defaults"
        );
        let a = Args::try_from_argv(["lt", "--no-thresholds"]).unwrap();
        assert!(exprs(&a).is_empty());
        let health = Args::try_from_argv(["lt", "--scenario", "health"]).unwrap();
        assert_eq!(exprs(&health), ["errors<0.1%"]);
        let room = Args::try_from_argv(["lt", "--scenario", "waiting-room"]).unwrap();
        assert_eq!(exprs(&room), ["errors<0.1%", "unanswered==0"]);

        let err = Args::try_from_argv(["lt", "--threshold", "p95<500"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("needs a unit"), "{err}");
        let err =
            Args::try_from_argv(["lt", "--threshold", "p95<1s", "--no-thresholds"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Args::try_from_argv(["lt", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("3  verdict PASS"), "{help}");
        assert!(help.contains("--threshold <EXPR>"), "{help}");
        assert!(help.contains("--tokens-out <FILE>"), "{help}");
    }
}
