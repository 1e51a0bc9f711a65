//! `--scenario mint`: tokens for a third-party load generator (wrk, vegeta, …). Writes
//! `--users` HS256 tokens, one bare token per line, for fresh random UUIDv4 users (role
//! USER), signed like every other scenario's (`--jwt-secret` or `<data-dir>/jwt-secret`),
//! and never contacts the server. `--tokens-split K` spreads them evenly over
//! `FILE.0` … `FILE.{K-1}`, one file per wrk thread.
//!
//! Fast enough for millions: every core signs chunks of tokens into one buffer each and
//! the calling thread writes the buffers out (the order of users in a file means
//! nothing, so chunks are written as they come). Nothing but the chunks in flight is
//! held in memory.

use crate::args::Args;
use crate::tokens::{self, Minter, TOKEN_LIFETIME};
use anyhow::Context;
use couponrush_domain::Role;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Tokens per chunk a signing thread hands over (a token is ~210 bytes: ~1.7 MB).
const CHUNK: u64 = 8192;

/// What a mint wrote.
#[derive(Debug, Clone)]
pub struct Minted {
    pub tokens: u64,
    /// The files written and how many tokens each holds.
    pub files: Vec<(PathBuf, u64)>,
    pub elapsed: Duration,
    /// How long the tokens stay valid.
    pub lifetime: Duration,
}

impl std::fmt::Display for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "minted {} USER tokens in {secs:.2}s ({:.0}/s), valid for {}h, one per line:",
            self.tokens,
            self.tokens as f64 / secs.max(1e-9),
            self.lifetime.as_secs() / 3600
        )?;
        for (path, n) in &self.files {
            writeln!(f, "  {}  {n} tokens", path.display())?;
        }
        Ok(())
    }
}

/// `FILE` alone, or `FILE.0` … `FILE.{k-1}`.
pub fn paths(out: &Path, split: Option<usize>) -> Vec<PathBuf> {
    match split {
        None => vec![out.to_path_buf()],
        Some(k) => (0..k)
            .map(|i| {
                let mut name = OsString::from(out.as_os_str());
                name.push(format!(".{i}"));
                PathBuf::from(name)
            })
            .collect(),
    }
}

/// `n` split over `parts` as evenly as can be: the first `n % parts` get one more.
pub fn split_evenly(n: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| n / parts + u64::from(i < n % parts))
        .collect()
}

/// Mints and writes the tokens `args` asks for (after `Args::validate`).
pub fn write(args: &Args) -> anyhow::Result<Minted> {
    args.validate()?;
    let out = args.tokens_out.as_deref().context("--tokens-out FILE")?;
    let secret = tokens::load_secret(args.jwt_secret.as_deref(), args.data_dir.as_deref())?;
    let minter = Minter::new(&secret);
    let started = Instant::now();
    let paths = paths(out, args.tokens_split);
    let counts = split_evenly(args.users_or_default(), paths.len());
    let mut files = paths
        .iter()
        .map(|p| {
            File::create(p)
                .map(|f| BufWriter::with_capacity(1 << 20, f))
                .with_context(|| format!("creating {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // (file, tokens) per chunk.
    let chunks: Vec<(usize, u64)> = counts
        .iter()
        .enumerate()
        .flat_map(|(file, &n)| {
            (0..n.div_ceil(CHUNK)).map(move |c| (file, CHUNK.min(n - c * CHUNK)))
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len())
        .max(1);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<(usize, String)>(threads * 2);
        for _ in 0..threads {
            let (tx, next, chunks, minter) = (tx.clone(), &next, &chunks, &minter);
            scope.spawn(move || {
                while let Some(&(file, n)) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let now = chrono::Utc::now();
                    let mut buf = String::with_capacity(n as usize * 224);
                    for _ in 0..n {
                        buf.push_str(&minter.token(Uuid::new_v4(), Role::User, now));
                        buf.push('\n');
                    }
                    if tx.send((file, buf)).is_err() {
                        return; // the writer failed and stopped listening
                    }
                }
            });
        }
        drop(tx);
        for (file, buf) in rx {
            files[file]
                .write_all(buf.as_bytes())
                .with_context(|| format!("writing {}", paths[file].display()))?;
        }
        Ok(())
    })?;
    for (file, path) in files.iter_mut().zip(&paths) {
        file.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Minted {
        tokens: args.users_or_default(),
        files: paths.into_iter().zip(counts).collect(),
        elapsed: started.elapsed(),
        lifetime: TOKEN_LIFETIME,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponrush_auth::TokenCodec;
    use std::collections::HashSet;

    const SECRET: &str = "mint-test-secret-0123456789";

    fn mint(dir: &Path, extra: &[&str]) -> anyhow::Result<Minted> {
        let out = dir.join("tokens.txt");
        let argv = [
            "lt",
            "--scenario",
            "mint",
            "--jwt-secret",
            SECRET,
            "--tokens-out",
            out.to_str().unwrap(),
        ]
        .into_iter()
        .chain(extra.iter().copied());
        write(&Args::try_from_argv(argv).unwrap())
    }

    /// Every line of `path`, verified: the user ids.
    fn verified_users(path: &Path) -> Vec<Uuid> {
        let codec = TokenCodec::new(SECRET.as_bytes(), TOKEN_LIFETIME);
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|token| {
                let p = codec.verify(token).expect("a valid token");
                assert_eq!(p.role, Role::User);
                p.user_id.into_uuid()
            })
            .collect()
    }

    #[test]
    fn writes_n_distinct_valid_user_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * CHUNK + 17; // several chunks, the last one short
        let minted = mint(dir.path(), &["--users", &n.to_string()]).unwrap();
        assert_eq!(minted.tokens, n);
        assert_eq!(minted.files, [(dir.path().join("tokens.txt"), n)]);
        let users = verified_users(&dir.path().join("tokens.txt"));
        assert_eq!(users.len() as u64, n);
        assert!(users.iter().all(|u| u.get_version_num() == 4));
        assert_eq!(users.iter().collect::<HashSet<_>>().len() as u64, n);
    }

    #[test]
    fn splits_evenly_over_k_files() {
        let dir = tempfile::tempdir().unwrap();
        let minted = mint(dir.path(), &["--users", "10", "--tokens-split", "3"]).unwrap();
        let expected: Vec<(PathBuf, u64)> = [4, 3, 3]
            .into_iter()
            .enumerate()
            .map(|(i, n)| (dir.path().join(format!("tokens.txt.{i}")), n))
            .collect();
        assert_eq!(minted.files, expected);
        assert!(!dir.path().join("tokens.txt").exists());
        let mut all = HashSet::new();
        for (path, n) in &expected {
            let users = verified_users(path);
            assert_eq!(users.len() as u64, *n);
            all.extend(users);
        }
        assert_eq!(all.len(), 10, "distinct across files");
        assert_eq!(split_evenly(7, 7), [1; 7]);
        assert_eq!(split_evenly(0, 2), [0, 0]);
    }

    #[test]
    fn refuses_contradictory_flags() {
        let dir = tempfile::tempdir().unwrap();
        let err = mint(dir.path(), &["--users", "3", "--tokens-split", "4"]).unwrap_err();
        assert!(err.to_string().contains("--tokens-split"), "{err}");
        let no_out = Args::try_from_argv(["lt", "--scenario", "mint", "--jwt-secret", SECRET])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(no_out.to_string().contains("--tokens-out"), "{no_out}");
        let stray = Args::try_from_argv(["lt", "--tokens-out", "x"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(stray.to_string().contains("--scenario mint"), "{stray}");
    }
}
