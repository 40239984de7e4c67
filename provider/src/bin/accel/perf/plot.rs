//! `accel perf --plot FILE.svg|FILE.png`: the rows as two charts side by side, drawn by the
//! plotters crate: throughput against size, one line per queue depth (the direct baseline
//! dashed), and p50 latency against queue depth, one line per size. Both formats come from the
//! one drawing; the text is laid out with a TrueType font of the system's, found before the
//! benchmark runs so a missing one is reported at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::series::DashedLineSeries;
use plotters::style::{register_font, FontStyle};

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

/// The file formats `--plot` draws, told by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 480;
/// Where plotters looks the font up: every piece of text names this family.
const FAMILY: &str = "sans-serif";
/// Names the one font to use, overriding the search.
const FONT_VARIABLE: &str = "ACCEL_PLOT_FONT";
/// Fonts tried when `fc-match` is missing or names none: DejaVu (Debian's fonts-dejavu-core,
/// and where Fedora and Arch put it), then Liberation.
const FALLBACK_FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Checks `path` can be drawn, before any benchmark runs: an `.svg` or `.png` name in a
/// directory that exists, and a font to lay the text out with, which the first call loads.
pub fn prepare(path: &Path) -> Result<Format, String> {
    let format = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        _ => return Err(format!("--plot {}: the file must end in .svg or .png", path.display())),
    };
    // The file itself is written after the run; its directory must be there before.
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !directory.is_dir() {
        return Err(format!("--plot {}: no directory {}", path.display(), directory.display()));
    }
    if path.is_dir() {
        return Err(format!("--plot {}: a directory, not a file", path.display()));
    }
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(load_font).clone().map_err(|tried| {
        format!(
            "--plot {}: no TrueType font to write the labels with (tried {}); install one (`apt-get install fonts-dejavu-core`) or name one in {FONT_VARIABLE}",
            path.display(),
            tried
        )
    })?;
    Ok(format)
}

/// Registers the first font found for `FAMILY` (`ACCEL_PLOT_FONT` alone if set); on failure,
/// what it tried.
fn load_font() -> Result<(), String> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match std::env::var_os(FONT_VARIABLE) {
        Some(chosen) => vec![chosen.into()],
        None => fc_match().into_iter().chain(FALLBACK_FONTS.iter().map(PathBuf::from)).collect(),
    };
    for candidate in candidates {
        tried.push(candidate.display().to_string());
        let Ok(bytes) = std::fs::read(&candidate) else { continue };
        // plotters keeps fonts for the life of the process: one font, read once per process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
            return Ok(());
        }
    }
    Err(tried.join(", "))
}

/// The system's sans-serif font file as fontconfig sees it, if it is one plotters can read.
fn fc_match() -> Option<PathBuf> {
    let out = Command::new("fc-match").args(["--format=%{file}", "sans-serif"]).output().ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?);
    let readable = matches!(path.extension().and_then(|e| e.to_str()), Some("ttf" | "otf" | "TTF" | "OTF"));
    (out.status.success() && readable).then_some(path)
}

/// Line colours (matplotlib's first eight): a device line and its dashed baseline share one.
const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
];

