// The migrations are embedded by `sqlx::migrate!`, which cargo does not track on stable:
// without this a change to a migration alone would leave the old set in the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
