//! VOC annotation parsing: arbitrary bytes as an `Annotations/*.xml`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = agree_ingest::voc::parse_annotation(data) {
        assert!(a.width > 0 && a.height > 0, "a parsed <size> is never zero");
    }
});
