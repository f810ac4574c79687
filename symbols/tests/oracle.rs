//! Compares function names, file:line and inline chains with binutils
//! `addr2line -f -i -C` on a few thousand addresses of real binaries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use grt_symbols::{strip_hash, ObjectSymbols};

/// One frame as both tools describe it: (function, file, line).
type F = (Option<String>, Option<String>, Option<u32>);

/// Removes every `::h` + 16 hex digits hash, wherever binutils left it.
fn normalize_name(s: &str) -> Option<String> {
    if s == "??" {
        return None;
    }
    let mut out = s.to_string();
    while let Some(i) = out.find("::h") {
        let tail = &out.as_bytes()[i + 3..];
        if tail.len() >= 16 && tail[..16].iter().all(u8::is_ascii_hexdigit) {
            out.replace_range(i..i + 19, "");
        } else {
            // Not a hash; look further on.
            let rest = strip_hash(&out[i + 3..]).to_string();
            out = format!("{}::h{}", &out[..i], rest);
            break;
        }
    }
    Some(out)
}

fn parse_location(s: &str) -> (Option<String>, Option<u32>) {
    let s = match s.find(" (discriminator") {
        Some(i) => &s[..i],
        None => s,
    };
    let (file, line) = s.rsplit_once(':').unwrap_or((s, "?"));
    let file = (file != "??").then(|| file.to_string());
    let line = line.parse().ok().filter(|&l| l != 0);
    (file, line)
}

/// Runs binutils once on all addresses.
fn binutils(bin: &Path, addrs: &[u64]) -> Option<Vec<Vec<F>>> {
    let mut child = Command::new("addr2line")
        .args(["-a", "-f", "-i", "-C", "-e"])
        .arg(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = String::new();
    for a in addrs {
        input.push_str(&format!("{a:#x}\n"));
    }
    let mut stdin = child.stdin.take()?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut result: Vec<Vec<F>> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.starts_with("0x") {
            result.push(Vec::new());
            continue;
        }
        let func = normalize_name(l);
        let (file, line) = parse_location(lines.next().unwrap_or("??:0"));
        result.last_mut()?.push((func, file, line));
    }
    Some(result)
}

fn ours(obj: &ObjectSymbols, addr: u64) -> Vec<F> {
    obj.symbolize(addr)
        .frames()
        .iter()
        .map(|f| (f.function.as_deref().map(|s| s.to_string()), f.file.as_deref().map(|s| s.to_string()), f.line))
        .collect()
}

/// A fixed-seed xorshift generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sample_addresses(obj: &ObjectSymbols, n: usize) -> Vec<u64> {
    let syms: Vec<(u64, u64)> = obj.symbol_ranges().into_iter().filter(|s| s.1 > 0).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<u64> = (0..n)
        .map(|_| {
            let (start, size) = syms[(rng.next() % syms.len() as u64) as usize];
            start + rng.next() % size
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn binaries() -> Vec<PathBuf> {
    let mut v = vec![std::env::current_exe().unwrap()];
    if let Ok(p) = std::env::var("GRT_SYMBOLS_ORACLE_BIN") {
        v.push(PathBuf::from(p));
    }
    // The runtime's demo, as `cargo test --workspace` builds it next to this
    // test (target/<profile>/examples/demo), and a release build if any.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf);
    let mut candidates: Vec<PathBuf> = profile_dir.iter().map(|d| d.join("examples/demo")).collect();
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/examples/demo"));
    let mut found_demo = false;
    for c in candidates {
        if c.exists() && !v.contains(&c) {
            v.push(c);
            found_demo = true;
        }
    }
    if !found_demo {
        eprintln!("note: no built runtime demo (cargo build -p grt --example demo); checking the test binary only");
    }
    v
}

fn fmt_frames(v: &[F]) -> String {
    v.iter()
        .map(|(f, file, line)| {
            format!(
                "{} @ {}:{}",
                f.as_deref().unwrap_or("??"),
                file.as_deref().unwrap_or("??"),
                line.map_or("?".to_string(), |l| l.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(" <- ")
}

#[test]
fn agrees_with_binutils_addr2line() {
    if Command::new("addr2line").arg("--version").output().is_err() {
        eprintln!("SKIP: binutils addr2line is not installed");
        return;
    }
    for bin in binaries() {
        let data = std::fs::read(&bin).unwrap();
        let obj = ObjectSymbols::from_bytes(&bin.to_string_lossy(), data, 0).unwrap();
        let addrs = sample_addresses(&obj, 3000);
        let Some(theirs) = binutils(&bin, &addrs) else {
            eprintln!("SKIP: running addr2line failed");
            return;
        };
        assert_eq!(theirs.len(), addrs.len(), "one answer per address");
        let (mut fn_ok, mut loc_ok, mut chain_ok) = (0, 0, 0);
        let mut mismatches = Vec::new();
        let mut quirks = Vec::new();
        for (&a, t) in addrs.iter().zip(&theirs) {
            let o = ours(&obj, a);
            let names = |v: &[F]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
            let locs = |v: &[F]| v.iter().map(|f| (f.1.clone(), f.2)).collect::<Vec<_>>();
            // binutils prints one "?? / ??:0" frame for an unknown address.
            let unknown = |v: &[F]| v.iter().all(|f| *f == (None, None, None));
            let same_fn = names(&o) == names(t) || (o.is_empty() && unknown(t));
            let same_loc_raw = locs(&o) == locs(t) || (o.is_empty() && unknown(t));
            // binutils quirk: with no line for an address it prints the
            // compilation unit's name (e.g. `foo.1a2b-cgu.0`) as the file and
            // `?` as the line. Counted as agreement, listed separately.
            let quirk = !same_loc_raw
                && o.len() == t.len()
                && o.iter()
                    .zip(t.iter())
                    .all(|(a, b)| (a.1 == b.1 && a.2 == b.2) || (a.1.is_none() && a.2.is_none() && b.2.is_none()));
            if quirk {
                quirks.push(format!("{a:#x} binutils: {}", fmt_frames(t)));
            }
            let same_loc = same_loc_raw || quirk;
            fn_ok += usize::from(same_fn);
            loc_ok += usize::from(same_loc);
            chain_ok += usize::from(same_fn && same_loc);
            if !(same_fn && same_loc) {
                mismatches.push(format!("{a:#x}\n    ours:     {}\n    binutils: {}", fmt_frames(&o), fmt_frames(t)));
            }
        }
        let n = addrs.len() as f64;
        let (fr, lr) = (fn_ok as f64 / n, loc_ok as f64 / n);
        println!(
            "oracle bin={} addresses={} functions_agree={:.4} file_line_agree={:.4} both_agree={:.4} mismatches={} cu_name_as_file_quirks={}",
            bin.display(),
            addrs.len(),
            fr,
            lr,
            chain_ok as f64 / n,
            mismatches.len(),
            quirks.len()
        );
        for q in &quirks {
            println!("quirk (no line; binutils prints the unit name as file) {q}");
        }
        for m in &mismatches {
            println!("mismatch {m}");
        }
        assert!(fr >= 0.99, "function agreement {fr}");
        assert!(lr >= 0.98, "file:line agreement {lr}");
    }
}
