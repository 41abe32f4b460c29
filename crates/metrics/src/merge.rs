//! Several parties' pages as one (the console's `/metrics` covers the whole network): each
//! family's `# HELP` and `# TYPE` once, then every page's samples of that family together, as
//! the text format requires; families in the order first seen. The samples are not changed:
//! every party labels its own (`party="…"`), so no two pages write the same series.

use std::collections::HashMap;

/// Pages merged at most, and lines kept from one page (what [`crate::parse::PAGE_LINES_MAX`]
/// reads): a bound on what one scrape assembles.
pub const MERGED_PAGES_MAX: usize = 64;

/// The family a sample line belongs to: its name up to `{` or a space, less a histogram's
/// `_bucket`, `_sum` or `_count` when the base is a declared family.
fn family_of<'a>(line: &'a str, declared: &HashMap<String, usize>) -> &'a str {
    let name = line.split(['{', ' ']).next().unwrap_or(line);
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && declared.contains_key(base)
        {
            return base;
        }
    }
    name
}

/// `page` with the label `key="value"` first on every sample: which target a sample came from
/// (Prometheus's `instance`), when two pages label their samples alike (two issuers both say
/// `party="issuer"`). `value` is escaped as the format requires.
pub fn with_label(page: &str, key: &str, value: &str) -> String {
    let value = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let mut out = String::with_capacity(page.len() + page.len() / 4);
    for line in page.lines() {
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
        } else if let Some((name, rest)) = line.split_once('{') {
            let separator = if rest.starts_with('}') { "" } else { "," };
            out.push_str(&format!("{name}{{{key}=\"{value}\"{separator}{rest}"));
        } else if let Some((name, rest)) = line.split_once(' ') {
            out.push_str(&format!("{name}{{{key}=\"{value}\"}} {rest}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A family's lines: its comments (from the first page that has them) and every page's samples.
#[derive(Default)]
struct Lines {
    comments: Vec<String>,
    samples: Vec<String>,
}

/// The families in first-seen order, found by name.
#[derive(Default)]
struct Families {
    order: HashMap<String, usize>,
    lines: Vec<Lines>,
}

impl Families {
    fn of(&mut self, name: &str) -> &mut Lines {
        let index = *self.order.entry(name.to_owned()).or_insert_with(|| {
            self.lines.push(Lines::default());
            self.lines.len() - 1
        });
        &mut self.lines[index]
    }
}

/// `pages` as one page.
pub fn merge(pages: &[String]) -> String {
    let mut families = Families::default();
    for page in pages.iter().take(MERGED_PAGES_MAX) {
        for line in page.lines().take(crate::parse::PAGE_LINES_MAX) {
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.split_whitespace();
                let (Some(keyword @ ("HELP" | "TYPE")), Some(name)) = (words.next(), words.next()) else { continue };
                // The first page's HELP and TYPE stand for every page's.
                let prefix = format!("# {keyword} ");
                let family = families.of(name);
                if !family.comments.iter().any(|c| c.starts_with(&prefix)) {
                    family.comments.push(line.to_owned());
                }
                continue;
            }
            let name = family_of(line, &families.order).to_owned();
            families.of(&name).samples.push(line.to_owned());
        }
    }
    let mut out = String::new();
    for family in families.lines {
        for line in family.comments.iter().chain(&family.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_declared_once_with_every_pages_samples_together() {
        let a = "# HELP cardnet_requests_total Requests.\n# TYPE cardnet_requests_total counter\n\
                 cardnet_requests_total{party=\"switch\"} 3\n\
                 # HELP cardnet_request_duration_ms Time.\n# TYPE cardnet_request_duration_ms histogram\n\
                 cardnet_request_duration_ms_bucket{party=\"switch\",le=\"1\"} 2\n\
                 cardnet_request_duration_ms_sum{party=\"switch\"} 1.5\n\
                 cardnet_request_duration_ms_count{party=\"switch\"} 2\n";
        let b = a.replace("switch", "issuer-a").replace(" 3\n", " 5\n");
        let merged = merge(&[a.to_owned(), b]);
        assert_eq!(merged.matches("# TYPE cardnet_requests_total counter").count(), 1, "{merged}");
        assert_eq!(merged.matches("# TYPE cardnet_request_duration_ms histogram").count(), 1, "{merged}");
        let page = crate::parse::parse(&merged).unwrap();
        assert_eq!(page.value("cardnet_requests_total", &[]), Some(8.0));
        assert_eq!(page.value("cardnet_request_duration_ms_count", &[("party", "issuer-a")]), Some(2.0));
        // Every sample of a family follows its TYPE line before the next family begins.
        let lines: Vec<&str> = merged.lines().collect();
        let requests: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].starts_with("cardnet_requests_total")).collect();
        assert_eq!(requests, [2, 3], "{merged}");
    }

    #[test]
    fn a_label_tells_alike_pages_apart() {
        let page = "# TYPE cardnet_batches_total counter\ncardnet_batches_total{party=\"issuer\"} 1\nup 1\nx{} 2\n";
        let a = with_label(page, "instance", "issuer-a");
        let b = with_label(page, "instance", "issuer \"b\"");
        let merged = crate::parse::parse(&merge(&[a, b])).unwrap();
        assert_eq!(merged.value("cardnet_batches_total", &[("instance", "issuer-a"), ("party", "issuer")]), Some(1.0));
        assert_eq!(merged.value("cardnet_batches_total", &[("instance", "issuer \"b\"")]), Some(1.0));
        assert_eq!(merged.value("up", &[("instance", "issuer-a")]), Some(1.0));
        assert_eq!(merged.value("x", &[("instance", "issuer-a")]), Some(2.0));
    }
}
