//! A strict parser of the Prometheus text exposition format (0.0.4), so tests check
//! that `/metrics` is something a Prometheus server accepts, and read values from it.
//!
//! Stricter than Prometheus where our exporter can afford it: every sample needs a
//! `# TYPE`, a family's lines are contiguous, no series twice, histogram buckets are
//! cumulative with a `+Inf` bucket equal to `_count`, counters are never negative.

use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`…_bucket`, `…_sum`, `…_count` for histograms).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    pub fn parse(text: &str) -> Result<Self, String> {
        Parser::default().run(text)
    }

    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .filter(move |s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
    }

    /// Sum of the samples `samples(name, labels)` selects (0 if none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).map(|s| s.value).sum()
    }
}

#[derive(Default)]
struct Parser {
    out: Exposition,
    /// The family whose lines are being read, and the ones already closed.
    current: Option<String>,
    closed: HashSet<String>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

const KINDS: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

impl Parser {
    fn run(mut self, text: &str) -> Result<Exposition, String> {
        for (i, line) in text.lines().enumerate() {
            self.line(line)
                .map_err(|e| format!("line {}: {e}: {line:?}", i + 1))?;
        }
        for (name, family) in &self.out.families {
            check_family(name, family)?;
        }
        Ok(self.out)
    }

    /// Moves to family `name`, refusing to come back to one already left.
    fn enter(&mut self, name: &str) -> Result<(), String> {
        if self.current.as_deref() == Some(name) {
            return Ok(());
        }
        if self.closed.contains(name) {
            return Err(format!("lines of {name} are not contiguous"));
        }
        if let Some(prev) = self.current.replace(name.to_owned()) {
            self.closed.insert(prev);
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix('#') {
            return self.comment(rest.trim_start());
        }
        self.sample(line)
    }

    fn comment(&mut self, rest: &str) -> Result<(), String> {
        let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match keyword {
            "HELP" => {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                metric_name(name)?;
                self.enter(name)?;
                let family = self.out.families.entry(name.to_owned()).or_default();
                if family.help.replace(help.to_owned()).is_some() {
                    return Err(format!("second HELP for {name}"));
                }
                Ok(())
            }
            "TYPE" => {
                let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
                metric_name(name)?;
                if !KINDS.contains(&kind) {
                    return Err(format!("unknown type {kind}"));
                }
                self.enter(name)?;
                let family = self.out.families.entry(name.to_owned()).or_default();
                if !family.kind.is_empty() || !family.samples.is_empty() {
                    return Err(format!("TYPE of {name} after its TYPE or samples"));
                }
                family.kind = kind.to_owned();
                Ok(())
            }
            _ => Ok(()), // a plain comment
        }
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or("no value")?;
        let name = &line[..name_end];
        metric_name(name)?;
        let mut rest = &line[name_end..];
        let labels = if rest.starts_with('{') {
            let (labels, after) = labels(&rest[1..])?;
            rest = after;
            labels
        } else {
            BTreeMap::new()
        };
        let mut fields = rest.split_whitespace();
        let value = value(fields.next().ok_or("no value")?)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|_| format!("bad timestamp {ts}"))?;
        }
        if fields.next().is_some() {
            return Err("trailing text".into());
        }
        let family = self.family_of(name, &labels)?;
        self.enter(&family)?;
        let key = (
            name.to_owned(),
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        );
        if !self.series.insert(key) {
            return Err("the same series twice".into());
        }
        let f = self.out.families.get_mut(&family).expect("checked");
        if f.kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(format!("counter {name} is {value}"));
        }
        f.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
        Ok(())
    }

    /// The declared family a series belongs to.
    fn family_of(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<String, String> {
        let kind = |n: &str| self.out.families.get(n).map(|f| f.kind.as_str());
        match kind(name) {
            Some("counter" | "gauge" | "untyped") => return Ok(name.to_owned()),
            Some("summary") if labels.contains_key("quantile") => return Ok(name.to_owned()),
            _ => {}
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            match (kind(base), suffix) {
                (Some("histogram"), "_bucket") if labels.contains_key("le") => {
                    return Ok(base.to_owned());
                }
                (Some("histogram"), "_bucket") => return Err("bucket without le".into()),
                (Some("histogram" | "summary"), _) => return Ok(base.to_owned()),
                _ => {}
            }
        }
        Err(format!("{name} has no # TYPE"))
    }
}

