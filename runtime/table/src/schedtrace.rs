//! Go's schedtrace/scheddetail line formats (`GODEBUG=schedtrace=N,
//! scheddetail=1`), shared by the runtime's own output and the inspector's
//! `dump --schedtrace`: one definition of the text.

use core::fmt;

fn opt<T: fmt::Display>(f: &mut fmt::Formatter<'_>, v: Option<T>) -> fmt::Result {
    match v {
        Some(v) => write!(f, "{v}"),
        None => write!(f, "nil"),
    }
}

/// `SCHED <t>ms: gomaxprocs=... stopwait=... sysmonwait=...`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedLine {
    pub ms: i64,
    pub gomaxprocs: i64,
    pub idleprocs: i64,
    pub threads: i64,
    pub spinningthreads: i64,
    pub needspinning: u64,
    pub idlethreads: i64,
    pub runqueue: i64,
    pub gcwaiting: bool,
    pub nmidlelocked: i64,
    pub stopwait: i64,
    pub sysmonwait: bool,
}

impl fmt::Display for SchedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} needspinning={} idlethreads={} runqueue={} gcwaiting={} nmidlelocked={} stopwait={} sysmonwait={}",
            self.ms,
            self.gomaxprocs,
            self.idleprocs,
            self.threads,
            self.spinningthreads,
            self.needspinning,
            self.idlethreads,
            self.runqueue,
            self.gcwaiting,
            self.nmidlelocked,
            self.stopwait,
            self.sysmonwait
        )
    }
}

/// `  P0: status=1 schedtick=... m=4 runqsize=0 gfreecnt=0 timerslen=0`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PLine {
    pub id: i64,
    pub status: u32,
    pub schedtick: u64,
    pub syscalltick: u64,
    pub m: Option<i64>,
    pub runqsize: u64,
    pub gfreecnt: i64,
    pub timerslen: u64,
}

impl fmt::Display for PLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  P{}: status={} schedtick={} syscalltick={} m=",
            self.id, self.status, self.schedtick, self.syscalltick
        )?;
        opt(f, self.m)?;
        write!(f, " runqsize={} gfreecnt={} timerslen={}", self.runqsize, self.gfreecnt, self.timerslen)
    }
}

/// `  M5: p=nil curg=nil mallocing=0 throwing=0 preemptoff= locks=0 ...`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MLine {
    pub id: i64,
    pub p: Option<i64>,
    pub curg: Option<u64>,
    pub throwing: u32,
    pub locks: i64,
    pub dying: u32,
    pub spinning: bool,
    pub blocked: bool,
    pub lockedg: Option<u64>,
}

impl fmt::Display for MLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  M{}: p=", self.id)?;
        opt(f, self.p)?;
        write!(f, " curg=")?;
        opt(f, self.curg)?;
        write!(
            f,
            " mallocing=0 throwing={} preemptoff= locks={} dying={} spinning={} blocked={} lockedg=",
            self.throwing, self.locks, self.dying, self.spinning, self.blocked
        )?;
        opt(f, self.lockedg)
    }
}

/// `  G1: status=4(chan receive) m=nil lockedm=nil`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GLine {
    pub goid: u64,
    pub status: u32,
    pub waitreason: String,
    pub m: Option<i64>,
    pub lockedm: Option<i64>,
}

impl fmt::Display for GLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  G{}: status={}({}) m=", self.goid, self.status, self.waitreason)?;
        opt(f, self.m)?;
        write!(f, " lockedm=")?;
        opt(f, self.lockedm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go() {
        // Lines from shared/reference/go1.27-schedtrace.txt.
        let s = SchedLine { gomaxprocs: 2, threads: 6, spinningthreads: 1, idlethreads: 1, ..Default::default() };
        assert_eq!(
            s.to_string(),
            "SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=6 spinningthreads=1 needspinning=0 idlethreads=1 runqueue=0 gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false"
        );
        let p = PLine { id: 1, status: 1, schedtick: 5, syscalltick: 1, m: Some(0), runqsize: 1, ..Default::default() };
        assert_eq!(p.to_string(), "  P1: status=1 schedtick=5 syscalltick=1 m=0 runqsize=1 gfreecnt=0 timerslen=0");
        let m = MLine { id: 4, p: Some(0), spinning: true, ..Default::default() };
        assert_eq!(
            m.to_string(),
            "  M4: p=0 curg=nil mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=true blocked=false lockedg=nil"
        );
        let g = GLine { goid: 21, status: 4, waitreason: "chan receive".into(), ..Default::default() };
        assert_eq!(g.to_string(), "  G21: status=4(chan receive) m=nil lockedm=nil");
    }
}
