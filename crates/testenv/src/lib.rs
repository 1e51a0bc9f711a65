//! Where the real services for tests are, and isolation on top of them.
//!
//! `scripts/test` makes sure Redis, MariaDB and a Kafka-protocol broker (tansu) run and
//! exports their addresses; without it the defaults below match this machine's
//! services. Every test takes its own database, key prefix and topic, so tests run in
//! parallel against shared servers. Tests that must stop a service (a broker outage)
//! start a private process with [`BrokerProcess`].

mod error_tracker;
pub use error_tracker::ErrorTrackerRecorder;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `COUPONRUSH_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("COUPONRUSH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The test Redis Cluster: its nodes' URLs, comma-separated (scripts/test-services).
pub fn redis_cluster_url() -> String {
    std::env::var("COUPONRUSH_TEST_REDIS_CLUSTER_URL").expect(
        "COUPONRUSH_TEST_REDIS_CLUSTER_URL is not set (run ./scripts/test, which starts a Redis Cluster)",
    )
}

/// `COUPONRUSH_TEST_MYSQL_URL` (a server URL without database, with rights to create
/// databases), default `mysql://root@127.0.0.1:3306`.
pub fn mysql_server_url() -> String {
    std::env::var("COUPONRUSH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// `COUPONRUSH_TEST_KAFKA` (the broker `scripts/test` starts for its run), default
/// `127.0.0.1:9092`.
pub fn kafka_bootstrap() -> String {
    std::env::var("COUPONRUSH_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A name no other test uses: `<prefix>_<12 hex chars>`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// Creates an empty database of its own and returns its URL.
pub async fn fresh_mysql_database() -> String {
    use sqlx::Connection;
    let server = mysql_server_url();
    let name = unique("cr_test");
    let mut conn = sqlx::MySqlConnection::connect(&server)
        .await
        .unwrap_or_else(|e| {
            panic!("MariaDB at {server} (run ./scripts/test, which starts it): {e}")
        });
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    format!("{}/{name}", server.trim_end_matches('/'))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts TCP connections on `port` (bounded).
pub async fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A private tansu broker on its own port, killed on drop. Stoppable, pausable and
/// restartable on the same port, for outage tests.
///
/// [`start`](Self::start) keeps its log in memory (a restart comes back empty, which
/// outage tests that only need the broker gone do not mind); [`start_durable`]
/// (Self::start_durable) keeps it in a SQLite file in its own folder, so a restart
/// (even after SIGKILL) comes back with every acknowledged record, as a Kafka broker
/// does. tansu's in-memory engine also skips the rest of a producer batch when a
/// consumer resumes from an offset inside it (crates/kafka/tests/mid_batch_resume.rs).
pub struct BrokerProcess {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
    storage: &'static str,
}

impl BrokerProcess {
    pub async fn start() -> Self {
        Self::start_with("memory://tansu/").await
    }

    /// A broker whose log survives a restart (tansu's SQLite engine).
    pub async fn start_durable() -> Self {
        Self::start_with("sqlite://tansu.db").await
    }

    async fn start_with(storage: &'static str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("couponrush-broker-{}", unique("b")));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut me = Self {
            port,
            child: None,
            dir,
            storage,
        };
        me.restart().await;
        me
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the broker printed (its folder goes away on drop).
    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.join("broker.log")
    }

    /// Starts (again) on the same port. An in-memory broker comes back empty.
    pub async fn restart(&mut self) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", self.storage])
            .stdout(log(&self.dir.join("broker.log")))
            .stderr(log(&self.dir.join("broker.log")))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting tansu (run ./scripts/test, which installs it): {e}")
            });
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(20)).await,
            "tansu did not listen on {}",
            self.port
        );
    }

    /// Freezes the broker (SIGSTOP): connections stay open and requests sent to it wait
    /// unanswered in its sockets, as with a broker stuck in a long GC pause.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused broker run again (SIGCONT); it then reads what was sent meanwhile.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        signal(self.child.as_ref().expect("the broker is running"), name);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait (bounded) for the broker to exit: a clean shutdown.
    pub async fn terminate(&mut self) {
        if let Some(child) = self.child.as_ref() {
            signal(child, "TERM");
        }
        if let Some(mut child) = self.child.take() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none()
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private MariaDB server on its own port and data directory, killed on drop:
/// for outage tests, which must not stop the server every other test shares.
/// Pausable (SIGSTOP: connections hang, as with a frozen host) and restartable on the
/// same port with its data.
pub struct MariadbProcess {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl MariadbProcess {
    /// Initialises a data directory (`mariadb-install-db`, a few seconds) and starts
    /// the server.
    pub async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("couponrush-mariadb-{}", unique("m")));
        std::fs::create_dir_all(&dir).expect("mariadb dir");
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running mariadb-install-db");
        assert!(installed.success(), "mariadb-install-db failed");
        let mut me = Self {
            port,
            child: None,
            dir,
        };
        me.restart().await;
        me
    }

    /// `mysql://root@127.0.0.1:PORT/DATABASE`, creating the database.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let server = format!("mysql://root@127.0.0.1:{}", self.port);
        let mut conn = sqlx::MySqlConnection::connect(&server)
            .await
            .expect("connect to the private MariaDB");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE IF NOT EXISTS `{name}`"
        )))
        .execute(&mut conn)
        .await
        .expect("create database");
        conn.close().await.ok();
        format!("{server}/{name}")
    }

    /// Starts (again) on the same port and data.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--port={}", self.port))
            .args(["--user=root", "--bind-address=127.0.0.1", "--skip-log-bin"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mariadbd");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(30)).await,
            "mariadbd did not listen on {}",
            self.port
        );
    }

    /// Freezes the server (SIGSTOP): open connections and new handshakes hang.
    pub fn pause(&self) {
        signal(self.child.as_ref().expect("running"), "STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.as_ref().expect("running"), "CONT");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MariadbProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            signal(child, "CONT"); // a stopped process cannot die of SIGKILL until resumed
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private Redis server on its own port, keeping nothing on disk (as the machine's
/// own): for faults that must not touch the Redis every other test shares. Killed on
/// drop; a restart comes back empty, as a Redis without persistence does.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    pub async fn start() -> Self {
        let mut me = Self {
            port: free_port(),
            child: None,
        };
        me.restart().await;
        me
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and starts a new one on the same port: every key is
    /// gone and the run id is new.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting redis-server (run ./scripts/test, which installs it): {e}")
            });
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)).await,
            "redis-server did not listen on {}",
            self.port
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An output file a child process appends to (its runs and restarts in one file).
fn log(path: &std::path::Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{name} failed");
}

/// `TANSU_BIN` (scripts/test-services sets it), else the build with the SQLite engine
/// that scripts/test-services installs, else `tansu` on PATH.
pub fn tansu_binary() -> String {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
        return bin;
    }
    let ours = std::env::var("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".local/share/couponrush/tansu/bin/tansu"));
    match ours {
        Ok(p) if p.exists() => p.to_string_lossy().into_owned(),
        _ => "tansu".into(),
    }
}