/// Buckets cumulative, `+Inf` equal to `_count`, `_sum` present, for every histogram
/// series.
fn check_family(name: &str, family: &Family) -> Result<(), String> {
    if family.kind.is_empty() {
        return Err(format!("{name}: HELP without TYPE"));
    }
    if family.kind != "histogram" {
        return Ok(());
    }
    let mut by_series: BTreeMap<Vec<(&String, &String)>, Vec<&Sample>> = BTreeMap::new();
    for s in &family.samples {
        let key = s.labels.iter().filter(|(k, _)| *k != "le").collect();
        by_series.entry(key).or_default().push(s);
    }
    for (labels, samples) in by_series {
        let find = |suffix: &str| {
            samples
                .iter()
                .find(|s| s.name == format!("{name}{suffix}"))
                .map(|s| s.value)
        };
        let count = find("_count").ok_or(format!("{name}{labels:?}: no _count"))?;
        find("_sum").ok_or(format!("{name}{labels:?}: no _sum"))?;
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .map(|s| Ok((value(&s.labels["le"])?, s.value)))
            .collect::<Result<_, String>>()?;
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
            return Err(format!("{name}{labels:?}: no +Inf bucket"));
        }
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{name}{labels:?}: buckets are not cumulative"));
        }
        if buckets.last().map(|b| b.1) != Some(count) {
            return Err(format!("{name}{labels:?}: +Inf bucket differs from _count"));
        }
    }
    Ok(())
}

fn metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn value(raw: &str) -> Result<f64, String> {
    match raw {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if raw
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            raw.parse().map_err(|_| format!("bad value {raw}"))
        }
        _ => Err(format!("bad value {raw}")),
    }
}

/// `name="value",…}` after the opening brace; returns the labels and what follows.
fn labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut out = BTreeMap::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = s.find('=').ok_or("label without =")?;
        let name = &s[..eq];
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("bad label name {name:?}"));
        }
        let rest = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("bad escape in label value".into()),
                },
                Some((_, '\n')) | None => return Err("unterminated label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
        if !s.starts_with('}') && !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err("expected , or } after a label".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP req_total Requests.\n# TYPE req_total counter\n\
        req_total{method=\"GET\",route=\"/a/{id}\"} 3\nreq_total{method=\"POST\",route=\"/a\",} 1\n\n\
        # TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"0.1\"} 1\nlat_seconds_bucket{le=\"1\"} 2\n\
        lat_seconds_bucket{le=\"+Inf\"} 2\nlat_seconds_sum 0.6\nlat_seconds_count 2\n\
        # TYPE up gauge\nup{path=\"a \\\"q\\\" \\\\ b\"} 1 1700000000000\n";

    #[test]
    fn reads_families_samples_and_escapes() {
        let e = Exposition::parse(GOOD).unwrap();
        assert_eq!(e.family("req_total").unwrap().kind, "counter");
        assert_eq!(e.sum("req_total", &[]), 4.0);
        assert_eq!(e.sum("req_total", &[("route", "/a/{id}")]), 3.0);
        assert_eq!(e.sum("lat_seconds_count", &[]), 2.0);
        assert_eq!(
            e.samples("up", &[]).next().unwrap().labels["path"],
            "a \"q\" \\ b"
        );
    }

    #[test]
    fn refuses_what_prometheus_would_not_take_or_we_never_emit() {
        let cases = [
            ("req_total 1\n", "no # TYPE"),
            ("# TYPE a counter\na -1\n", "negative counter"),
            ("# TYPE a gauge\na{x=\"1} 1\n", "unterminated"),
            ("# TYPE a gauge\na{x=1} 1\n", "unquoted"),
            ("# TYPE a gauge\na 1 2 3\n", "trailing"),
            ("# TYPE a gauge\na one\n", "bad value"),
            ("# TYPE a gauge\na 1\na 2\n", "duplicate series"),
            ("# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n", "interleaved"),
            ("# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "label twice"),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "not cumulative",
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                "no +Inf",
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
                "+Inf != count",
            ),
            ("# TYPE 1a gauge\n", "bad name"),
        ];
        for (text, why) in cases {
            assert!(Exposition::parse(text).is_err(), "accepted ({why}): {text}");
        }
    }
}
