//! One cell of the matrix: start the deployment, rush, inject the fault in the middle,
//! heal it, let everything settle (drain, reconciliation, replay where the fault calls
//! for it), sell what is left to a last wave of users, and judge the whole history.

use crate::SECRET;
use crate::admin::Admin;
use crate::crowd::{Crowd, Wave};
use crate::distributed::{Distributed, Shape};
use crate::embedded::Embedded;
use crate::fault::{Fault, Size};
use crate::history::Answer;
use crate::judge::{Judgement, judge};
use crate::node::Binary;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long the store may take to catch up with the gate once the rush is over.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub fault: String,
    pub judgement: Judgement,
    /// From the end of the rush until the store held every reservation.
    pub caught_up_ms: Option<u64>,
    /// What happened on the way, for the reader of the table.
    pub notes: Vec<String>,
}

/// What a run leaves for the judge.
struct Ran {
    history: Vec<Answer>,
    caught_up_ms: Option<u64>,
    notes: Vec<String>,
}

pub async fn run(fault: Fault, size: Size, binary: &Binary, work: &Path) -> anyhow::Result<Cell> {
    std::fs::create_dir_all(work)?;
    let (ran, judgement) = if fault.is_embedded() {
        embedded(fault, size, binary, work).await?
    } else {
        distributed(fault, size, binary, work).await?
    };
    write_history(&work.join("history.jsonl"), &ran.history)?;
    Ok(Cell {
        fault: fault.describe().into(),
        judgement,
        caught_up_ms: ran.caught_up_ms,
        notes: ran.notes,
    })
}

