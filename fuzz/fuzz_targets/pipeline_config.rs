//! Pipeline-file parsing: arbitrary text as `pipelines/*.toml` (`agree pipeline --config`).
#![no_main]

use std::path::Path;

use agree_pipeline::PipelineFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = PipelineFile::parse(Path::new("fuzz.toml"), text);
});
