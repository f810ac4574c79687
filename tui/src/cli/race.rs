//! `grt-tui race list` and `grt-tui race <name> --headless`: run a
//! documented race's script against its target, buggy or fixed, and report
//! whether the runtime did what the script expects.

use grt_inspector::race::engine::{self, Engine};
use grt_inspector::race::script::{self, Script, Variant};
use grt_inspector::targets;
use std::path::PathBuf;

/// The races directory, read: the scripts that parse, and every file that
/// does not (unreadable, or a parse error), with its error. One broken file
/// does not hide the others.
pub struct Races {
    pub scripts: Vec<Script>,
    /// (path, error): the error names the file and, for a parse error, the
    /// line (`file:line: message`).
    pub broken: Vec<(PathBuf, String)>,
}

/// Loads and parses every script in the races directory.
pub fn races() -> Result<Races, String> {
    let dir = targets::races_dir()?;
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "race")).collect();
    paths.sort();
    let mut r = Races { scripts: Vec::new(), broken: Vec::new() };
    for p in paths {
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
            .and_then(|text| script::parse(&p.display().to_string(), &text).map_err(|e| e.to_string()));
        match parsed {
            Ok(s) => r.scripts.push(s),
            Err(e) => r.broken.push((p, e)),
        }
    }
    Ok(r)
}

/// Says on stderr which scripts could not be loaded, and why.
fn warn_broken(broken: &[(PathBuf, String)]) {
    for (_, e) in broken {
        eprintln!("grt-tui: warning: skipped a race script that does not load: {e}");
    }
}

/// `race list`: every race that loads; each file that does not is named
/// on stderr with its error (the list still succeeds).
pub fn list() -> Result<(), String> {
    let r = races()?;
    let mut o = String::new();
    for s in &r.scripts {
        o.push_str(&format!(
            "{:<22} {}\n{:<22} seed {}{}\n",
            s.name,
            s.title,
            "",
            s.seed,
            if s.upstream.is_empty() { String::new() } else { format!(", {}", s.upstream) }
        ));
    }
    super::out(&o);
    warn_broken(&r.broken);
    Ok(())
}

/// The race named `name`. Other scripts' errors do not matter; if the
/// file that would hold it (`<name>.race`) does not load, its error is
/// the answer.
pub fn find(name: &str) -> Result<Script, String> {
    let Races { scripts, broken } = races()?;
    if let Some(s) = scripts.iter().position(|s| s.name == name) {
        return Ok(scripts.into_iter().nth(s).unwrap());
    }
    if let Some((_, e)) = broken.iter().find(|(p, _)| p.file_stem().is_some_and(|s| s == name)) {
        return Err(e.clone());
    }
    let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    let mut msg = format!("no race named {name:?}; races: {}", names.join(", "));
    if !broken.is_empty() {
        let files: Vec<String> = broken.iter().map(|(p, _)| p.display().to_string()).collect();
        msg.push_str(&format!(" (not loaded: {}; `grt-tui race list` says why)", files.join(", ")));
    }
    Err(msg)
}

fn indent(s: &str, by: &str) -> String {
    s.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// Runs all steps without a screen; exits 0 only if the outcome was expected.
pub fn headless(name: &str, variant: Variant, transcript: Option<PathBuf>) -> Result<bool, String> {
    let sc = find(name)?;
    let bin = engine::target_program(&sc).map_err(|e| e.to_string())?;
    let n = sc.steps.len();
    super::out(&format!("race {} ({}): {}\nseed {}\n\n", sc.name, variant.name(), sc.title, sc.seed));
    let mut eng = Engine::launch(sc, variant, &bin).map_err(|e| e.to_string())?;
    let mut error = None;
    while !eng.done() {
        match eng.step() {
            Ok(r) => {
                let mut o = format!("step {}/{}: {}\n", r.index + 1, n, r.title);
                o.push_str(&indent(&r.narration, "  "));
                for e in &r.events {
                    o.push_str(&format!("  > {e}\n"));
                }
                for l in &r.state {
                    o.push_str(&format!("  | {l}\n"));
                }
                o.push('\n');
                super::out(&o);
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let outcome = if error.is_none() { Some(eng.finish()) } else { None };
    if let Some(path) = &transcript {
        let t = eng.transcript(outcome.clone(), error.clone());
        let json = serde_json::to_string_pretty(&t).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    drop(eng);
    if let Some(e) = error {
        return Err(e);
    }
    let outcome = outcome.unwrap();
    let mut o = String::new();
    for c in &outcome.checks {
        o.push_str(&format!(
            "expected ({}): {}\n  {}: {}\n",
            variant.name(),
            c.expectation,
            if c.met { "MET" } else { "NOT MET" },
            c.observed
        ));
    }
    o.push_str(&format!("outcome: {}\n", if outcome.met { "as expected" } else { "NOT as expected" }));
    super::out(&o);
    Ok(outcome.met)
}

/// Runs the race under the engine with the live views and a narration
/// panel; `n` runs the next step.
pub fn interactive(name: &str, variant: Variant, refresh_hz: u32) -> Result<(), String> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err("the interactive race view needs a terminal; use --headless for text output".into());
    }
    let sc = find(name)?;
    let bin = engine::target_program(&sc).map_err(|e| e.to_string())?;
    let eng = Engine::launch(sc, variant, &bin).map_err(|e| e.to_string())?;
    let src = grt_inspector::find::open_table(eng.pid()).map_err(|e| e.to_string())?;
    let opts = grt_tui::app::Options { refresh_hz, ..Default::default() };
    let mut app = grt_tui::app::App::new(src, None, opts);
    // The engine started the target and stops it when the race ends.
    app.state.target.ours = true;
    app.disable_control("the race engine controls this process: use n to step");
    app.add_extension(Box::new(grt_tui::race::RacePanel::start(eng)));
    grt_tui::attach::run_app(app)
}
