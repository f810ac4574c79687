//! Bug switches: `GRT_BUGS=name,...` brings back the historical code path
//! of a documented race (see shared/RACES.md). Read once at start and
//! recorded in the table header; an unknown name stops the program with
//! the list of known ones.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;
use grt_table::bugs::NAMES;

static BUGS: AtomicU64 = AtomicU64::new(0);

/// Parses a `GRT_BUGS` value into a bit mask.
pub fn parse(v: &str) -> Result<u64, String> {
    let mut mask = 0u64;
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match NAMES.iter().position(|n| *n == name) {
            Some(i) => mask |= 1 << i,
            None => {
                return Err(format!(
                    "grt: unknown bug switch {name:?} in GRT_BUGS; known switches: {}",
                    NAMES.join(", ")
                ))
            }
        }
    }
    Ok(mask)
}

pub fn set(mask: u64) {
    BUGS.store(mask, Relaxed);
}

/// Whether bug switch `bit` (grt_table::bugs::*) is on.
#[inline]
pub fn enabled(bit: u32) -> bool {
    BUGS.load(Relaxed) & (1 << bit) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_rejects_unknown() {
        assert_eq!(parse("").unwrap(), 0);
        assert_eq!(parse("foreachp-stopwait").unwrap(), 1);
        assert_eq!(parse(" foreachp-stopwait , ").unwrap(), 1);
        let e = parse("foreachp-stopwait,nope").unwrap_err();
        assert!(e.contains("\"nope\"") && e.contains("foreachp-stopwait"), "{e}");
    }
}
