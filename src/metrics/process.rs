//! The usual per-process series (CPU seconds, resident memory, open fds,
//! start time), read from `/proc` for this process or any of the port's.

/// What `/proc` says about one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Its parent's pid.
    pub parent: u32,
}

/// The usage of process `pid`; `None` when it is gone or unreadable.
pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Field n of proc_pid_stat(5) is fields[n - 3] here.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = clock_ticks();
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        resident_bytes: field(24)? * page_size(),
        open_fds,
        start_time_seconds: boot_time()? + field(22)? as f64 / ticks,
        parent: u32::try_from(field(4)?).ok()?,
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64
}

/// When the machine booted, seconds since the Unix epoch (`btime`).
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line[6..].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = usage(std::process::id()).expect("own /proc entry");
        assert!(me.resident_bytes > 0 && me.open_fds >= 3, "{me:?}");
        // SAFETY: getppid has no preconditions.
        assert_eq!(me.parent, unsafe { libc::getppid() } as u32);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(me.start_time_seconds <= now + 1.0 && me.start_time_seconds > now - 86_400.0);
        assert!(usage(u32::MAX).is_none());
    }
}
