//! Table conditions of race scripts (`wait until p[$p1].status == syscall`,
//! `actor x = thread running goroutine $g`): resolving fields against the
//! target's own descriptors, and evaluating them on a copied table image.
//!
//! Nothing read from the table is trusted: records are found by scanning
//! the used part of their section, pointers go through `ptr_index`, and a
//! field or record that is not there is an error, not a panic.

use super::script::{FieldExpr, TableCond, TableRecord, TableValue, Value};
use grt_table::desc::Kind;
use grt_table::header::SectionKind;
use grt_table::view::{FieldRef, Image, Layout};
use std::collections::HashMap;

fn section(r: TableRecord) -> SectionKind {
    match r {
        TableRecord::Sched => SectionKind::Sched,
        TableRecord::MHeap => SectionKind::MHeap,
        TableRecord::P => SectionKind::P,
        TableRecord::M => SectionKind::M,
        TableRecord::G => SectionKind::G,
        TableRecord::Hchan => SectionKind::Hchan,
        TableRecord::MSpan => SectionKind::Span,
    }
}

/// The field that identifies records of an indexed kind (`None`: the
/// index is the record's position).
fn key_field(r: TableRecord) -> Option<&'static str> {
    match r {
        TableRecord::P | TableRecord::M => Some("id"),
        TableRecord::G => Some("goid"),
        _ => None,
    }
}

/// The enum list naming a field's values, if it has one.
pub fn enum_of(r: TableRecord, path: &str) -> Option<&'static str> {
    Some(match (r, path) {
        (TableRecord::P, "status") => "pstatus",
        (TableRecord::G, "atomicstatus") => "gstatus",
        (TableRecord::G, "waitreason") => "waitreason",
        (TableRecord::M, "role") => "mrole",
        (TableRecord::M, "state") => "mstate",
        (TableRecord::MSpan, "state") => "spanstate",
        (TableRecord::Sched, "gcphase") => "gcphase",
        (TableRecord::Sched, "stw_reason") => "stwreason",
        _ => return None,
    })
}

/// Checks a condition against the target's descriptors: the field exists
/// and is a number, and a value name is one the table gives that field.
pub fn check(layout: &Layout, c: &TableCond) -> Result<(), String> {
    let rec = c.field.record.name();
    let Some(f) = layout.field_path(rec, &c.field.path) else {
        let fields: Vec<&str> =
            layout.record(rec).map(|(_, r)| r.fields.iter().map(|f| f.name.as_str()).collect()).unwrap_or_default();
        return Err(format!("unknown field {} (the table's {rec} record has: {})", c.field, fields.join(" ")));
    };
    if f.kind == Kind::Struct {
        return Err(format!("{} is a record, not a number: name one of its fields", c.field));
    }
    if let TableValue::Name(n) = &c.value {
        let Some(list) = enum_of(c.field.record, &c.field.path).and_then(|e| layout.enum_list(e)) else {
            return Err(format!("{} has no named values: compare it with a number, not {n:?}", c.field));
        };
        if !list.iter().any(|x| x == n) {
            return Err(format!("{} has no value named {n:?} (it has: {})", c.field, list.join(", ")));
        }
    }
    Ok(())
}

/// A condition's two sides as read now, for messages.
pub struct Reading {
    pub left: Option<i64>,
    pub right: Option<i64>,
}

/// The record index of `f`'s record in the image.
fn record_index(img: &Image, f: &FieldExpr, vars: &HashMap<String, u64>) -> Result<u64, String> {
    let Some(index) = &f.index else { return Ok(0) };
    let want = match index {
        Value::Int(n) => *n,
        Value::Var(v) => *vars.get(v).ok_or_else(|| format!("variable ${v} is not set yet"))?,
    };
    let kind = section(f.record);
    let Some(key) = key_field(f.record) else {
        return Ok(want);
    };
    let kf = img
        .layout
        .field_path(f.record.name(), key)
        .ok_or_else(|| format!("the table's {} record has no {key}", f.record.name()))?;
    for i in 0..img.len(kind) {
        if let Some(r) = img.record(kind, i) {
            if r.get(kf) == Some(want) && !(f.record == TableRecord::G && is_dead_g(img, i)) {
                return Ok(i);
            }
        }
    }
    Err(format!("the table has no {} with {key} {want}", f.record.name()))
}

/// A dead G record (its goid may be reused by the next goroutine).
fn is_dead_g(img: &Image, i: u64) -> bool {
    let st = img.layout.field_path("g", "atomicstatus");
    img.record(SectionKind::G, i)
        .and_then(|r| r.opt(st))
        .is_some_and(|s| s as u32 & !grt_table::G_SCAN == grt_table::G_DEAD)
}

fn read(img: &Image, f: &FieldExpr, vars: &HashMap<String, u64>) -> Result<(i64, FieldRef), String> {
    let fr = img.layout.field_path(f.record.name(), &f.path).ok_or_else(|| format!("unknown field {f}"))?;
    let i = record_index(img, f, vars)?;
    let rec = img.record(section(f.record), i).ok_or_else(|| format!("{f}: record {i} is not in the table"))?;
    let v = rec.get(fr).ok_or_else(|| format!("{f} cannot be read"))?;
    Ok((v as i64, fr))
}

