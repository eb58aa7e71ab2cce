//! This process as records name it (host, pid), and whether a process named
//! by a record still runs.

/// gethostname(2): /proc/sys is hidden by the unit's ProcSubset=pid.
pub fn hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether process `pid` of this host still runs: `Some(false)` when it is
/// gone, or when its pid now belongs to a program that is neither
/// `accessaudit` nor this one (`/proc/PID/comm`); `None` when it cannot be
/// told (no /proc, or not allowed to look).
pub fn is_running(pid: u32) -> Option<bool> {
    if pid == std::process::id() {
        return Some(true);
    }
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => {
            let comm = comm.trim_end();
            Some(comm == "accessaudit" || comm == program())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No /proc at all: nothing can be told.
            std::path::Path::new("/proc/self").exists().then_some(false)
        }
        Err(_) => None,
    }
}

/// The name of this program, as `/proc/PID/comm` shows it.
fn program() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|c| c.trim_end().to_string())
        .unwrap_or_else(|_| "accessaudit".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_finished_child_does_not() {
        assert_eq!(is_running(std::process::id()), Some(true));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        // Reaped: the pid is gone (or, rarely, reused by another program).
        assert_eq!(is_running(pid), Some(false));
    }
}