/// A line of a chart: its label, colour (an index into `COLORS`), dashed or not, and (x, y)
/// points.
struct Series {
    label: String,
    color: usize,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Draws `points` into `path` (`title` on top, `unit` on the throughput axis); `prepare` must
/// have accepted `path`.
pub fn draw(path: &Path, format: Format, title: &str, unit: &str, points: &[Point]) -> Result<(), String> {
    let result = match format {
        Format::Svg => charts(SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area(), title, unit, points),
        Format::Png => {
            // Drawn in memory, then written by the png crate: plotters' own encoder would
            // bring in an image library for this one format.
            let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
            let area = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            charts(area, title, unit, points).and_then(|()| write_png(path, &rgb))
        }
    };
    result.map_err(|e| format!("--plot {}: {e}", path.display()))
}

/// `rgb` (`WIDTH` by `HEIGHT`, three bytes a pixel) as a PNG file at `path`.
fn write_png(path: &Path, rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

fn charts<B: DrawingBackend>(root: DrawingArea<B, Shift>, title: &str, unit: &str, points: &[Point]) -> Result<(), String>
where
    B::ErrorType: 'static,
{
    let failed = |e: DrawingAreaErrorKind<B::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(failed)?;
    let root = root.titled(title, (FAMILY, 18)).map_err(failed)?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    let (throughput, latency) = (by_size(points), by_qd(points));
    // Throughput from zero; latency on a log scale, where sizes a thousand times apart still
    // show their lines.
    let size_axis: XAxis = ("size", |x| crate::perf::human(x.round() as usize));
    panel(&left, &format!("throughput ({unit}) by size"), size_axis, 0.0..y_max(&throughput) * 1.1, &throughput)
        .map_err(failed)?;
    let (lo, hi) = y_positive_range(&latency);
    let qd_axis: XAxis = ("queue depth", |x| format!("{x:.0}"));
    panel(&right, "p50 latency (µs, log scale) by queue depth", qd_axis, (lo / 1.5..hi * 1.5).log_scale(), &latency)
        .map_err(failed)?;
    root.present().map_err(failed)
}

/// Throughput against size: a line per (queue depth, engines, threads), and its direct
/// baseline dashed where there is one.
fn by_size(points: &[Point]) -> Vec<Series> {
    let mut groups: Vec<(u32, u16, u16)> = points.iter().map(|p| (p.qd, p.engines, p.threads)).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut lines = Vec::new();
    for (color, (qd, engines, threads)) in groups.into_iter().enumerate() {
        let of = |p: &&Point| (p.qd, p.engines, p.threads) == (qd, engines, threads);
        let name = format!("qd {qd}, {engines} eng, {threads} thr");
        let line = |dashed, y: fn(&Point) -> f64| Series {
            label: if dashed { format!("{name}, direct") } else { name.clone() },
            color,
            dashed,
            points: points.iter().filter(of).map(|p| (p.size.max(1) as f64, y(p))).collect(),
        };
        lines.push(line(false, |p| p.throughput));
        if points.iter().filter(of).any(|p| p.direct > 0.0) {
            lines.push(line(true, |p| p.direct));
        }
    }
    lines
}

/// p50 latency against queue depth: a line per size.
fn by_qd(points: &[Point]) -> Vec<Series> {
    let mut sizes: Vec<usize> = points.iter().map(|p| p.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .enumerate()
        .map(|(color, size)| Series {
            label: crate::perf::human(size),
            color,
            dashed: false,
            points: points.iter().filter(|p| p.size == size).map(|p| (f64::from(p.qd), p.p50_us)).collect(),
        })
        .collect()
}

/// Every y of `series`.
fn ys(series: &[Series]) -> impl Iterator<Item = f64> + '_ {
    series.iter().flat_map(|s| &s.points).map(|&(_, y)| y)
}

/// The largest y of `series`, 1 if there is none above zero.
fn y_max(series: &[Series]) -> f64 {
    let hi = ys(series).fold(0.0f64, f64::max);
    if hi > 0.0 {
        hi
    } else {
        1.0
    }
}

/// The smallest and largest positive y of `series` (a log axis has no zero).
fn y_positive_range(series: &[Series]) -> (f64, f64) {
    let (lo, hi) = ys(series).filter(|&y| y > 0.0).fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.1, 1.0)
    }
}

/// A chart's x axis: its name, and how a tick reads.
type XAxis = (&'static str, fn(f64) -> String);

/// One chart: a log2 x axis over the series' x values, and `y` for the y axis.
fn panel<B: DrawingBackend, Y>(
    area: &DrawingArea<B, Shift>,
    caption: &str,
    x_axis: XAxis,
    y: Y,
    series: &[Series],
) -> Result<(), DrawingAreaErrorKind<B::ErrorType>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, 0.0f64), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    if !x_lo.is_finite() {
        return Ok(());
    }
    // A single x value still gets an axis: one step either side.
    let (x_lo, x_hi) = if x_hi > x_lo { (x_lo, x_hi) } else { (x_lo / 2.0, x_hi * 2.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 15))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((x_lo..x_hi).log_scale().base(2.0), y)?;
    chart
        .configure_mesh()
        .x_desc(x_axis.0)
        .x_label_formatter(&|x| x_axis.1(*x))
        .y_label_formatter(&|y| short(*y))
        .label_style((FAMILY, 12))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for s in series {
        let style = COLORS[s.color % COLORS.len()].stroke_width(2);
        let points = s.points.iter().copied();
        if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(points, 6, 4, style))?
                .label(&s.label)
                .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 20, y)], 6, 4, style));
        } else {
            chart
                .draw_series(LineSeries::new(points, style).point_size(3))?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 12))
        .draw()
}

fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v if v >= 10.0 => format!("{v:.0}"),
        v => format!("{v:.1}"),
    }
}
