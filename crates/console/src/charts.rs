//! Charts drawn here as inline SVG (no script, no chart library): one bar per minute.

use crate::html::Markup;

const WIDTH: u64 = 720;
const HEIGHT: u64 = 160;
const MARGIN: u64 = 24;

/// A bar chart of `(label, value)` in order, titled, with the largest value written on the
/// axis. Values are integers; bars scale to the largest.
pub fn bars(m: &mut Markup, title: &str, unit: &str, points: &[(String, u64)]) {
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let count = points.len().max(1) as u64;
    let slot = (WIDTH - 2 * MARGIN) / count;
    let bar = slot.saturating_sub(2).max(1);
    let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
    let view = format!("0 0 {WIDTH} {HEIGHT}");
    m.open("figure", &[]);
    m.open(
        "svg",
        &[("xmlns", "http://www.w3.org/2000/svg"), ("width", &w), ("height", &h), ("viewBox", &view), ("role", "img")],
    );
    m.element("title", &[], title);
    let base = HEIGHT - MARGIN;
    let axis = (MARGIN.to_string(), base.to_string(), (WIDTH - MARGIN).to_string());
    m.void("line", &[("x1", &axis.0), ("y1", &axis.1), ("x2", &axis.2), ("y2", &axis.1), ("stroke", "#888")]);
    m.close("line");
    m.element("text", &[("x", "2"), ("y", "14"), ("font-size", "11")], &format!("max {max} {unit}"));
    for (i, (label, value)) in points.iter().enumerate() {
        let height = value.saturating_mul(base - MARGIN) / max;
        let x = MARGIN + i as u64 * slot;
        let (xs, ys, ws, hs) = (x.to_string(), (base - height).to_string(), bar.to_string(), height.to_string());
        m.open("rect", &[("x", &xs), ("y", &ys), ("width", &ws), ("height", &hs), ("fill", "#369")]);
        m.element("title", &[], &format!("{label}: {value} {unit}"));
        m.close("rect");
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let y = (HEIGHT - 6).to_string();
        m.element("text", &[("x", &MARGIN.to_string()), ("y", &y), ("font-size", "11")], &first.0);
        let x = (WIDTH - MARGIN - 30).to_string();
        m.element("text", &[("x", &x), ("y", &y), ("font-size", "11")], &last.0);
    }
    m.close("svg").element("figcaption", &[], title).close("figure");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_bar_fills_the_chart_and_labels_are_escaped() {
        let mut m = Markup::new();
        bars(&mut m, "rate", "tx", &[("<a>".into(), 2), ("b".into(), 4)]);
        let svg = m.into_string();
        assert!(svg.contains("<title>&lt;a&gt;: 2 tx</title>"), "{svg}");
        // Usable height 160 - 2*24 = 112: the largest value is a bar of 112, half of it 56.
        assert!(svg.contains("height=\"112\"") && svg.contains("height=\"56\""), "{svg}");
        assert!(svg.contains("max 4 tx"));
    }
}
