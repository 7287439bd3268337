//! Small SVG charts a researcher can paste into a mail: axis titles with
//! units, round tick values, a legend that fits, and the number of runs
//! stated. Hand-written SVG (no plotting crate): a chart is a few dozen
//! elements.

use std::fmt::Write;

/// The step for ticks over `span`: 1, 2 or 5 times a power of ten, the
/// smallest that needs at most `most` steps.
fn nice_step(span: f64, most: f64) -> f64 {
    let mag = 10f64.powf((span / 5.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= most)
        .unwrap_or(10.0 * mag)
}

/// Round tick values from 0 to at least `max`: steps of 1, 2 or 5 times a
/// power of ten, 4 to 8 of them.
pub fn nice_ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let step = nice_step(max, 8.0);
    let n = (max / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// Round tick values covering `lo..=hi` (not from zero: a 5 % effect
/// must stay visible), with the same steps as [`nice_ticks`].
pub fn nice_ticks_range(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return vec![0.0, 1.0];
    }
    let (lo, hi) = if hi - lo < 1e-9 {
        let pad = (hi.abs() * 0.05).max(1.0);
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let step = nice_step(hi - lo, 7.0);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: no trailing zeros, thousands as k and millions as M.
pub fn tick_label(x: f64) -> String {
    let (v, unit) = if x.abs() >= 1e6 {
        (x / 1e6, "M")
    } else if x.abs() >= 1e4 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948",
];

/// One panel of line series over a shared x axis.
pub struct Panel<'a> {
    pub y_title: &'a str,
    /// (name, y values, one per x).
    pub series: Vec<(&'a str, Vec<f64>)>,
}

/// Panels stacked vertically, sharing `xs` and the x-axis title.
pub fn line_chart(title: &str, x_title: &str, xs: &[f64], panels: &[Panel]) -> String {
    let (w, panel_h, left, right, top) = (820.0, 220.0, 80.0, 190.0, 40.0);
    let gap = 60.0;
    let h = top + panels.len() as f64 * (panel_h + gap) + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        w / 2.0,
        xml_escape(title)
    );
    let x_max = xs.iter().copied().fold(0.0, f64::max);
    let x_ticks = nice_ticks(x_max);
    let x_top = *x_ticks.last().unwrap();
    let plot_w = w - left - right;
    let sx = |x: f64| left + x / x_top * plot_w;
    for (p, panel) in panels.iter().enumerate() {
        let y0 = top + p as f64 * (panel_h + gap);
        let y_max = panel
            .series
            .iter()
            .flat_map(|(_, ys)| ys.iter().copied())
            .fold(0.0, f64::max);
        let y_ticks = nice_ticks(y_max);
        let y_top = *y_ticks.last().unwrap();
        let sy = |y: f64| y0 + panel_h - y / y_top * panel_h;
        for t in &y_ticks {
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left + plot_w,
                left - 6.0,
                sy(*t) + 4.0,
                tick_label(*t),
                y = sy(*t)
            );
        }
        for t in &x_ticks {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                sx(*t),
                y0 + panel_h + 16.0,
                tick_label(*t)
            );
        }
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{left}\" y1=\"{y0}\" y2=\"{}\" stroke=\"black\"/>\
             <line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"black\"/>\
             <text transform=\"translate(18,{:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y0 + panel_h,
            left + plot_w,
            y0 + panel_h,
            y0 + panel_h,
            y0 + panel_h / 2.0,
            xml_escape(panel.y_title),
            left + plot_w / 2.0,
            y0 + panel_h + 34.0,
            xml_escape(x_title)
        );
        for (i, (name, ys)) in panel.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let points: Vec<String> = xs
                .iter()
                .zip(ys)
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
                points.join(" ")
            );
            let ly = y0 + 10.0 + i as f64 * 18.0;
            let lx = left + plot_w + 14.0;
            let _ = writeln!(
                s,
                "<line x1=\"{lx}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                lx + 18.0,
                lx + 24.0,
                ly + 4.0,
                xml_escape(name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(4960.0),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0]
        );
        assert_eq!(
            nice_ticks(7.0),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
        );
        assert_eq!(nice_ticks(0.0), vec![0.0, 1.0]);
        let t = nice_ticks(123_456.0);
        assert!(t.len() >= 4 && t.len() <= 9, "{t:?}");
        assert!(*t.last().unwrap() >= 123_456.0);
        assert_eq!(tick_label(20000.0), "20k");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(3_000_000.0), "3M");
        let t = nice_ticks_range(6200.0, 7450.0);
        assert_eq!(t.first(), Some(&6200.0));
        assert_eq!(t.last(), Some(&7600.0));
        assert!(nice_ticks_range(-16.2, 0.0).contains(&0.0));
    }
}
