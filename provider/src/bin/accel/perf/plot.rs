//! `accel perf --plot FILE.svg`: the rows as two charts in one SVG, drawn by hand (a few lines
//! and labels need no plotting library): throughput against size, one line per queue depth (the
//! direct baseline dashed), and p50 latency against queue depth, one line per size.

use std::fmt::Write as _;

/// What a chart needs of a row.
#[derive(Debug, Clone)]
pub struct Point {
    pub size: usize,
    pub qd: u32,
    pub engines: u16,
    pub threads: u16,
    /// MB/s, or ops/s for NOP (which moves no data).
    pub throughput: f64,
    pub direct: f64,
    pub p50_us: f64,
}

const PANEL_W: f64 = 480.0;
const PANEL_H: f64 = 320.0;
const MARGIN: f64 = 60.0;
const COLORS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

/// A series: its label, and (x, y) points.
struct Series {
    label: String,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The SVG text for `points` (`title` on top, `unit` on the throughput axis).
pub fn svg(title: &str, unit: &str, points: &[Point]) -> String {
    let mut groups: Vec<(u32, u16, u16)> = points.iter().map(|p| (p.qd, p.engines, p.threads)).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut by_size = Vec::new();
    for &(qd, engines, threads) in &groups {
        let of = |p: &&Point| (p.qd, p.engines, p.threads) == (qd, engines, threads);
        let name = format!("qd {qd}, {engines} eng, {threads} thr");
        let line = |dashed, y: fn(&Point) -> f64| Series {
            label: if dashed { format!("{name}, direct") } else { name.clone() },
            dashed,
            points: points.iter().filter(of).map(|p| ((p.size.max(1) as f64).log2(), y(p))).collect(),
        };
        by_size.push(line(false, |p| p.throughput));
        if points.iter().filter(of).any(|p| p.direct > 0.0) {
            by_size.push(line(true, |p| p.direct));
        }
    }
    let mut sizes: Vec<usize> = points.iter().map(|p| p.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let by_qd: Vec<Series> = sizes
        .iter()
        .map(|&size| Series {
            label: crate::perf::human(size),
            dashed: false,
            points: points.iter().filter(|p| p.size == size).map(|p| (f64::from(p.qd).log2(), p.p50_us)).collect(),
        })
        .collect();
    let width = 2.0 * (PANEL_W + 2.0 * MARGIN);
    let height = PANEL_H + 2.0 * MARGIN + 20.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{MARGIN}" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    panel(&mut out, 0.0, &format!("throughput ({unit}) by size"), "size (log2 bytes)", &by_size);
    panel(&mut out, PANEL_W + 2.0 * MARGIN, "p50 latency (µs) by queue depth", "queue depth (log2)", &by_qd);
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, left: f64, title: &str, x_label: &str, series: &[Series]) {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (x_lo, x_hi, y_hi) =
        all.fold((f64::INFINITY, f64::NEG_INFINITY, 0.0f64), |(a, b, c), &(x, y)| (a.min(x), b.max(x), c.max(y)));
    if !x_lo.is_finite() {
        return;
    }
    let x_span = (x_hi - x_lo).max(1.0);
    let y_hi = if y_hi > 0.0 { y_hi * 1.1 } else { 1.0 };
    let (x0, y0) = (left + MARGIN, MARGIN + 20.0);
    let at = |x: f64, y: f64| (x0 + (x - x_lo) / x_span * PANEL_W, y0 + PANEL_H - y / y_hi * PANEL_H);
    let _ = writeln!(out, r#"<text x="{x0}" y="{}">{}</text>"#, y0 - 6.0, escape(title));
    let _ = writeln!(out, r#"<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="black"/>"#);
    let _ = writeln!(out, r#"<text x="{}" y="{}">{}</text>"#, x0 + PANEL_W / 2.0 - 40.0, y0 + PANEL_H + 36.0, escape(x_label));
    for tick in 0..=4 {
        let y = y_hi * f64::from(tick) / 4.0;
        let (_, py) = at(x_lo, y);
        let _ = writeln!(out, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, x0 - 4.0, py + 4.0, short(y));
    }
    let mut x = x_lo.ceil();
    while x <= x_hi {
        let (px, _) = at(x, 0.0);
        let _ = writeln!(out, r#"<text x="{px}" y="{}" text-anchor="middle">{x}</text>"#, y0 + PANEL_H + 16.0);
        x += 1.0;
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = s.points.iter().map(|&(x, y)| at(x, y)).map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
        let dash = if s.dashed { r#" stroke-dasharray="5,4""# } else { "" };
        let _ = writeln!(out, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#, path.join(" "));
        for &(x, y) in &s.points {
            let (px, py) = at(x, y);
            let _ = writeln!(out, r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{color}"/>"#);
        }
        // Legend at the bottom right, where neither chart's lines usually run.
        let ly = y0 + PANEL_H - 8.0 - 14.0 * (series.len() - 1 - i) as f64;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{ly}" fill="{color}" text-anchor="end">{}</text>"#,
            x0 + PANEL_W - 8.0,
            escape(&s.label)
        );
    }
}

fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
