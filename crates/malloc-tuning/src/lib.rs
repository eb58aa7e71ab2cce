//! How accessaudit allocates: its own (Rust) memory from mimalloc, SQLite's
//! from the C heap (glibc's malloc); both set once at start, and given back
//! between the phases of a large piece of work. The FFI calls are the
//! crate's only content: the library stays free of `unsafe`. Elsewhere
//! than glibc on Linux, the glibc settings do nothing.
//!
//! Why mimalloc: a run's findings are built on one thread and written and
//! freed on others; glibc's malloc, held to two arenas for its footprint,
//! spent a tenth of idle-accounts' CPU at 1M accounts in `_int_malloc`,
//! `_int_free` and the arena lock. With mimalloc the run took 0.83x of
//! the time, paired, and the monthly report 0.69x, with peaks no higher
//! (BENCHMARKS.md, "mimalloc").

use libmimalloc_sys as mi;

/// The global allocator, set in `main`.
pub use mimalloc::MiMalloc;

/// mimalloc's defaults keep freed pages for a second and commit its arenas
/// eagerly (a purge then leaves the pages resident): the monthly report at
/// 686k findings peaked at 152 MB against 78 MB with glibc. Pages given
/// back as soon as they are free, and arenas committed as they are used:
/// 60-62 MB (and faster still). Set by a constructor that runs before
/// mimalloc's own (priority 101), which reserves its first arena:
/// `mi_option_set` only stores the value, and an option set later would
/// not reach that arena (measured: 85-88 MB). ELF only (a Linux binary):
/// elsewhere mimalloc keeps its defaults.
#[cfg(target_os = "linux")]
mod tune_at_load {
    use libmimalloc_sys as mi;

    /// `mi_option_arena_eager_commit` and `mi_option_purge_delay` in
    /// mimalloc 3's `mi_option_e` (libmimalloc-sys 0.1.49, pinned).
    pub(crate) const MI_OPTION_ARENA_EAGER_COMMIT: mi::mi_option_t = 4;
    pub(crate) const MI_OPTION_PURGE_DELAY: mi::mi_option_t = 15;

    extern "C" fn tune_before_mimalloc_starts() {
        // SAFETY: mi_option_set only stores an option's value; it needs no
        // initialisation and allocates nothing.
        unsafe {
            mi::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
            mi::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }

    #[used]
    // SAFETY: a function pointer in `.init_array` is what a C constructor
    // is; the linker orders `.init_array.NNNNN` by priority, lower first.
    #[unsafe(link_section = ".init_array.00100")]
    static TUNE_BEFORE_MIMALLOC_STARTS: extern "C" fn() = tune_before_mimalloc_starts;
}

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
    // SAFETY: mi_collect only returns free memory; it is thread-safe.
    unsafe { mi::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constructor ran (in this test binary too) before anything else.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_two_options_are_set_at_load() {
        use super::tune_at_load::{MI_OPTION_ARENA_EAGER_COMMIT, MI_OPTION_PURGE_DELAY};
        // SAFETY: mi_option_get only reads an option's value.
        let (eager, delay) = unsafe {
            (
                mi::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT),
                mi::mi_option_get(MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (0, 0));
    }
}
