//! The lock order: every runtime lock has a rank, declared once here, and a
//! thread may only acquire a lock whose rank is above every rank it holds.
//!
//! This is a total order (a simplification of Go's mklockrank DAG). Debug
//! builds check it on every acquisition (see `lock::lock`) and throw
//! "lock ordering problem" with both locks named. Channel locks share one
//! rank and may nest only in increasing address order (select locks its
//! channels sorted by address, as Go's `sellock` does).
//!
//! Why this order:
//! - `Sema` before `Hchan`: a semaphore's queue lock is never held while
//!   touching a channel, but keeping it first costs nothing.
//! - `Hchan` before `SudogCentral`: a blocking channel operation takes a
//!   sudog while holding the channel lock.
//! - `Timers` before `Sched`: timers are fired after the timers lock is
//!   released, but adding a timer may wake the netpoller under it.
//! - `Sched` before `Gfree` and `Mheap`: procresize purges a dead P's free
//!   Gs and stacks while holding sched.lock.
//! - `HchanFree`, `Sites` and `Mheap` are leaves.
//!
//! Forbidden while holding a channel lock: readying a goroutine (Go's rule:
//! it can deadlock with stack shrinking). Channel code unlocks first.

/// Lock ranks, lowest first.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Unranked (tests); never checked.
    Leaf0 = 0,
    Sema = 1,
    Hchan = 2,
    PollDesc = 3,
    Timers = 4,
    Sched = 5,
    Gfree = 6,
    SudogCentral = 7,
    HchanFree = 8,
    Sites = 9,
    Mheap = 10,
}

/// Names by rank value, for the table's "lockrank" list and messages.
pub const RANK_NAMES: [&str; 11] =
    ["unranked", "sema", "hchan", "pollDesc", "timers", "sched", "gFree", "sudog", "hchanFree", "sites", "mheap"];

/// Whether a lock of rank `held` (at address `held_addr`) may be held while
/// acquiring one of rank `want` at `want_addr`.
pub fn allowed(held: u32, held_addr: usize, want: u32, want_addr: usize) -> bool {
    if held == Rank::Leaf0 as u32 || want == Rank::Leaf0 as u32 {
        return true;
    }
    if held == want {
        return held == Rank::Hchan as u32 && held_addr < want_addr;
    }
    held < want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_checked() {
        assert!(allowed(Rank::Hchan as u32, 0x100, Rank::Sched as u32, 0x200));
        assert!(!allowed(Rank::Sched as u32, 0x100, Rank::Hchan as u32, 0x200));
        assert!(allowed(Rank::Hchan as u32, 0x100, Rank::Hchan as u32, 0x200));
        assert!(!allowed(Rank::Hchan as u32, 0x200, Rank::Hchan as u32, 0x100));
        assert!(!allowed(Rank::Sched as u32, 0x100, Rank::Sched as u32, 0x200));
        assert_eq!(RANK_NAMES.len(), Rank::Mheap as usize + 1);
    }
}
