//! couponrush processes of a fault run: the real binary, started with its configuration
//! in `COUPONRUSH_*` variables, its output in a log file of the run, killable with
//! SIGKILL and restartable with the same configuration.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// The `couponrush` binary under test.
#[derive(Debug, Clone)]
pub struct Binary(pub PathBuf);

impl Binary {
    /// Runs a command to its end (`migrate`, `reconcile`) and returns what it printed.
    pub async fn run(
        &self,
        args: &[&str],
        env: &BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        let out = tokio::process::Command::new(&self.0)
            .args(args)
            .envs(env)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .with_context(|| format!("running {} {args:?}", self.0.display()))?;
        if !out.status.success() {
            bail!(
                "couponrush {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// One long-running process (`serve`, `api` or `consumer`).
pub struct Node {
    pub name: String,
    binary: Binary,
    command: &'static str,
    env: BTreeMap<String, String>,
    log: PathBuf,
    /// Where `GET /health` answers once the process is up.
    health: String,
    child: Option<Child>,
}

impl Node {
    /// Starts the process and waits until it answers `/health`.
    pub async fn start(
        name: &str,
        binary: &Binary,
        command: &'static str,
        env: BTreeMap<String, String>,
        health: String,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let mut node = Self {
            name: name.into(),
            binary: binary.clone(),
            command,
            env,
            log: logs.join(format!("{name}.log")),
            health,
            child: None,
        };
        node.restart().await?;
        Ok(node)
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("log file {}", self.log.display()))?;
        let child = Command::new(&self.binary.0)
            .arg(self.command)
            .envs(&self.env)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(60)).await
    }

    async fn wait_healthy(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.name,
                    self.log.display()
                );
            }
            let up = client
                .get(&self.health)
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not become healthy; see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no drain, no flush, nothing the process could still do.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: the graceful stop (in-flight requests and batches drain).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `http://host:port` of the process.
    pub fn base(&self) -> &str {
        self.health.trim_end_matches("/health")
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
