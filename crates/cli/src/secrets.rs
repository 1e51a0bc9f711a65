//! Secrets made on first start: the token-signing key (kept in the data dir, so tokens
//! survive restarts and the load generator can read it) and the admin password (printed
//! once, never stored in plain text).

use anyhow::Context;
use rand::Rng;
use rand::distributions::Alphanumeric;
use std::path::Path;

pub const JWT_SECRET_FILE: &str = "jwt-secret";

/// The configured secret, or the one kept in `data_dir`, or a new one written there
/// with owner-only permissions.
pub fn jwt_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(s) = configured {
        return Ok(s.to_owned());
    }
    let path = data_dir.join(JWT_SECRET_FILE);
    if path.exists() {
        let s = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(s.trim().to_owned());
    }
    let secret = hex::encode(rand::thread_rng().r#gen::<[u8; 32]>());
    write_private(&path, &secret)?;
    Ok(secret)
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub fn generate_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = jwt_secret(None, dir.path()).unwrap();
        let b = jwt_secret(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(
            jwt_secret(Some("configured-secret!"), dir.path()).unwrap(),
            "configured-secret!"
        );
        assert_ne!(generate_password(), generate_password());
    }
}
