//! `couponrush loadtest`: drive a running couponrush with a rush (or a constant arrival
//! rate, a crowd through an always-on waiting room, or constant load on /health),
//! report k6-style figures, check that the answers and what the server persisted agree
//! (the verdict; for the waiting room also that the line was fair), and judge k6-style
//! thresholds on the figures, apart from the verdict. Users answered QUEUED follow the
//! waiting room in every issue scenario. `--scenario mint` only writes tokens for other
//! clients (wrk).
//!
//! `execute` runs and returns the `Summary` (tests use it); `run` is the command: it also
//! prints the summary on stdout (the tool's output, not logging) and writes the files.
//!
//! Modules: `args` (flags), `tokens` (who the users are), `mint` (tokens to a file),
//! `client` (HTTP), `api` (setup and stats calls), `engine` (the worker pool and its
//! follow-up steps), `scenario::*` (what is sent and when; `scenario::room`: following
//! the waiting room), `stats` (histograms and counts), `progress`
//! (the live line), `summary`, `seconds` (the per-second series), `report_html`,
//! `verify` (the verdict), `thresholds`.

pub mod api;
pub mod args;
pub mod client;
pub mod engine;
pub mod mint;
pub mod progress;
pub mod report_html;
pub mod scenario;
pub mod seconds;
pub mod stats;
pub mod summary;
pub mod thresholds;
pub mod tokens;
pub mod verify;

pub use args::{Args, Scenario};
pub use summary::{Summary, exit};
pub use verify::Status;

use anyhow::Context;
use api::{Api, CouponOptions};
use http::HeaderValue;
use scenario::issue::{Crowd, IssuePlan};
use scenario::room::FollowSettings;
use scenario::waiting_room::{self, Answers, Sampler};
use std::sync::Arc;
use summary::Setup;
use tokens::VirtualUser;

/// What `run` did: a load run, or the tokens `--scenario mint` wrote.
#[derive(Debug)]
pub enum Completed {
    Load(Box<Summary>),
    Minted(mint::Minted),
}

impl Completed {
    /// The process's exit code (see `summary::exit`); a mint that returned is 0.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Load(s) => s.exit_code(),
            Self::Minted(_) => exit::OK,
        }
    }

    pub fn summary(&self) -> Option<&Summary> {
        match self {
            Self::Load(s) => Some(s),
            Self::Minted(_) => None,
        }
    }
}

