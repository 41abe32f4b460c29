//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` per family, one
//! line per sample, label values escaped (`\\`, `\"`, `\n`).

use std::fmt::{Display, Write};

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A page being written. Writing into a `String` cannot fail, so results are dropped.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// A family's `# HELP` and `# TYPE` lines.
    pub fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// `name{labels} value`, with one more label (a histogram's `le`) when given.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, value: impl Display) {
        self.sample_suffixed(name, "", labels, extra, value);
    }

    pub fn sample_suffixed(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        value: impl Display,
    ) {
        self.text.push_str(name);
        self.text.push_str(suffix);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_some() {
            self.text.push('{');
            for (index, (label, value)) in all.enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    pub fn sample_text(&mut self, name: &str, suffix: &str, labels: &[(&str, &str)], value: &str) {
        self.sample_suffixed(name, suffix, labels, None, value);
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// A label value as the format writes it.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A HELP text as the format writes it (quotes are not escaped there).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let mut page = Exposition::new();
        page.sample("x_total", &[("peer", "say \"hi\"")], None, 3);
        assert_eq!(page.into_string(), "x_total{peer=\"say \\\"hi\\\"\"} 3\n");
    }

    #[test]
    fn a_sample_without_labels_has_no_braces() {
        let mut page = Exposition::new();
        page.header("up", "Line one\nline \\two", "gauge");
        page.sample("up", &[], None, 1);
        assert_eq!(page.into_string(), "# HELP up Line one\\nline \\\\two\n# TYPE up gauge\nup 1\n");
    }
}