/// Every answer, one JSON object a line, for a reader who wants to look closer.
fn write_history(path: &Path, history: &[Answer]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for a in history {
        serde_json::to_writer(&mut f, a)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}

fn rush_wave(size: Size) -> Wave {
    Wave {
        users: size.users,
        per_sec: size.per_sec,
        presses: 1,
        retry_after: Duration::ZERO,
    }
}

/// Fresh users for what is left: each presses until a definite answer (a person
/// who was told "try again" does), so units given back are sold.
fn last_wave(left: u64) -> Wave {
    Wave {
        users: left + 10,
        per_sec: 200,
        presses: 20,
        retry_after: Duration::from_millis(300),
    }
}

async fn embedded(
    fault: Fault,
    size: Size,
    binary: &Binary,
    work: &Path,
) -> anyhow::Result<(Ran, Judgement)> {
    let data = work.join("data");
    std::fs::create_dir_all(&data)?;
    let _mount = match fault {
        Fault::EmbeddedDiskFull => Some(Tmpfs::mount(&data, 256)?),
        _ => None,
    };
    let mut server = Embedded::start(binary, &data, work, &[]).await?;
    let admin = Admin::new(SECRET.as_bytes(), server.base.clone());
    let coupon = admin.create_coupon(size.quantity).await?;
    let crowd = Arc::new(Crowd::new(
        SECRET.as_bytes(),
        vec![server.base.clone()],
        coupon,
        size.timeout,
    ));
    let rush = spawn_wave(&crowd, rush_wave(size));
    tokio::time::sleep(size.fault_at).await;
    let fault_ms = crowd.now_ms();
    let mut notes = Vec::new();
    match fault {
        Fault::EmbeddedKill => {
            server.node.kill();
            let down = Instant::now();
            server.node.restart().await?;
            notes.push(format!(
                "restarted and healthy {} ms after the kill",
                down.elapsed().as_millis()
            ));
        }
        Fault::EmbeddedDiskFull => {
            let filler = data.join("filler");
            let written = fill(&filler)?;
            notes.push(format!("disk filled ({} KiB of filler)", written / 1024));
            tokio::time::sleep(size.hold).await;
            std::fs::remove_file(&filler)?;
        }
        _ => unreachable!("not an embedded fault"),
    }
    let heal_ms = crowd.now_ms();
    let mut history = rush.await?;
    notes.push(during(&history, fault_ms, heal_ms));
    let ended = Instant::now();
    let (stats, settled) = admin.settled(coupon, SETTLE_WITHIN).await;
    let caught_up_ms = settled.then(|| ended.elapsed().as_millis() as u64);
    let persisted = stats.map_or(0, |s| s.persisted);
    history.extend(sell_the_rest(&crowd, size.quantity, persisted).await);
    let (stats, _) = admin.settled(coupon, SETTLE_WITHIN).await;
    let end = server
        .final_state(coupon, size.quantity, stats.map_or(0, |s| s.persisted))
        .await?;
    server.node.stop().await;
    let judgement = judge(&history, &end, Some(fault_ms));
    Ok((
        Ran {
            history,
            caught_up_ms,
            notes,
        },
        judgement,
    ))
}

async fn distributed(
    fault: Fault,
    size: Size,
    binary: &Binary,
    work: &Path,
) -> anyhow::Result<(Ran, Judgement)> {
    let mut shape = Shape {
        consumers: if fault == Fault::ConsumerKill { 2 } else { 1 },
        private_mariadb: fault == Fault::MariadbRestart,
        settings: Vec::new(),
    };
    match fault {
        // The consumers persist at a third of the arrival rate: when Redis loses its
        // keys, accepted records are still waiting in the log.
        Fault::RedisFlush => shape.settings.extend([
            ("rate_limit_per_sec", (size.per_sec / 3).max(1).to_string()),
            ("rate_limit_burst", "20".to_string()),
            ("consumer_batch_max_records", "20".to_string()),
        ]),
        // One attempt per record: the outage sends records to the dead-letter topic at
        // once rather than after the retries.
        Fault::ConsumerDbErrors => shape
            .settings
            .extend([("retry_max_attempts", "1".to_string())]),
        _ => {}
    }
    let mut stack = Distributed::start(binary, work, &shape)
        .await
        .context("starting the deployment")?;
    let admin = Admin::new(SECRET.as_bytes(), stack.bases()[1].clone());
    let coupon = admin.create_coupon(size.quantity).await?;
    let crowd = Arc::new(Crowd::new(
        SECRET.as_bytes(),
        stack.bases(),
        coupon,
        size.timeout,
    ));
    let rush = spawn_wave(&crowd, rush_wave(size));
    tokio::time::sleep(size.fault_at).await;
    let fault_ms = crowd.now_ms();
    let mut notes = Vec::new();
    let hold = size.hold;
    match fault {
        Fault::ApiKill => {
            stack.apis[0].kill();
            tokio::time::sleep(hold).await;
            stack.apis[0].restart().await?;
        }
        Fault::ConsumerKill => {
            stack.consumers[0].kill();
            tokio::time::sleep(hold).await;
            stack.consumers[0].restart().await?;
        }
        Fault::BrokerRestart => {
            stack.broker.terminate().await;
            tokio::time::sleep(hold).await;
            stack.broker.restart().await;
        }
        Fault::BrokerKill => {
            stack.broker.stop();
            tokio::time::sleep(hold).await;
            stack.broker.restart().await;
        }
        Fault::BrokerFreeze => {
            stack.broker.pause();
            tokio::time::sleep(hold).await;
            stack.broker.resume();
        }
        Fault::RedisFlush => {
            let (persisted, reserved) = admin
                .stats(coupon)
                .await
                .map(|s| (s.persisted, s.reserved_in_gate.unwrap_or(0)))
                .unwrap_or_default();
            notes.push(format!(
                "at the flush: {reserved} reserved, {persisted} persisted"
            ));
            redis_cli(stack.redis.port, "FLUSHALL")?;
        }
        Fault::RedisRestart => {
            stack.redis.stop();
            tokio::time::sleep(hold).await;
            stack.redis.restart().await;
        }
        Fault::MariadbRestart => {
            let m = stack.mariadb.as_mut().expect("a private MariaDB");
            m.stop();
            tokio::time::sleep(hold).await;
            m.restart().await;
        }
        Fault::ConsumerDbErrors => {
            stack
                .sql("RENAME TABLE issued_coupons TO issued_coupons_away")
                .await?;
            tokio::time::sleep(hold).await;
            stack
                .sql("RENAME TABLE issued_coupons_away TO issued_coupons")
                .await?;
        }
        _ => unreachable!("not a distributed fault"),
    }
    let heal_ms = crowd.now_ms();
    let mut history = rush.await?;
    notes.push(during(&history, fault_ms, heal_ms));
    if fault == Fault::BrokerKill && broker_panicked(&stack) {
        // tansu's SQLite engine panicked on an idempotent producer's bumped epoch
        // (tansu-storage 0.6.0, lite.rs:503) and then reset every connection; with
        // idempotence off (the default) it should not, but if it does, the operator
        // restarts the broker once more and the note says so.
        notes.push("tansu's storage panicked after the restart (lite.rs:503); the broker was restarted once more".into());
        stack.broker.restart().await;
    }
    let ended = Instant::now();
    let settled = if fault == Fault::ConsumerDbErrors {
        // The store cannot catch up before the replay: wait for the failed events.
        failed_events_settled(&admin, coupon).await;
        false
    } else {
        admin.settled(coupon, SETTLE_WITHIN).await.1
    };
    let caught_up_ms = settled.then(|| ended.elapsed().as_millis() as u64);
    notes.push(reconciled(&stack, "after the rush").await);
    if fault == Fault::ConsumerDbErrors {
        notes.push(replay_failed(&admin).await?);
        admin.settled(coupon, SETTLE_WITHIN).await;
    }
    let persisted = admin.stats(coupon).await?.persisted;
    history.extend(sell_the_rest(&crowd, size.quantity, persisted).await);
    let (stats, _) = admin.settled(coupon, SETTLE_WITHIN).await;
    let end = stack
        .final_state(coupon, size.quantity, stats.map_or(0, |s| s.persisted))
        .await?;
    for n in stack.apis.iter_mut().chain(stack.consumers.iter_mut()) {
        n.stop().await;
    }
    // The broker's folder goes with it: keep what it printed beside the other logs.
    let _ = std::fs::copy(stack.broker.log_path(), work.join("broker.log"));
    let judgement = judge(&history, &end, Some(fault_ms));
    if !judgement.lost.is_empty() {
        // Whether the broker still holds the lost records: keep its data for a look.
        notes.push(keep_broker_data(&mut stack, &judgement.lost, work));
    }
    Ok((
        Ran {
            history,
            caught_up_ms,
            notes,
        },
        judgement,
    ))
}

/// How the requests sent while the fault lasted were answered, and how fast.
fn during(history: &[Answer], from_ms: u64, to_ms: u64) -> String {
    let sent: Vec<&Answer> = history
        .iter()
        .filter(|a| a.sent_ms >= from_ms && a.sent_ms < to_ms)
        .collect();
    let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
    for a in &sent {
        *kinds
            .entry(a.detail.split(':').next().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    let slowest = sent
        .iter()
        .map(|a| a.done_ms - a.sent_ms)
        .max()
        .unwrap_or(0);
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        "{} requests sent during the fault ({:.1} s): {}; slowest answer {slowest} ms",
        sent.len(),
        (to_ms - from_ms) as f64 / 1000.0,
        kinds.join(", ")
    )
}

fn spawn_wave(crowd: &Arc<Crowd>, wave: Wave) -> tokio::task::JoinHandle<Vec<Answer>> {
    let crowd = crowd.clone();
    tokio::spawn(async move { crowd.send(wave).await })
}

async fn sell_the_rest(crowd: &Arc<Crowd>, total: u64, persisted: u64) -> Vec<Answer> {
    let left = total.saturating_sub(persisted);
    if left == 0 {
        return Vec::new();
    }
    crowd.send(last_wave(left)).await
}

/// Runs `couponrush reconcile` and sums up what it gave back.
async fn reconciled(stack: &Distributed, when: &str) -> String {
    match stack.reconcile().await {
        Ok(out) => format!(
            "reconcile {when}: {}",
            out.lines().last().unwrap_or("").trim()
        ),
        Err(e) => format!("reconcile {when} failed: {e:#}"),
    }
}

/// Stops the broker and copies its SQLite files (`tansu.db` and its WAL: every
/// committed record) into `work/broker-data`, with the lost users' ids, one a line, in
/// `work/lost-users.txt` (a record's key is its user id's 16 bytes).
fn keep_broker_data(stack: &mut Distributed, lost: &[Uuid], work: &Path) -> String {
    stack.broker.stop();
    let kept = work.join("broker-data");
    let copied = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&kept)?;
        if let Some(dir) = stack.broker.log_path().parent() {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                let is_db = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("tansu.db"));
                if is_db && let Some(name) = path.file_name() {
                    std::fs::copy(&path, kept.join(name))?;
                }
            }
        }
        let ids: String = lost.iter().map(|u| format!("{u}\n")).collect();
        std::fs::write(work.join("lost-users.txt"), ids)
    })();
    let note = match copied {
        Ok(()) => format!(
            "the broker's data is kept in {} (lost users in lost-users.txt)",
            kept.display()
        ),
        Err(e) => format!("keeping the broker's data failed: {e}"),
    };
    eprintln!("    {note}");
    note
}

