//! A reader of the text exposition format, for tests and tools (the integration tests scrape a
//! running party with it); the servers never call it. Strict about what this crate writes:
//! `name{label="value",…} number` lines, `# HELP`/`# TYPE` comments, escaped label values.

use std::collections::HashMap;

/// Lines one page may have; a longer one is refused rather than read without end.
pub const PAGE_LINES_MAX: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Page {
    pub samples: Vec<Sample>,
    /// Family name → its TYPE word.
    pub types: HashMap<String, String>,
}

impl Page {
    /// The sum of the samples named `name` that carry every label of `labels` (a subset
    /// match: `[("code", "00")]` adds up every party's and MTI's series); `None` when none do.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|s| s.value)
            .peekable();
        matching.peek()?;
        Some(matching.sum())
    }

    pub fn kind(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }
}

/// Read a page; the error names the line.
pub fn parse(text: &str) -> Result<Page, String> {
    let mut page = Page::default();
    for (index, line) in text.lines().enumerate() {
        if index >= PAGE_LINES_MAX {
            return Err(format!("more than {PAGE_LINES_MAX} lines"));
        }
        let number = index + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                    return Err(format!("line {number}: TYPE without a name and a type"));
                };
                page.types.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        page.samples.push(sample(line).map_err(|e| format!("line {number}: {e}"))?);
    }
    Ok(page)
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"").ok_or("a label without =\"")?;
            let label = rest[..eq].trim_start_matches(',').to_owned();
            let (value, after) = label_value(&rest[eq + 2..])?;
            labels.push((label, value));
            rest = after;
        }
    }
    let value = rest.trim();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => value.parse::<f64>().map_err(|_| format!("bad value {value:?}"))?,
    };
    Ok(Sample { name: name.to_owned(), labels, value })
}

/// An escaped label value up to its closing quote; the text after it.
fn label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[at + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, c @ ('\\' | '"'))) => value.push(c),
                _ => return Err("bad escape in a label value".into()),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escaped_labels_and_types() {
        let page =
            parse("# HELP a_total x\n# TYPE a_total counter\na_total{p=\"q\\\"\\\\\\n\",c=\"00\"} 4\nb 2.5\n").unwrap();
        assert_eq!(page.kind("a_total"), Some("counter"));
        assert_eq!(page.samples[0].labels[0], ("p".to_owned(), "q\"\\\n".to_owned()));
        assert_eq!(page.value("a_total", &[("c", "00")]), Some(4.0));
        assert_eq!(page.value("b", &[]), Some(2.5));
        assert_eq!(page.value("a_total", &[("c", "05")]), None);
    }

    #[test]
    fn refuses_what_is_not_the_format_naming_the_line() {
        assert!(parse("ok 1\nbad{x=\"1\" 2\n").unwrap_err().starts_with("line 2: "));
        assert_eq!(parse("bad{x=\"1} 2\n").unwrap_err(), "line 1: unterminated label value");
        assert!(parse("x one\n").unwrap_err().starts_with("line 1: bad value"));
        assert!(parse("{} 1\n").is_err());
        assert!(parse("x{a=\"\\q\"} 1\n").is_err());
    }
}
