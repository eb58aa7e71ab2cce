//! How accessaudit uses the C heap (glibc's malloc): set once at start,
//! and given back between the phases of a large piece of work. The FFI
//! calls are the crate's only content: the library stays free of `unsafe`.
//! Elsewhere than glibc on Linux, both functions do nothing.

/// glibc gives each thread that contends for memory an arena of its own
/// (up to eight per core) and keeps what is freed in it, and serves large
/// blocks from its arenas once a large block has been freed (the mmap
/// threshold rises with it): a process that streams a large run through
/// several threads (the runtime's, one per SQLite connection) and builds
/// a few large strings (a report's HTML, its message) then holds far more
/// than it uses (measured: 343 MB of peak RSS for 164 MB of peak heap on a
/// 686k-finding report). Few arenas and a fixed threshold (blocks of 256
/// KiB and more are mapped, and returned when freed) keep the footprint
/// close to the heap. `arenas` (at least 1): one for work done mostly on
/// one thread, two where several threads allocate at once.
///
/// Call it first thing in `main`, before any other thread starts.
pub fn limit_arenas(arenas: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; the caller runs it
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas.max(1));
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Returns the free pages of every arena to the system. What one phase of
/// work freed in small blocks stays resident, scattered between live ones,
/// until malloc reuses it; the next phase may allocate in the other arena
/// or in larger blocks, and the process then holds both phases' memory.
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
