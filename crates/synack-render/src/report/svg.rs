//! Inline SVG charts for the HTML report, readable without JavaScript:
//! axes with labels, `<title>` tooltips on every mark. Times are µs and
//! drawn on a log scale (handshakes span microseconds to seconds).

use std::fmt::Write;

pub const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 32.0;
const TOP: f64 = 26.0;
const RIGHT: f64 = 12.0;

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn human_us(us: f64) -> String {
    crate::human_ns((us * 1000.0) as i64)
}

/// Log-scale x positions for µs values between `lo` and `hi`.
struct LogAxis {
    lo: f64,
    hi: f64,
}

impl LogAxis {
    fn new(lo: f64, hi: f64) -> LogAxis {
        let lo = lo.max(1.0);
        let hi = hi.max(lo * 10.0);
        LogAxis {
            lo: 10f64.powf(lo.log10().floor()),
            hi: 10f64.powf(hi.log10().ceil()),
        }
    }

    fn x(&self, v: f64) -> f64 {
        let f = (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        LEFT + f * (W - LEFT - RIGHT)
    }

    fn ticks(&self, svg: &mut String) {
        let mut t = self.lo;
        while t <= self.hi * 1.0001 {
            let x = self.x(t);
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
                H - BOTTOM,
                H - BOTTOM + 14.0,
                human_us(t)
            );
            t *= 10.0;
        }
    }
}

fn open(svg: &mut String, label: &str) {
    let _ = write!(
        svg,
        r##"<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif">"##,
        escape(label)
    );
}

fn y_axis(svg: &mut String, max: f64, label: &dyn Fn(f64) -> String) {
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let y = H - BOTTOM - f * (H - BOTTOM - TOP);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            label(max * f)
        );
    }
}

/// A CDF per series: points (µs, fraction) rising from 0 to 1.
pub fn cdf(label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let mut svg = String::new();
    open(&mut svg, label);
    let all = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let (lo, hi) = all.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let axis = LogAxis::new(lo, hi);
    axis.ticks(&mut svg);
    y_axis(&mut svg, 1.0, &|f| format!("{:.0}%", f * 100.0));
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(v, f)| {
                format!(
                    "{:.1},{:.1}",
                    axis.x(*v),
                    H - BOTTOM - f * (H - BOTTOM - TOP)
                )
            })
            .collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{}</title></polyline>"##,
            path.join(" "),
            escape(name)
        );
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" fill="{color}">{}</text>"##,
            LEFT + 8.0 + 145.0 * (i % 4) as f64,
            TOP - 12.0 + 12.0 * (i / 4) as f64,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Bars over log-spaced µs bins: (lower edge, upper edge, count).
pub fn histogram(label: &str, bins: &[(f64, f64, u64)]) -> String {
    let mut svg = String::new();
    open(&mut svg, label);
    let lo = bins.first().map_or(1.0, |b| b.0);
    let hi = bins.last().map_or(10.0, |b| b.1);
    let axis = LogAxis::new(lo, hi);
    axis.ticks(&mut svg);
    let max = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
    y_axis(&mut svg, max, &|v| format!("{v:.0}"));
    for (a, b, n) in bins {
        let (x0, x1) = (axis.x(*a), axis.x(*b));
        let h = *n as f64 / max * (H - BOTTOM - TOP);
        let _ = write!(
            svg,
            r##"<rect class="bar" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} to {}: {n}</title></rect>"##,
            H - BOTTOM - h,
            (x1 - x0 - 1.0).max(1.0),
            COLORS[0],
            human_us(*a),
            human_us(*b)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Stacked bars over time: per bucket (start label, counts per series).
pub fn stacked(label: &str, names: &[&str], buckets: &[(String, Vec<u64>)]) -> String {
    let mut svg = String::new();
    open(&mut svg, label);
    let max = buckets
        .iter()
        .map(|b| b.1.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    y_axis(&mut svg, max, &|v| format!("{v:.0}"));
    let width = (W - LEFT - RIGHT) / buckets.len().max(1) as f64;
    for (i, (start, counts)) in buckets.iter().enumerate() {
        let x = LEFT + i as f64 * width;
        let mut y = H - BOTTOM;
        for (j, n) in counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = *n as f64 / max * (H - BOTTOM - TOP);
            y -= h;
            let _ = write!(
                svg,
                r##"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {} {n}</title></rect>"##,
                (width - 1.0).max(1.0),
                COLORS[j % COLORS.len()],
                escape(start),
                names.get(j).copied().unwrap_or("")
            );
        }
        if i == 0 || i + 1 == buckets.len() {
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{}" font-size="11">{}</text>"##,
                H - BOTTOM + 14.0,
                escape(start)
            );
        }
    }
    for (j, name) in names.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" fill="{}">{}</text>"##,
            LEFT + 8.0 + 110.0 * j as f64,
            TOP - 10.0,
            COLORS[j % COLORS.len()],
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A ladder: client on the left, server on the right, an arrow per
/// handshake packet at its time: (µs from the first SYN, from client?,
/// label).
pub fn ladder(events: &[(f64, bool, String)]) -> String {
    let (w, h) = (360.0, 40.0 + 22.0 * events.len() as f64);
    let mut svg = format!(
        r##"<svg class="ladder" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="11"><text x="40" y="14" text-anchor="middle">client</text><text x="320" y="14" text-anchor="middle">server</text><line x1="40" y1="20" x2="40" y2="{h}" stroke="#444"/><line x1="320" y1="20" x2="320" y2="{h}" stroke="#444"/>"##
    );
    for (i, (us, from_client, label)) in events.iter().enumerate() {
        let y = 34.0 + 22.0 * i as f64;
        let (x1, x2) = if *from_client {
            (40.0, 320.0)
        } else {
            (320.0, 40.0)
        };
        let head = if *from_client { x2 - 6.0 } else { x2 + 6.0 };
        let _ = write!(
            svg,
            r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{:.1}" stroke="{}" stroke-width="1.5"/><polygon points="{x2},{:.1} {head},{:.1} {head},{:.1}" fill="#444"/><text x="180" y="{:.1}" text-anchor="middle">{} +{}</text>"##,
            y + 8.0,
            if *from_client { COLORS[0] } else { COLORS[1] },
            y + 8.0,
            y + 4.0,
            y + 12.0,
            y - 2.0,
            escape(label),
            human_us(*us)
        );
    }
    svg.push_str("</svg>");
    svg
}