/// Runs the load, prints the summary, writes `--json`/`--out` (or, for `--scenario
/// mint`, writes the tokens); the exit code to use is `Completed::exit_code`: 0 all
/// good, 1 FAIL, 2 INCONCLUSIVE, 3 a threshold crossed.
pub async fn run(args: Args) -> anyhow::Result<Completed> {
    if args.scenario() == Scenario::Mint {
        // Signing a million tokens is CPU work: off the async runtime.
        let minted = tokio::task::spawn_blocking(move || mint::write(&args)).await??;
        print!("{minted}");
        return Ok(Completed::Minted(minted));
    }
    let summary = execute(&args).await?;
    println!("{summary}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.out {
        std::fs::write(path, report_html::render(&summary))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(Completed::Load(Box::new(summary)))
}

/// Runs the scenario `args` asks for and returns what it measured and concluded.
pub async fn execute(args: &Args) -> anyhow::Result<Summary> {
    args.validate()?;
    anyhow::ensure!(
        args.scenario() != Scenario::Mint,
        "--scenario mint sends nothing: use run() or mint::write()"
    );
    let thresholds = args.thresholds_in_effect();
    if !args.quiet {
        eprintln!(
            "{}",
            thresholds::describe(&thresholds, !args.thresholds.is_empty())
        );
    }
    let target = client::Target::resolve(&args.target)
        .await
        .with_context(|| format!("target {}", args.target))?;
    let scenario = args.scenario();
    let started_at = chrono::Utc::now();
    let mut setup = Setup {
        scenario,
        target: target.base().to_owned(),
        started_at,
        users: args.user_count(),
        requests_per_user: 1,
        connections: args.connections_or_default(),
        quantity: None,
        coupon_id: None,
        rate: args
            .rate
            .filter(|_| matches!(scenario, Scenario::Rate | Scenario::Health)),
        latency_from_schedule: false,
        thresholds,
    };
    if scenario == Scenario::Health {
        setup.users = 0;
        let config = scenario::health::config(args);
        setup.latency_from_schedule = config.latency_from_schedule;
        let plan = Arc::new(scenario::health::HealthPlan::new(&target, args));
        let done = engine::run(&target, plan, config).await?;
        return Ok(Summary::new(setup, &done.stats, done.elapsed, None, None));
    }

    let (admin, users) = credentials(args, &target).await?;
    let quantity = args.quantity_or_default();
    let room = scenario == Scenario::WaitingRoom;
    let prequeue = args.prequeue_or_default();
    let opens_at = args
        .opens_in_ms
        .filter(|_| room)
        .map(|ms| chrono::Utc::now() + chrono::Duration::milliseconds(ms as i64));
    let options = if room {
        CouponOptions {
            waiting_room: Some("ALWAYS"),
            prequeue: Some(prequeue.as_str()),
            opens_at,
        }
    } else {
        CouponOptions::default()
    };
    let coupon = Api::new(&target, args.timeout)
        .create_coupon_with(&admin, quantity, &options)
        .await?;
    let others = FollowSettings {
        max_wait: args.max_wait,
        ..FollowSettings::default()
    };
    let (per_user, schedule, config, follow) = match scenario {
        Scenario::WaitingRoom => waiting_room::shape(args),
        Scenario::Rate => {
            let (per_user, schedule, config) = scenario::rate::shape(args);
            (per_user, schedule, config, others)
        }
        _ => {
            let (per_user, schedule, config) = scenario::rush::shape(args);
            (per_user, schedule, config, others)
        }
    };
    setup.requests_per_user = per_user;
    setup.quantity = Some(quantity);
    setup.coupon_id = Some(coupon);
    setup.latency_from_schedule = config.latency_from_schedule;
    let connections = config.connections;
    let plan = Arc::new(
        IssuePlan::new(&target, coupon, Crowd::new(users), per_user, schedule).with_follow(follow),
    );
    let sampler = room.then(|| Sampler::spawn(&target, &admin, coupon, args.timeout));
    let done = engine::run(&target, plan.clone(), config).await?;
    let samples = match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    let verify_connections = match args.verify_connections {
        0 => connections,
        n => n.min(connections),
    };
    let mut verdict = if args.verify {
        if !args.quiet {
            eprintln!(
                "load done; checking the verdict (drain up to {:?})",
                args.drain_timeout
            );
        }
        Some(
            verify::verify(verify::Input {
                target: &target,
                admin: &admin,
                coupon,
                quantity,
                crowd: &plan.crowd,
                connections: verify_connections,
                timeout: args.timeout,
                drain_timeout: args.drain_timeout,
                sample: args.verify_sample,
            })
            .await?,
        )
    } else {
        None
    };
    let mut room_report = None;
    if room {
        let trails = plan.crowd.trails();
        let opening = waiting_room::opening_us(opens_at, done.t0_wall);
        let seen = waiting_room::observe(&trails, prequeue, opening);
        let mut answers = Answers::of(&plan.crowd);
        if let Some(v) = verdict.as_mut() {
            // ALREADY_ISSUED is a definite answer only for a user who holds the coupon.
            let users = waiting_room::already_issued_only(&plan.crowd)
                .into_iter()
                .map(|i| plan.crowd.users[i].auth.clone())
                .collect();
            let (held, _, unread) =
                verify::read_states(&target, coupon, users, verify_connections, args.timeout)
                    .await?;
            answers.already_issued_held = held as u64;
            answers.already_issued_unread = unread as u64;
            v.checks.extend(waiting_room::checks(&waiting_room::Judged {
                prequeue,
                overtaking: seen.overtaking,
                one_place: seen.one_place,
                answers,
                quantity,
                persisted: v.stats.map(|s| s.persisted),
                errors: done.stats.error_total() + done.stats.outcomes.other,
                gave_up: seen.gave_up,
            }));
            v.status = v
                .checks
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Status::Pass);
        }
        if let Some(path) = &args.user_records {
            waiting_room::write_records(path, &plan.crowd, &trails)
                .with_context(|| format!("writing {}", path.display()))?;
            if !args.quiet {
                eprintln!("user records written to {}", path.display());
            }
        }
        let (raw, sample_failures) = samples.unwrap_or_default();
        room_report = Some(waiting_room::RoomReport {
            prequeue,
            opens_in_ms: args.opens_in_ms,
            opens_at_secs: opens_at
                .map(|at| (at - done.t0_wall).num_milliseconds() as f64 / 1000.0),
            arrival: args.arrival_or_default(),
            arrival_secs: args.arrival_window().as_secs_f64(),
            queued_users: seen.queued_users,
            admitted_users: seen.admitted_users,
            rejoins: seen.rejoins,
            gave_up: seen.gave_up,
            wait_to_admission: seen.wait_to_admission,
            overtaking: seen.overtaking,
            one_place: seen.one_place,
            answers,
            samples: waiting_room::samples(&raw, done.t0),
            sample_failures,
        });
    }
    let mut summary = Summary::new(setup, &done.stats, done.elapsed, Some(&plan.crowd), verdict);
    if let Some(r) = room_report {
        summary.answers = Some(r.answers);
        summary.waiting_room = Some(r);
    }
    Ok(summary)
}

/// The admin's token and the users, minted locally or from real accounts.
async fn credentials(
    args: &Args,
    target: &client::Target,
) -> anyhow::Result<(HeaderValue, Vec<VirtualUser>)> {
    let n = args.user_count();
    if args.signup {
        let password = args
            .admin_password
            .as_deref()
            .context("--signup needs --admin-password")?;
        let admin =
            tokens::login_admin(target, &args.admin_username, password, args.timeout).await?;
        if !args.quiet {
            eprintln!("signing up {n} users (argon2 on the server: this takes a while)");
        }
        let users = tokens::sign_up(target, n, args.connections_or_default(), args.timeout).await?;
        return Ok((admin, users));
    }
    let secret = tokens::load_secret(args.jwt_secret.as_deref(), args.data_dir.as_deref())?;
    let minter = tokens::Minter::new(&secret);
    Ok((minter.admin()?, minter.users(n)?))
}
