//! A tiny HTML builder instead of a template engine: tag and attribute names are `&'static str`
//! (the program's own), every text and attribute value goes through [`escape`], so data from a
//! database (a merchant's name, a reason typed by a reviewer) can never become markup. The one
//! way to add unescaped text is [`Markup::markup`], which takes another `Markup` — itself built
//! only from escaped pieces.

use std::fmt::Write as _;

/// Escape `text` for an HTML text node or a double-quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// HTML built only from escaped text and the program's own tag names.
#[derive(Debug, Default, Clone)]
pub struct Markup(String);

impl Markup {
    pub fn new() -> Markup {
        Markup(String::new())
    }

    /// `<tag a="v" …>`, each value escaped.
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Markup {
        self.0.push('<');
        self.0.push_str(tag);
        for (name, value) in attrs {
            let _ = write!(self.0, " {name}=\"{}\"", escape(value));
        }
        self.0.push('>');
        self
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Markup {
        let _ = write!(self.0, "</{tag}>");
        self
    }

    /// A text node, escaped.
    pub fn text(&mut self, text: &str) -> &mut Markup {
        self.0.push_str(&escape(text));
        self
    }

    /// `<tag …>text</tag>`.
    pub fn element(&mut self, tag: &'static str, attrs: &[(&'static str, &str)], text: &str) -> &mut Markup {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// A void element (`<input …>`, `<meta …>`), written `<tag …>`.
    pub fn void(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Markup {
        self.open(tag, attrs)
    }

    /// A link whose text is escaped.
    pub fn link(&mut self, href: &str, text: &str) -> &mut Markup {
        self.element("a", &[("href", href)], text)
    }

    /// Markup built elsewhere (already escaped by construction).
    pub fn markup(&mut self, other: &Markup) -> &mut Markup {
        self.0.push_str(&other.0);
        self
    }

    /// A table: a header row and rows of cells, every cell escaped text.
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<Cell>]) -> &mut Markup {
        self.open("table", &[]).open("thead", &[]).open("tr", &[]);
        for header in headers {
            self.element("th", &[], header);
        }
        self.close("tr").close("thead").open("tbody", &[]);
        for row in rows {
            self.open("tr", &[]);
            for cell in row {
                self.open("td", &[]);
                match cell {
                    Cell::Text(text) => self.text(text),
                    Cell::Link(href, text) => self.link(href, text),
                };
                self.close("td");
            }
            self.close("tr");
        }
        self.close("tbody").close("table")
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One table cell.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    /// (href, text)
    Link(String, String),
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::Text(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }
}

/// Percent-encode a query value (everything but unreserved characters).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut m = Markup::new();
        m.element("td", &[("title", "a\"b")], "<script>alert('x')</script> & co");
        assert_eq!(m.as_str(), "<td title=\"a&quot;b\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</td>");
    }

    #[test]
    fn table_cells_are_escaped_links_too() {
        let mut m = Markup::new();
        m.table(&["name"], &[vec![Cell::Link("/m?id=<x>".into(), "<b>".into())]]);
        assert!(m.as_str().contains("<a href=\"/m?id=&lt;x&gt;\">&lt;b&gt;</a>"), "{}", m.as_str());
        assert!(!m.as_str().contains("<b>"));
    }

    #[test]
    fn url_encoding_keeps_only_unreserved() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
