//! KTH-TIPS2-b file-name parsing: `<id>-scale_<S>_im_<I>_<col>.png`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    if let Ok(n) = agree_ingest::kth_tips2b::parse_name(&name) {
        assert!((1..=12).contains(&n.image), "image number {} accepted", n.image);
    }
});
