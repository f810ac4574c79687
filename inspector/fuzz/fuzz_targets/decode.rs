//! Fuzz target: any bytes, read either as a raw table file (`.grtraw`) or
//! as a table image, go through `Image::load`, `Snapshot::decode` and the
//! wait-for analysis; nothing may panic. Seed the corpus with raw tables
//! saved by `RawTable::save` (and with `synth` tables) for depth.
#![no_main]

use grt_inspector::snapshot::{Capture, DecodeOptions, RawTable, Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let img = match RawTable::from_bytes(data) {
        Ok(raw) => raw.image(),
        Err(_) => grt_inspector::synth::image(data),
    };
    if let Ok(img) = img {
        for capture in [Capture::Live, Capture::Frozen { pause_us: 0 }] {
            let s = Snapshot::decode(&img, &DecodeOptions { capture, include_dead: true, now_mono_ns: Some(1) });
            let _ = grt_inspector::waitfor::analyze(&s);
            let _ = RawTable::from_image(&img).to_bytes();
        }
    }
});