/// Evaluates a condition; `Err` when a side cannot be read (a record not
/// there yet, a variable not set): the caller keeps waiting.
pub fn eval(img: &Image, c: &TableCond, vars: &HashMap<String, u64>) -> Result<(bool, Reading), String> {
    let (left, fr) = read(img, &c.field, vars)?;
    let right = match &c.value {
        TableValue::Int(n) => *n,
        TableValue::Var(v) => *vars.get(v).ok_or_else(|| format!("variable ${v} is not set yet"))? as i64,
        TableValue::Name(n) => {
            let list = enum_of(c.field.record, &c.field.path).and_then(|e| img.layout.enum_list(e)).unwrap_or(&[]);
            list.iter().position(|x| x == n).ok_or_else(|| format!("no value named {n:?}"))? as i64
        }
    };
    // Unsigned fields compare as unsigned (a u64 past i64::MAX stays large).
    let holds = match fr.kind {
        Kind::I32 | Kind::I64 => c.op.holds(left, right),
        _ => c.op.holds(left as u64, right as u64),
    };
    Ok((holds, Reading { left: Some(left), right: Some(right) }))
}

/// The OS thread id of the M running goroutine `goid`, if one is: on the
/// CPU (_Grunning) or in a system call on its behalf (_Gsyscall, where the
/// M keeps it, as Go's m.curg does). A goroutine that loops on system
/// calls is in _Grunning for microseconds at a time: a poll of the table
/// would rarely see that alone.
pub fn runner_of(img: &Image, goid: u64) -> Option<u64> {
    let l = &img.layout;
    let (gid, gst, gm) = (l.field_path("g", "goid")?, l.field_path("g", "atomicstatus")?, l.field_path("g", "m")?);
    let procid = l.field_path("m", "procid")?;
    for i in 0..img.len(SectionKind::G) {
        let r = img.record(SectionKind::G, i)?;
        let st = r.get(gst).map(|s| s as u32 & !grt_table::G_SCAN);
        if r.get(gid) != Some(goid) || !matches!(st, Some(grt_table::G_RUNNING | grt_table::G_SYSCALL)) {
            continue;
        }
        let mi = img.ptr_index(SectionKind::M, r.get(gm)?).ok()??;
        return img.record(SectionKind::M, mi)?.get(procid).filter(|&t| t != 0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::race::script::{parse, Action};
    use crate::synth::Synth;

    fn conds(text: &str) -> Vec<TableCond> {
        let script = format!(
            "race r\ntarget t\nbug b\nstep s\n  run any to p save v = arg0\n  wait until {text}\nexpect buggy exit 2\nexpect fixed exit 0\n"
        );
        let sc = parse("x.race", &script).unwrap_or_else(|e| panic!("{e}"));
        match &sc.steps[0].actions[1].item {
            Action::Wait(c) => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn image() -> Image {
        let mut s = Synth::new(16);
        let m0 = s.add_m(grt_table::mrole::MAIN, grt_table::mstate::RUNNING, 4242);
        let p0 = s.add_p(grt_table::P_RUNNING);
        let p1 = s.add_p(grt_table::P_SYSCALL);
        let _ = p1;
        s.attach(m0, p0);
        let site = s.site("main.rs", 1, 0);
        let g = s.add_g(grt_table::G_RUNNING, 0, site);
        s.run_on(g, m0);
        // Goroutine 2 in a system call on M1, goroutine 3 parked.
        let m1 = s.add_m(grt_table::mrole::WORKER, grt_table::mstate::SYSCALL, 4343);
        let g2 = s.add_g(grt_table::G_SYSCALL, 0, site);
        s.set::<grt_table::G>(SectionKind::G, g2, "m", s.addr(SectionKind::M, m1));
        s.add_g(grt_table::G_WAITING, grt_table::waitreason::SLEEP, site);
        s.set::<grt_table::Sched>(SectionKind::Sched, 0, "stopwait", (-1i32) as u32 as u64);
        crate::synth::image(&s.finish()).expect("a synthetic table loads")
    }

    #[test]
    fn fields_names_and_signs() {
        let img = image();
        let mut vars = HashMap::new();
        vars.insert("v".to_string(), 1u64);
        for (text, want) in [
            ("p[1].status == syscall", true),
            ("p[$v].status == 2", true),
            ("p[0].status != running", false),
            ("sched.stopwait < 0", true),
            ("sched.stopwait == -1", true),
            ("m[0].procid == 4242 and p[0].status == running", true),
        ] {
            let cs = conds(text);
            for c in &cs {
                check(&img.layout, c).unwrap_or_else(|e| panic!("{text}: {e}"));
            }
            let all = cs.iter().all(|c| eval(&img, c, &vars).unwrap().0);
            assert_eq!(all, want, "{text}");
        }
    }

    #[test]
    fn bad_fields_and_names_are_errors() {
        let img = image();
        let e = check(&img.layout, &conds("p[0].statuss == 1")[0]).unwrap_err();
        assert!(e.contains("unknown field p[0].statuss") && e.contains("status"), "{e}");
        let e = check(&img.layout, &conds("p[0].status == sleeping")[0]).unwrap_err();
        assert!(e.contains("no value named \"sleeping\"") && e.contains("syscall"), "{e}");
        let e = check(&img.layout, &conds("sched.lock == 0")[0]).unwrap_err();
        assert!(e.contains("is a record"), "{e}");
        let e = check(&img.layout, &conds("sched.stopwait == busy")[0]).unwrap_err();
        assert!(e.contains("no named values"), "{e}");
        // A record that is not there: not an error of the script, a wait.
        assert!(eval(&img, &conds("p[7].status == idle")[0], &HashMap::new()).is_err());
    }

    #[test]
    fn runner_of_a_running_goroutine() {
        let img = image();
        let goid = img.layout.field_path("g", "goid").and_then(|f| img.record(SectionKind::G, 0)?.get(f)).unwrap();
        assert_eq!(runner_of(&img, goid), Some(4242));
        // In a system call: the M it is on runs it.
        assert_eq!(runner_of(&img, goid + 1), Some(4343));
        // Parked, or not there: nobody.
        assert_eq!(runner_of(&img, goid + 2), None);
        assert_eq!(runner_of(&img, goid + 100), None);
    }
}
