//! CPU time of the whole process, for the load benches' CPU-per-request figures.

/// User + system CPU seconds of the whole process.
pub fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value, and getrusage
    // only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return f64::NAN;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
