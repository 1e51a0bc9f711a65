//! The `couponrush` binary: parse flags, load the configuration, run a mode.

use clap::{Args, Parser, Subcommand};
use couponrush_cli::config::Role;
use couponrush_cli::{
    ApiNode, Config, ConsumerNode, EmbeddedApp, distributed, reconcile, shutdown,
};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// glibc's allocator spent ~15% of the server's CPU in malloc/free under a rush (perf,
/// release build); mimalloc's per-thread heaps suit a busy async server better. Built
/// without transparent huge pages (`no_thp`, crates/cli/Cargo.toml): with them, RSS
/// counts whole 2 MiB pages and grew by 18.1 KB per open connection instead of 10.5 KB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the enum's 16th entry; the
/// sys crate names no constant for it). The test below checks it is the option whose
/// default is v3's 1,000 ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc v3 keeps freed memory resident for a second before giving it back, so
/// under steady traffic, whatever a start-up or a burst freed is never returned: a
/// server with 1,000,000 earlier holders sat at 61 MB after its start instead of 34 MB,
/// and a 20,000/s run on 10,000 connections peaked at 258 MB instead of 233 MB. v2's
/// 10 ms gives it back while keeping the pages a steady load reuses (0 measured the
/// same, with more `madvise` calls).
/// mimalloc's own `MIMALLOC_PURGE_DELAY`, when set, is left in force (paired runs
/// compare delays with it).
#[allow(unsafe_code)]
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}

#[derive(Parser)]
#[command(
    name = "couponrush",
    version,
    about = "First-come-first-served coupon issuance"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: ConfigFlags,
}

#[derive(Subcommand)]
enum Command {
    /// Embedded mode (the default): one process, SQLite, in-memory gate.
    Serve,
    /// Print the effective configuration (secrets hidden) and exit.
    Config,
    /// Drive a running couponrush with a rush and check correctness.
    Loadtest(Box<couponrush_loadtest::Args>),
    /// Distributed mode: an api node (HTTP, Redis gate, Kafka producer).
    Api,
    /// Distributed mode: a consumer node (Kafka → MariaDB, dead letters).
    Consumer,
    /// Distributed mode: create or upgrade the MariaDB schema, then exit.
    Migrate,
    /// Distributed mode: give back units the gate holds for users with no record
    /// (waits until the issue log is drained first), then exit.
    Reconcile(ReconcileArgs),
}

#[derive(Args)]
struct ReconcileArgs {
    /// Only this coupon (default: every ACTIVE coupon).
    #[arg(long)]
    coupon: Option<uuid::Uuid>,
    /// Report what would be given back; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Flags that override the configuration; only those given are serialized.
#[derive(Args, Serialize)]
struct ConfigFlags {
    /// TOML configuration file (also COUPONRUSH_CONFIG).
    #[arg(long, global = true)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    bind: Option<SocketAddr>,
    /// Data directory for embedded mode [default: ./data].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_freed_memory_promptly();
    let cli = Cli::parse();
    let config = Config::load(cli.flags.config.as_deref(), &cli.flags)?;
    couponrush_telemetry::init(config.log_format()?);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Api => api(config).await,
        Command::Consumer => {
            let node = ConsumerNode::build(&config).await?;
            let admin = format!("http://{}", node.metrics_addr());
            println!("couponrush {} — consumer node", env!("CARGO_PKG_VERSION"));
            println!("{}", config.shown_for(Role::Consumer));
            println!();
            println!("  metrics  {admin}/metrics   health {admin}/health");
            println!();
            node.run_until_stopped(shutdown::signal()).await
        }
        Command::Migrate => {
            distributed::migrate(&config).await?;
            println!("schema is up to date");
            Ok(())
        }
        Command::Reconcile(args) => {
            let coupon = args.coupon.map(couponrush_domain::CouponId::from_uuid);
            let reports = reconcile::run(&config, coupon, args.dry_run).await?;
            print!("{}", reconcile::table(&reports, args.dry_run));
            Ok(())
        }
        Command::Config => {
            println!("{config}");
            Ok(())
        }
        Command::Loadtest(args) => {
            // The server's own configuration (env, file, --data-dir) supplies the secret.
            let args =
                (*args).with_server_config(config.jwt_secret.clone(), config.data_dir.clone());
            let summary = couponrush_loadtest::run(args).await?;
            std::process::exit(summary.exit_code())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = EmbeddedApp::build(&config).await?;
    print_banner("embedded mode", Role::Embedded, &config, app.local_addr());
    if let Some(first) = &app.first_start {
        match &first.generated_admin_password {
            Some(p) => println!(
                "  admin    created '{}' with password {p}  (shown once: keep it now)",
                first.admin_username
            ),
            None => println!(
                "  admin    created '{}' with the configured password",
                first.admin_username
            ),
        }
    }
    println!();
    app.run_until_stopped(shutdown::signal()).await
}

async fn api(config: Config) -> anyhow::Result<()> {
    let node = ApiNode::build(&config).await?;
    print_banner(
        "distributed mode, api node",
        Role::Api,
        &config,
        node.local_addr(),
    );
    if node.admin_created {
        println!(
            "  admin    created '{}' with the configured password",
            config.admin_username
        );
    }
    println!();
    node.run_until_stopped(shutdown::signal()).await
}

/// What an HTTP process prints at start: mode, the settings it uses (secrets hidden),
/// URLs.
fn print_banner(mode: &str, role: Role, config: &Config, addr: std::net::SocketAddr) {
    let base = format!("http://{addr}");
    println!("couponrush {} — {mode}", env!("CARGO_PKG_VERSION"));
    println!("{}", config.shown_for(role));
    println!();
    println!("  open     {base}/   (the event page and, for admins, the console)");
    println!("  API      {base}/api");
    println!("  OpenAPI  {base}/api-docs/openapi.json   docs {base}/api-docs");
    println!("  health   {base}/health   ready {base}/ready");
    println!("  metrics  {base}/metrics");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_defaulting_to_a_second() {
        // SAFETY: reads an integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1_000, "mimalloc v3's purge_delay default");
        return_freed_memory_promptly();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            10
        );
    }
}
