//! The process's peak resident memory, for the benchmarks that report it (Linux).

/// The peak resident memory since the last [`reset_peak_memory`], in GiB.
pub fn peak_memory_gib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / (1024.0 * 1024.0)
}

/// Starts measuring the peak anew (`5` into `clear_refs` resets VmHWM).
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
