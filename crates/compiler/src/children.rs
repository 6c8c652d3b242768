//! The compiler processes alive right now, so none outlives what started it: each runs in
//! its own process group, registered here while it runs. A compile that ends, times out, is
//! cancelled or unwinds kills its group ([`Group`]'s drop); a process interrupted by
//! SIGINT, SIGTERM or SIGHUP kills every registered group first
//! ([`kill_children_on_interrupt`]), and a parent killed outright takes its children with it
//! through `PR_SET_PDEATHSIG` (set in the sandbox) and their CPU limit.

use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};

/// Slots for live process groups; more compiles than this at once go unregistered (still
/// killed on drop and by their limits, only not by the signal handler).
const SLOTS: usize = 64;

static GROUPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

/// A started compiler process leading its own process group. Dropping it kills the group and
/// reaps the process, whatever happened before.
pub struct Group {
    child: Child,
    slot: Option<usize>,
    reaped: bool,
}

impl Group {
    /// Takes charge of `child`, which must lead its own process group.
    pub fn new(child: Child) -> Group {
        let pid = i32::try_from(child.id()).unwrap_or(0);
        let slot = (pid > 0)
            .then(|| {
                GROUPS.iter().position(|slot| {
                    slot.compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                })
            })
            .flatten();
        Group {
            child,
            slot,
            reaped: false,
        }
    }

    /// The leader's exit status once it has exited; whatever it left running in its group
    /// is killed then (before the leader is reaped, so the group's id cannot have been
    /// reused).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if !self.leader_exited()? {
            return Ok(None);
        }
        self.kill_group();
        // Unregistered before the leader is reaped: once it is, its id may be reused.
        self.release();
        let status = self.child.wait()?;
        self.reaped = true;
        Ok(Some(status))
    }

    /// Whether the leader has exited, without reaping it.
    #[cfg(unix)]
    fn leader_exited(&self) -> std::io::Result<bool> {
        let pid = libc::id_t::from(self.child.id());
        // SAFETY: `info` is a valid, zeroed place for the result.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let status = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if status != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `waitid` filled `info` (si_pid stays 0 while the child runs).
        Ok(unsafe { info.si_pid() } != 0)
    }

    #[cfg(not(unix))]
    fn leader_exited(&mut self) -> std::io::Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Kills the whole group and reaps the leader (nothing once the leader was reaped: its
    /// id, and so the group's, may belong to another process by then).
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.kill_group();
        self.release();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn kill_group(&self) {
        #[cfg(unix)]
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: `kill` has no memory-safety preconditions; the group is the child's own
            // (its id is the leader's, not yet reaped, so it cannot have been reused).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }

    fn release(&mut self) {
        if let Some(slot) = self.slot.take() {
            GROUPS[slot].store(0, Ordering::Release);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills every registered compiler process group. Async-signal-safe: atomics and `kill`.
pub fn kill_all() {
    for slot in &GROUPS {
        let pid = slot.load(Ordering::Acquire);
        #[cfg(unix)]
        if pid > 0 {
            // SAFETY: see `Group::kill_group`.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// How many compiler processes are registered (tests).
pub fn live_groups() -> usize {
    GROUPS
        .iter()
        .filter(|slot| slot.load(Ordering::Acquire) > 0)
        .count()
}

/// Makes SIGINT, SIGTERM and SIGHUP kill the running compilers before the process ends the
/// way it would have (the default action is restored and the signal raised again). For
/// programs that own their process, such as the command line; a plugin must not take the
/// host's signals.
pub fn kill_children_on_interrupt() {
    #[cfg(unix)]
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only uses async-signal-safe calls; `sigaction` gets a zeroed,
        // then filled, struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

#[cfg(unix)]
extern "C" fn on_interrupt(signal: libc::c_int) {
    kill_all();
    // SAFETY: restoring the default action and raising are async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}
