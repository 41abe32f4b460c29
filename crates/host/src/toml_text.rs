//! Writing TOML by hand (a host's `init` writes its configuration with comments, which no
//! serializer keeps): values as TOML basic strings.

/// `text` as a TOML basic string: quotes and backslashes escaped, control characters as
/// escapes (`\n`, `\r`, `\t`, else `\uXXXX`).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `items` as a TOML array of basic strings: `["a", "b"]`.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_reads_back_the_same() {
        for text in ["plain", "", "a \"b\" c", "back\\slash", "line\nbreak\r\ttab", "bell\u{7}", "中文"] {
            let line = format!("value = {}", quote(text));
            let table: toml::Table = toml::from_str(&line).unwrap();
            assert_eq!(table["value"].as_str(), Some(text), "{line}");
        }
        assert_eq!(quote("a\tb"), "\"a\\tb\"");
        assert_eq!(quote("\u{1}"), "\"\\u0001\"");
    }

    #[test]
    fn lists() {
        assert_eq!(quote_list(&["001", "003"]), "[\"001\", \"003\"]");
        assert_eq!(quote_list::<&str>(&[]), "[]");
    }
}
