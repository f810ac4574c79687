//! Small text formatters shared by the views: durations, byte sizes,
//! goroutine and thread names.

use grt_inspector::snapshot::{GView, Snapshot};

/// A duration in ns, short: "850ns", "12us", "4.1ms", "2.5s", "3m12s", "2h05m".
pub fn dur(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}us", ns / 1_000)
    } else if ns < 10_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else if ns < 1_000_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else if ns < 60_000_000_000 {
        format!("{:.1}s", ns as f64 / 1e9)
    } else if ns < 3_600_000_000_000 {
        let s = ns / 1_000_000_000;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = ns / 60_000_000_000;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// Bytes, short: "512", "12K", "1.5M", "1M", "3G".
pub fn size(b: u64) -> String {
    fn unit(b: u64, u: u64, s: &str) -> String {
        if b.is_multiple_of(u) || b / u >= 10 {
            format!("{}{s}", b / u)
        } else {
            format!("{:.1}{s}", b as f64 / u as f64)
        }
    }
    if b < 1024 {
        format!("{b}")
    } else if b < 1 << 20 {
        unit(b, 1 << 10, "K")
    } else if b < 1 << 30 {
        unit(b, 1 << 20, "M")
    } else {
        unit(b, 1 << 30, "G")
    }
}

/// "G12", or "G?" for a damaged id.
pub fn gname(goid: Option<u64>) -> String {
    match goid {
        Some(id) => format!("G{id}"),
        None => "G?".into(),
    }
}

/// What a goroutine is doing, as one label: the wait reason while waiting
/// ("chan receive"), the status name otherwise ("running"), with " (scan)"
/// when the Gscan bit is set.
pub fn g_label(s: &Snapshot, g: &GView) -> String {
    let base = s.state_word(g).into_owned();
    if g.scan() {
        format!("{base} (scan)")
    } else {
        base
    }
}

/// The status column: "waiting", "waiting (scan)".
pub fn g_status(s: &Snapshot, g: &GView) -> String {
    let name = s.status_name(g);
    if g.scan() {
        format!("{name} (scan)")
    } else {
        name.into_owned()
    }
}

/// Uptime of the target at the snapshot, in ns.
pub fn uptime_ns(s: &Snapshot) -> Option<u64> {
    if s.header.start_mono_ns == 0 || s.taken.mono_ns == 0 {
        return None;
    }
    s.taken.mono_ns.checked_sub(s.header.start_mono_ns)
}

/// `Some(v)` as text, `None` as "-".
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Yes/no/-.
pub fn yn(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// Cuts `s` to `w` characters, ending in '~' when cut.
pub fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut o: String = s.chars().take(w - 1).collect();
    o.push('~');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(dur(850), "850ns");
        assert_eq!(dur(12_345), "12us");
        assert_eq!(dur(4_100_000), "4.1ms");
        assert_eq!(dur(2_500_000_000), "2.5s");
        assert_eq!(dur(192_000_000_000), "3m12s");
        assert_eq!(dur(7_500_000_000_000), "2h05m");
        assert_eq!(size(512), "512");
        assert_eq!(size(12 << 10), "12K");
        assert_eq!(size(1536 << 10), "1.5M");
        assert_eq!(size(1 << 20), "1M");
        assert_eq!(cut("abcdef", 4), "abc~");
        assert_eq!(cut("abc", 4), "abc");
    }
}
