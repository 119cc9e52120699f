//! Handing the C heap's free pages back to the kernel. glibc keeps memory
//! freed in the middle of its heap (below its mmap threshold, e.g. Node's
//! 64 KiB socket read buffers) mapped for reuse, so a burst of allocations
//! leaves the process's RSS high after everything was freed; malloc_trim(3)
//! releases those pages.

use std::os::raw::c_int;

extern "C" {
    fn malloc_trim(pad: usize) -> c_int;
}

/// Releases the free pages of every malloc arena; true when some memory was
/// given back (malloc_trim returns 1), false when there was none to give.
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own
    // arenas under their locks; it is safe to call at any time.
    unsafe { malloc_trim(0) == 1 }
}
