//! A gauge that counts what is inside something (requests in flight, requests waiting
//! for a turn) for as long as a guard lives.

/// Adds one to the gauge `name` until dropped, so work whose future is dropped mid-way
/// (its client went away) still leaves the gauge.
#[must_use = "the gauge goes down when this is dropped"]
pub struct Occupancy(&'static str);

impl Occupancy {
    pub fn enter(name: &'static str) -> Self {
        metrics::gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Occupancy {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}
