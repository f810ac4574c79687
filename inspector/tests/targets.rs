//! `targets::example` runs the program built from the runtime as it is
//! now: after a change to a runtime source (not the example's own file),
//! the example is rebuilt. Alone in its test binary, so that this process
//! has not asked for the example before.

use std::path::Path;
use std::time::{Duration, SystemTime};

#[test]
fn a_runtime_source_change_rebuilds_the_example() {
    let name = "demo";
    let before = SystemTime::now() - Duration::from_secs(1);
    // Mark a runtime source changed (same content, new mtime): cargo
    // rebuilds what depends on it; the example's own file stays older.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src/lib.rs");
    let f = std::fs::File::options().write(true).open(&src).expect("open runtime/src/lib.rs");
    f.set_modified(SystemTime::now()).expect("touch runtime/src/lib.rs");
    drop(f);

    let bin = grt_inspector::targets::example(name).expect("find or build the example");
    let built = bin.metadata().expect("the example exists").modified().unwrap();
    assert!(built >= before, "{} was not rebuilt after runtime/src/lib.rs changed", bin.display());
    // It is the program next to this test, where cargo put it.
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    assert_eq!(bin, profile.join("examples").join(name));

    // Asked again, cargo is not asked again and the path is the same.
    assert_eq!(grt_inspector::targets::example(name).unwrap(), bin);
}

#[test]
fn an_unknown_example_is_a_clear_error() {
    let e = grt_inspector::targets::example("no_such_example").unwrap_err();
    assert!(e.contains("no runtime example \"no_such_example\""), "{e}");
}
