//! `grt-tui race list` and `grt-tui race <name> --headless`: run a
//! documented race's script against its target, buggy or fixed, and report
//! whether the runtime did what the script expects.

use grt_inspector::race::engine::{self, Engine};
use grt_inspector::race::script::{self, Script, Variant};
use grt_inspector::targets;
use std::path::PathBuf;

/// Loads and parses every script in the races directory.
pub fn scripts() -> Result<Vec<Script>, String> {
    let dir = targets::races_dir()?;
    let mut v = Vec::new();
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "race")).collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        v.push(script::parse(&p.display().to_string(), &text).map_err(|e| e.to_string())?);
    }
    Ok(v)
}

pub fn list() -> Result<(), String> {
    let mut o = String::new();
    for s in scripts()? {
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
    Ok(())
}

pub fn find(name: &str) -> Result<Script, String> {
    let all = scripts()?;
    let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    all.into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no race named {name:?}; races: {}", names.join(", ")))
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
    app.disable_control("the race engine controls this process: use n to step");
    app.add_extension(Box::new(grt_tui::race::RacePanel::start(eng)));
    grt_tui::attach::run_app(app)
}
