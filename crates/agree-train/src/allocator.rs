//! glibc malloc settings for training on the CPU.
//!
//! libtorch's CPU allocator asks malloc for every activation and gradient of every
//! step. A ResNet-18 at batch 128 on 32×32 inputs allocates tens of 32 MiB buffers per
//! step; with glibc's defaults these sit at or above the (dynamic, at most 32 MiB)
//! mmap threshold, so each one is a fresh `mmap`, faulted in page by page, and
//! `munmap`ed when freed — the kernel zeroes gigabytes per step (measured: 96 s of
//! system time in a 2-epoch bench, and 0.76× the images/s of PyTorch). Keeping freed
//! blocks in the heap for the next step removes that work.

use std::sync::OnceLock;

/// Heap blocks up to this size come from the heap, not from a private `mmap`.
pub const MMAP_THRESHOLD: usize = 1 << 30;
/// Free memory at the top of the heap kept for reuse rather than returned to the kernel.
pub const TRIM_THRESHOLD: usize = 1 << 30;
/// Extra memory requested whenever the heap grows.
pub const TOP_PAD: usize = 64 << 20;

/// Sets the malloc parameters above once per process (glibc only; elsewhere nothing).
///
/// Left alone when the user configures malloc through `GLIBC_TUNABLES` or the
/// `MALLOC_*_` variables. Returns whether the settings were applied.
pub fn tune_allocator_for_training() -> bool {
    static APPLIED: OnceLock<bool> = OnceLock::new();
    *APPLIED.get_or_init(|| !user_configured_malloc() && apply())
}

/// Whether malloc is configured through the environment (`GLIBC_TUNABLES` with a
/// malloc setting, or a `MALLOC_*_` variable).
fn user_configured_malloc() -> bool {
    std::env::vars_os().any(|(k, v)| {
        let k = k.to_string_lossy();
        (k == "GLIBC_TUNABLES" && v.to_string_lossy().contains("malloc"))
            || (k.starts_with("MALLOC_") && k.ends_with('_'))
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    let set = |param: libc::c_int, value: usize| {
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc.
        unsafe { libc::mallopt(param, value as libc::c_int) == 1 }
    };
    set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        & set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        & set(libc::M_TOP_PAD, TOP_PAD)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_come_from_the_heap_after_tuning() {
        if user_configured_malloc() {
            return;
        }
        assert!(tune_allocator_for_training());
        assert!(tune_allocator_for_training(), "idempotent");
        // A 16 MiB block (far above glibc's default 128 KiB threshold; small enough for
        // a thread arena's 64 MiB heap) is not a private mapping: its chunk header
        // lacks the IS_MMAPPED bit (0x2) that glibc sets on mmap'd chunks.
        let v: Vec<u8> = Vec::with_capacity(16 << 20);
        // SAFETY: reads the size word glibc keeps just before every chunk's user memory.
        let header = unsafe { *(v.as_ptr() as *const usize).sub(1) };
        assert_eq!(header & 0x2, 0, "16 MiB block was mmap'd: {header:#x}");
    }
}
