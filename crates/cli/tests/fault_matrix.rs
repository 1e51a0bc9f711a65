//! The short fault matrix (what `scripts/faults --short` runs), one test per fault, on
//! this crate's `couponrush` binary: a rush of fresh users, the fault in the middle,
//! and every answer judged against the final state (crates/faults). A failing cell
//! prints the history's counts; its logs and `history.jsonl` stay in the temp folder.

use couponrush_faults::{Binary, Fault, Size, table};

async fn cell(fault: Fault) {
    let work = tempfile::Builder::new()
        .prefix("couponrush-faults-")
        .tempdir()
        .expect("a work folder");
    let binary = Binary(env!("CARGO_BIN_EXE_couponrush").into());
    let outcome = couponrush_faults::run(fault, Size::short(), &binary, work.path())
        .await
        .map_err(|e| (fault.describe().to_owned(), format!("{e:#}")));
    let cells = [outcome];
    let report = format!("{}\n{}", table::render(&cells), table::notes(&cells));
    eprintln!("{report}");
    let passed = cells[0].as_ref().is_ok_and(|c| c.judgement.passed());
    if !passed {
        // Keep the logs and the history for whoever reads the failure.
        let kept = work.keep();
        panic!(
            "{} failed; logs and history in {}\n{report}",
            fault.describe(),
            kept.display()
        );
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_kill() {
    cell(Fault::EmbeddedKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_disk_full() {
    if !is_root() {
        eprintln!("skipped: a size-limited data folder needs a tmpfs mount, which needs root");
        return;
    }
    cell(Fault::EmbeddedDiskFull).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_node_kill() {
    cell(Fault::ApiKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_kill() {
    cell(Fault::ConsumerKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart() {
    cell(Fault::BrokerRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_kill() {
    cell(Fault::BrokerKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_freeze() {
    cell(Fault::BrokerFreeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flush_with_backlog() {
    cell(Fault::RedisFlush).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart() {
    cell(Fault::RedisRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restart() {
    cell(Fault::MariadbRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_database_errors_dead_letters_and_replay() {
    cell(Fault::ConsumerDbErrors).await;
}
