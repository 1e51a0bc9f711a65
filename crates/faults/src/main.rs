//! `couponrush-faults`: runs the fault matrix (or some of its faults), prints the table
//! and, with `--write`, puts it into docs/FAULTS.md between its markers.

use anyhow::Context;
use clap::Parser;
use couponrush_faults::{Binary, Fault, Size, table};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// The couponrush binary to run (a release build for figures).
    #[arg(long, default_value = "target/release/couponrush")]
    binary: PathBuf,
    /// Small rushes (what CI runs).
    #[arg(long)]
    short: bool,
    /// Only these faults (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Fault>,
    /// Where each run keeps its logs and history.
    #[arg(long, default_value = "target/faults")]
    work: PathBuf,
    /// Replace the table in this Markdown file (between `<!-- faults:begin -->` and
    /// `<!-- faults:end -->`).
    #[arg(long)]
    write: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = Binary(
        std::fs::canonicalize(&args.binary)
            .with_context(|| format!("the couponrush binary {}", args.binary.display()))?,
    );
    let size = if args.short {
        Size::short()
    } else {
        Size::full()
    };
    let faults = if args.only.is_empty() {
        Fault::ALL.to_vec()
    } else {
        args.only
    };
    let started = chrono::Utc::now();
    let mut cells = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, faults.len(), fault.describe());
        let work = args.work.join(format!("{fault:?}").to_lowercase());
        let _ = std::fs::remove_dir_all(&work);
        let cell = couponrush_faults::run(*fault, size, &binary, &work)
            .await
            .map_err(|e| (fault.describe().to_owned(), format!("{e:#}")));
        match &cell {
            Ok(c) => eprintln!("    {}", if c.judgement.passed() { "PASS" } else { "FAIL" }),
            Err((_, e)) => eprintln!("    ERROR {e}"),
        }
        cells.push(cell);
    }
    let rendered = format!(
        "{}\n{}\nRun {} UTC: `scripts/faults{}` — {} users per rush at {}/s for {} coupons; the fault at {:.1} s, held {:.1} s.\n",
        table::render(&cells),
        table::notes(&cells),
        started.format("%Y-%m-%d %H:%M"),
        if size.users == Size::short().users {
            " --short"
        } else {
            ""
        },
        size.users,
        size.per_sec,
        size.quantity,
        size.fault_at.as_secs_f64(),
        size.hold.as_secs_f64(),
    );
    println!("{rendered}");
    if let Some(path) = &args.write {
        let doc =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (begin, end) = ("<!-- faults:begin -->", "<!-- faults:end -->");
        let (head, rest) = doc.split_once(begin).context("no begin marker")?;
        let (_, tail) = rest.split_once(end).context("no end marker")?;
        std::fs::write(path, format!("{head}{begin}\n{rendered}{end}{tail}"))?;
    }
    let failed = cells
        .iter()
        .any(|c| c.as_ref().map_or(true, |c| !c.judgement.passed()));
    std::process::exit(i32::from(failed));
}
