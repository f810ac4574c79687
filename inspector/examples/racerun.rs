//! Development aid: `racerun <script.race> buggy|fixed` runs a race
//! headless through the engine (grt-tui race ... --headless does the same).
use grt_inspector::race::{
    engine::{self, Engine},
    script,
};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&a[1]).unwrap();
    let sc = script::parse(&a[1], &text).unwrap_or_else(|e| panic!("{e}"));
    let v = if a[2] == "buggy" { script::Variant::Buggy } else { script::Variant::Fixed };
    let bin = engine::target_program(&sc).unwrap_or_else(|e| panic!("{e}"));
    let mut e = Engine::launch(sc, v, &bin).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    while !e.done() {
        match e.step() {
            Ok(r) => {
                println!("step {}: {}", r.index + 1, r.title);
                for l in r.events.iter().chain(r.state.iter()) {
                    println!("   {l}");
                }
            }
            Err(x) => {
                println!("ERROR {x}");
                std::process::exit(1)
            }
        }
    }
    let o = e.finish();
    for c in &o.checks {
        println!("{} -> {} : {}", c.expectation, c.met, c.observed);
    }
    std::process::exit(if o.met { 0 } else { 1 });
}
