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

/// The CPU, for headers: its model name, family and model numbers (a hypervisor may show only
/// "AMD EPYC", the same for generations whose libraries run different code) and the vector
/// extensions the codec and cipher libraries choose their code by.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|key| key.trim() == name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    };
    let name = field("model name").unwrap_or_else(|| "unknown CPU".to_owned());
    let numbers = match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("family {family} model {model}"),
        _ => String::new(),
    };
    let extensions = vector_extensions();
    match (numbers.is_empty(), extensions.is_empty()) {
        (true, true) => name,
        (false, true) => format!("{name} ({numbers})"),
        (true, false) => format!("{name} ({extensions})"),
        (false, false) => format!("{name} ({numbers}; {extensions})"),
    }
}

/// The vector extensions this CPU has among those the libraries pick code by.
fn vector_extensions() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let found = [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("vaes", std::arch::is_x86_feature_detected!("vaes")),
            ("vpclmulqdq", std::arch::is_x86_feature_detected!("vpclmulqdq")),
        ];
        found.iter().filter(|(_, has)| *has).map(|(name, _)| *name).collect::<Vec<_>>().join(" ")
    }
    #[cfg(not(target_arch = "x86_64"))]
    String::new()
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
