//! Two independent pieces of the worker's work at once (the gate's probe and its NaN chord,
//! the gate and the live instance, two of the analysis check's tries): on a machine with a
//! core to spare the wait for both is the longer of the two, not their sum.

/// Runs `other` on a scoped helper thread while `here` runs on the calling thread and
/// returns both results. A panic on the helper is raised again on the calling thread, as
/// if the work had run there.
pub fn side_by_side<A: Send, B>(
    other: impl FnOnce() -> A + Send,
    here: impl FnOnce() -> B,
) -> (A, B) {
    std::thread::scope(|scope| {
        let helper = scope.spawn(other);
        let here = here();
        let other = helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (other, here)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_results_come_back_and_a_helpers_panic_reaches_the_caller() {
        let here_thread = std::thread::current().id();
        let (other, here) = side_by_side(|| std::thread::current().id(), || 7);
        assert_ne!(other, here_thread, "the other work ran on a helper thread");
        assert_eq!(here, 7);
        let caught = std::panic::catch_unwind(|| side_by_side(|| panic!("helper"), || 1));
        assert!(caught.is_err());
    }
}
