//! The matrix as a Markdown table (printed, and written into docs/FAULTS.md).

use crate::run::Cell;

fn ms(v: Option<u64>) -> String {
    v.map_or("—".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
}

pub fn render(cells: &[Result<Cell, (String, String)>]) -> String {
    let mut out = String::from(
        "| fault | users | ACCEPTED | SOLD_OUT | refused | unknown | lost | phantom | over-issued | duplicate | unknown→issued | under-sold | answering again | store caught up | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for cell in cells {
        match cell {
            Ok(c) => {
                let j = &c.judgement;
                let a = &j.answers;
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    c.fault,
                    j.users,
                    a.accepted,
                    a.sold_out,
                    a.refused + a.not_delivered,
                    a.unknown,
                    j.lost.len(),
                    j.phantom.len(),
                    j.over_issued,
                    j.duplicates,
                    j.unknown_then_issued,
                    j.under_sold,
                    ms(j.answering_again_ms),
                    ms(c.caught_up_ms),
                    if j.passed() { "PASS" } else { "**FAIL**" },
                ));
            }
            Err((fault, error)) => out.push_str(&format!(
                "| {fault} | — | — | — | — | — | — | — | — | — | — | — | — | — | **ERROR**: {} |\n",
                error.replace('|', "/").replace('\n', " ")
            )),
        }
    }
    out
}

/// The notes of each cell, and any problems the judge found, as a list.
pub fn notes(cells: &[Result<Cell, (String, String)>]) -> String {
    let mut out = String::new();
    for c in cells.iter().flatten() {
        let mut lines: Vec<String> = c.notes.clone();
        lines.extend(c.judgement.problems.iter().cloned());
        if !c.judgement.lost.is_empty() {
            lines.push(format!(
                "lost users (first 5): {:?}",
                &c.judgement.lost[..c.judgement.lost.len().min(5)]
            ));
        }
        if !c.judgement.phantom.is_empty() {
            lines.push(format!(
                "phantom users (first 5): {:?}",
                &c.judgement.phantom[..c.judgement.phantom.len().min(5)]
            ));
        }
        if !lines.is_empty() {
            out.push_str(&format!("- {}: {}\n", c.fault, lines.join("; ")));
        }
    }
    out
}
