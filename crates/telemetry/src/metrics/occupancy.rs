//! A gauge that counts what is inside something (requests in flight, requests waiting
//! for a turn, open connections) for as long as a guard lives.

use metrics::Gauge;

/// Adds one to a gauge until dropped, so work whose future is dropped mid-way (its
/// client went away) still leaves the gauge.
#[must_use = "the gauge goes down when this is dropped"]
pub struct Occupancy(Gauge);

impl Occupancy {
    /// Enters the gauge `name` (looked up once, here).
    pub fn enter(name: &'static str) -> Self {
        Self::of(metrics::gauge!(name))
    }

    /// Enters `gauge`, a handle looked up before (for guards taken so often that a
    /// registry lookup each time shows in profiles, e.g. one per connection).
    pub fn of(gauge: Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for Occupancy {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
