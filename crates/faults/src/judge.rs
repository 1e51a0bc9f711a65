//! Judging a history against the final state.
//!
//! The final state is read after every fault is healed, the log drained and
//! reconciliation run: the coupon's issued rows straight from the database, and its
//! figures through the public API. Each guarantee is one count, and the run passes only
//! if every one of them is zero:
//! - **lost**: told ACCEPTED (or ALREADY_ISSUED), yet holds no row;
//! - **phantom**: holds a row, yet was only ever refused, told SOLD_OUT, or never asked;
//! - **over-issued**: rows beyond the quantity, or more users told ACCEPTED than units;
//! - **duplicate**: a user holding two rows of the coupon;
//! - **under-sold**: someone was told SOLD_OUT, yet units remain unissued.
//!
//! Users whose answer was unknown may end either way; how many ended issued is reported
//! (unknown-then-issued), not judged.

use crate::history::{Answer, Kind};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What the coupon looks like once everything settled.
#[derive(Debug, Clone, Default)]
pub struct FinalState {
    pub total: u64,
    /// `COUNT(*)` of its issued rows.
    pub rows: u64,
    /// The distinct users holding a row.
    pub holders: Vec<Uuid>,
    /// `persisted` of `GET /api/admin/coupons/{id}/stats`.
    pub api_persisted: u64,
}

/// Answers per kind, over all requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub accepted: u64,
    pub already_issued: u64,
    pub sold_out: u64,
    pub refused: u64,
    pub not_delivered: u64,
    pub unknown: u64,
}

impl Tally {
    fn add(&mut self, k: Kind) {
        match k {
            Kind::Accepted => self.accepted += 1,
            Kind::AlreadyIssued => self.already_issued += 1,
            Kind::SoldOut => self.sold_out += 1,
            Kind::Refused => self.refused += 1,
            Kind::NotDelivered => self.not_delivered += 1,
            Kind::Unknown => self.unknown += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    pub users: u64,
    pub answers: Tally,
    pub rows: u64,
    pub total: u64,
    pub lost: Vec<Uuid>,
    pub phantom: Vec<Uuid>,
    pub over_issued: u64,
    pub duplicates: u64,
    pub under_sold: u64,
    pub unknown_then_issued: u64,
    /// From the fault to the first definite answer to a request sent after it.
    pub answering_again_ms: Option<u64>,
    /// Anything else that disagrees (e.g. the API's figures and the table).
    pub problems: Vec<String>,
}

impl Judgement {
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.phantom.is_empty()
            && self.over_issued == 0
            && self.duplicates == 0
            && self.under_sold == 0
            && self.problems.is_empty()
    }
}

/// What one user's answers, taken together, say.
#[derive(Default)]
struct Told {
    holds: bool,
    unknown: bool,
}

pub fn judge(history: &[Answer], end: &FinalState, fault_at_ms: Option<u64>) -> Judgement {
    let mut answers = Tally::default();
    let mut told: HashMap<Uuid, Told> = HashMap::new();
    let mut accepted_users = HashSet::new();
    for a in history {
        answers.add(a.kind);
        let t = told.entry(a.user).or_default();
        match a.kind {
            Kind::Accepted => {
                t.holds = true;
                accepted_users.insert(a.user);
            }
            Kind::AlreadyIssued => t.holds = true,
            Kind::Unknown => t.unknown = true,
            Kind::SoldOut | Kind::Refused | Kind::NotDelivered => {}
        }
    }
    let issued: HashSet<Uuid> = end.holders.iter().copied().collect();
    let mut lost: Vec<Uuid> = told
        .iter()
        .filter(|(u, t)| t.holds && !issued.contains(u))
        .map(|(u, _)| *u)
        .collect();
    let mut phantom: Vec<Uuid> = issued
        .iter()
        .filter(|u| told.get(u).is_none_or(|t| !t.holds && !t.unknown))
        .copied()
        .collect();
    lost.sort();
    phantom.sort();
    let unknown_then_issued = told
        .iter()
        .filter(|(u, t)| t.unknown && !t.holds && issued.contains(u))
        .count() as u64;
    let distinct = issued.len() as u64;
    let over_issued = end
        .rows
        .saturating_sub(end.total)
        .max((accepted_users.len() as u64).saturating_sub(end.total));
    let under_sold = if answers.sold_out > 0 {
        end.total.saturating_sub(distinct)
    } else {
        0
    };
    let answering_again_ms = fault_at_ms.and_then(|at| {
        history
            .iter()
            .filter(|a| a.sent_ms >= at && a.kind.is_definite())
            .map(|a| a.done_ms.saturating_sub(at))
            .min()
    });
    let mut problems = Vec::new();
    if end.api_persisted != end.rows {
        problems.push(format!(
            "the API says {} persisted, the table holds {} rows",
            end.api_persisted, end.rows
        ));
    }
    Judgement {
        users: told.len() as u64,
        answers,
        rows: end.rows,
        total: end.total,
        lost,
        phantom,
        over_issued,
        duplicates: end.rows.saturating_sub(distinct),
        under_sold,
        unknown_then_issued,
        answering_again_ms,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(user: Uuid, kind: Kind, sent_ms: u64) -> Answer {
        Answer {
            user,
            sent_ms,
            done_ms: sent_ms + 5,
            status: 0,
            kind,
            detail: String::new(),
        }
    }

    fn state(total: u64, holders: &[Uuid]) -> FinalState {
        FinalState {
            total,
            rows: holders.len() as u64,
            holders: holders.to_vec(),
            api_persisted: holders.len() as u64,
        }
    }

    #[test]
    fn a_clean_history_passes() {
        let (a, b, c, d) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let h = [
            answer(a, Kind::Accepted, 0),
            answer(b, Kind::Unknown, 1),
            answer(c, Kind::SoldOut, 2),
            answer(d, Kind::Accepted, 3),
        ];
        let j = judge(&h, &state(3, &[a, b, d]), Some(1));
        assert!(j.passed(), "{j:?}");
        assert_eq!(j.unknown_then_issued, 1);
        assert_eq!(
            j.answering_again_ms,
            Some(6),
            "c's SOLD_OUT, sent at 2, done at 7"
        );
    }

    #[test]
    fn each_broken_guarantee_is_counted() {
        let (a, b, c, stranger) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let h = [
            answer(a, Kind::Accepted, 0),
            answer(b, Kind::Refused, 0),
            answer(c, Kind::SoldOut, 0),
        ];
        // a lost; b (refused) and a stranger (never asked) hold rows.
        let j = judge(&h, &state(3, &[b, stranger]), None);
        assert_eq!(j.lost, vec![a]);
        let mut phantom = vec![b, stranger];
        phantom.sort();
        assert_eq!(j.phantom, phantom);
        assert_eq!(j.under_sold, 1, "c was told SOLD_OUT with a unit left");
        assert!(!j.passed());

        let mut dup = state(1, &[a]);
        dup.rows = 2;
        let j = judge(&[answer(a, Kind::Accepted, 0)], &dup, None);
        assert_eq!((j.duplicates, j.over_issued), (1, 1));
        assert_eq!(
            j.problems.len(),
            1,
            "the API's figure disagrees with the rows"
        );
    }

    #[test]
    fn more_acceptances_than_units_is_over_issue_even_if_rows_are_missing() {
        let users: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let h: Vec<Answer> = users
            .iter()
            .map(|u| answer(*u, Kind::Accepted, 0))
            .collect();
        let j = judge(&h, &state(2, &users[..2]), None);
        assert_eq!(j.over_issued, 1);
        assert_eq!(j.lost, vec![users[2]]);
    }
}
