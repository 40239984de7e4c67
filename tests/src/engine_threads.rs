//! The device's engine threads as the kernel sees them: what tests of engines that should
//! sleep measure.

/// The engine threads' CPU time (user and system) in this process, in clock ticks.
pub fn engine_cpu_ticks() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("accelsim-eng") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
        // utime and stime, fields 14 and 15 of stat: 11 and 12 after the state.
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}
