//! What every measurement of the tool reports with its figures: medians, the spread of the
//! runs behind them (a busy machine shows as a wide spread) and the CPU they came from.

/// Spread, (max - min) / median, above which figures are flagged: the machine was busy, and
/// they are not to be trusted.
pub const WIDE_SPREAD: f64 = 0.20;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// (max - min) / median.
pub fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let mid = median(v.to_vec());
    if mid > 0.0 {
        (hi - lo) / mid
    } else {
        0.0
    }
}

/// The CPU's model name, for headers.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_the_range_over_the_median() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(spread(&[90.0, 100.0, 110.0]), 0.2);
        assert_eq!(spread(&[0.0, 0.0, 0.0]), 0.0);
    }
}
