//! An embedded-mode server in this process.

use couponrush_auth::{Principal, TokenCodec};
use couponrush_cli::{Config, EmbeddedApp};
use couponrush_domain::{Role, UserId};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A trigger that makes SQLite refuse inserts of issued coupons, and its removal.
pub const REFUSE_ISSUE_INSERTS: &str = "CREATE TRIGGER refuse_issue BEFORE INSERT ON issued_coupons \
     BEGIN SELECT RAISE(ABORT, 'disk says no'); END";
pub const ALLOW_ISSUE_INSERTS: &str = "DROP TRIGGER refuse_issue";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    tokens: TokenCodec,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A server on a fresh, empty data directory.
    pub async fn spawn() -> Self {
        Self::spawn_in(tempfile::tempdir().expect("temp dir"), |_| {}).await
    }

    /// A server on `dir` (e.g. one a stopped server left), with `tweak` applied to the
    /// test configuration.
    pub async fn spawn_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        couponrush_telemetry::init(couponrush_telemetry::LogFormat::Text);
        let mut config = Config {
            bind: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().to_path_buf(),
            admin_username: ADMIN_USERNAME.into(),
            admin_password: Some(ADMIN_PASSWORD.into()),
            // AUTO rooms stay off unless a test turns them on: a debug build under
            // parallel tests is slow, and these tests check outcomes.
            room_on_p95_ms: 3_600_000,
            ..Config::default()
        };
        tweak(&mut config);
        let app = EmbeddedApp::build(&config)
            .await
            .expect("embedded app builds");
        let base = format!("http://{}", app.local_addr());
        let tokens = TokenCodec::new(app.jwt_secret.as_bytes(), config.token_ttl());
        Self::serve(base, tokens, dir, |stopped| app.run_until_stopped(stopped)).await
    }

    /// Runs a built server (any mode) until [`TestApp::stop`], and logs the admin in.
    pub(crate) async fn serve<F, Fut>(
        base: String,
        tokens: TokenCodec,
        dir: TempDir,
        run: F,
    ) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async {
            let _ = stopped.await;
        })));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .build()
            .expect("client");
        let mut me = Self {
            base,
            client,
            admin_token: String::new(),
            tokens,
            dir,
            stop: Some(stop),
            task: Some(task),
        };
        me.admin_token = me.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        me
    }

    /// Graceful stop (in-flight requests and the last batch finish); returns the data
    /// directory so a new server can start on it.
    pub async fn stop(mut self) -> TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(couponrush_cli::embedded::DATABASE_FILE)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A token for a new user id that never signed up: the issue path trusts verified
    /// tokens, which is how load tests reach thousands of users.
    pub fn mint_user(&self) -> (UserId, String) {
        let id = UserId::new();
        (
            id,
            self.tokens.mint(
                Principal {
                    user_id: id,
                    role: Role::User,
                },
                chrono::Utc::now(),
            ),
        )
    }

    pub fn tokens(&self) -> &TokenCodec {
        &self.tokens
    }
}

impl TestApp {
    /// A separate connection to the server's database file, to check rows or inject
    /// faults the way an operator's mistake or a full disk would.
    pub async fn db(&self) -> sqlx::SqlitePool {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.db_path())
            .busy_timeout(std::time::Duration::from_secs(5));
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .expect("open test db")
    }

    /// Makes SQLite refuse every new issued coupon, as a full disk or a broken file
    /// would: a real fault (a trigger), lifted with [`ALLOW_ISSUE_INSERTS`] on the pool
    /// returned.
    pub async fn refuse_issue_inserts(&self) -> sqlx::SqlitePool {
        let db = self.db().await;
        sqlx::query(REFUSE_ISSUE_INSERTS)
            .execute(&db)
            .await
            .expect("trigger created");
        db
    }

    /// The users holding persisted rows for `coupon`, read straight from the table.
    pub async fn persisted_holders(&self, coupon: uuid::Uuid) -> Vec<uuid::Uuid> {
        let db = self.db().await;
        let rows: Vec<(uuid::Uuid,)> =
            sqlx::query_as("SELECT user_id FROM issued_coupons WHERE coupon_id = ?")
                .bind(coupon)
                .fetch_all(&db)
                .await
                .expect("query rows");
        db.close().await;
        rows.into_iter().map(|(u,)| u).collect()
    }
}