fn broker_panicked(stack: &Distributed) -> bool {
    std::fs::read_to_string(stack.broker.log_path()).is_ok_and(|log| log.contains("panicked"))
}

/// Waits until every reservation is a row or a failed event (bounded).
async fn failed_events_settled(admin: &Admin, coupon: Uuid) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut previous = None;
    while Instant::now() < deadline {
        let failed = admin
            .failed_events()
            .await
            .map(|e| e.iter().filter(|e| e.status == "FAILED").count() as u64);
        if let (Ok(s), Ok(failed)) = (admin.stats(coupon).await, failed) {
            let now = (s.persisted, failed);
            if s.reserved_in_gate == Some(s.persisted + failed) && previous == Some(now) {
                return;
            }
            previous = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Replays every FAILED event, as an admin would once the cause is fixed.
async fn replay_failed(admin: &Admin) -> anyhow::Result<String> {
    let events = admin.failed_events().await?;
    let pending: Vec<Uuid> = events
        .iter()
        .filter(|e| e.status == "FAILED")
        .map(|e| e.id)
        .collect();
    let mut replayed = 0;
    let mut refused = Vec::new();
    for id in &pending {
        match admin.replay(*id).await? {
            (200, _) => replayed += 1,
            (status, body) => refused.push(format!("{status} {body}")),
        }
    }
    let mut note = format!("{} failed events, {replayed} replayed", pending.len());
    if let Some(first) = refused.first() {
        note.push_str(&format!(", {} refused (first: {first})", refused.len()));
    }
    Ok(note)
}

fn redis_cli(port: u16, command: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), command])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running redis-cli")?;
    anyhow::ensure!(status.success(), "redis-cli {command} failed");
    Ok(())
}

/// Writes zeros to `path` until the disk is full; the bytes written.
fn fill(path: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e.into()),
        }
    }
    let _ = f.sync_all();
    Ok(written)
}

/// A size-limited tmpfs on a folder (needs root), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> anyhow::Result<Self> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .context("running mount")?;
        anyhow::ensure!(
            status.success(),
            "mounting a {mib} MiB tmpfs on {} failed (the disk-full fault needs root)",
            at.display()
        );
        Ok(Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
