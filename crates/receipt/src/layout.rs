//! Lines for a fixed-width printer: clean text, wrap it, align it. Every function here returns
//! lines no wider than the width it is given, whatever the text, so the receipt's bound holds
//! by construction rather than by the caller's care.

use crate::width::{char_width, display_width};

/// Text from outside made safe to print: control characters (a newline in a merchant name would
/// start a line the layout never measured) and the invisible format characters that reorder or
/// hide text (bidirectional overrides, zero-width joiners, byte-order marks) become spaces, runs
/// of whitespace become one space, and the ends are trimmed.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() || is_format(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Unicode format characters (category Cf) that change how the rest of a line is shown.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{061C}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// One unit the wrapper keeps together: a word of narrow characters, or a single wide character
/// (Chinese has no spaces, so a line may break between any two hanzi).
struct Token<'a> {
    text: &'a str,
    /// A space stood before it in the text (kept when the token does not start a line).
    space_before: bool,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut word_start: Option<usize> = None;
    let mut space_before = false;
    for (index, c) in text.char_indices() {
        let narrow_word_char = c != ' ' && char_width(c) == 1;
        if narrow_word_char {
            if word_start.is_none() {
                word_start = Some(index);
            }
            continue;
        }
        if let Some(start) = word_start.take() {
            out.push(Token { text: &text[start..index], space_before });
            space_before = false;
        }
        if c == ' ' {
            space_before = true;
        } else {
            out.push(Token { text: &text[index..index + c.len_utf8()], space_before });
            space_before = false;
        }
    }
    if let Some(start) = word_start {
        out.push(Token { text: &text[start..], space_before });
    }
    out
}

/// Wrap `text` (already [`clean`]ed) into lines of at most `width` columns, breaking at spaces
/// and between wide characters, and splitting a word only when it is longer than a line.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    // A wide character needs two columns; below that no line could hold it.
    let width = width.max(2);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_width = 0;
    for token in tokens(text) {
        let token_width = display_width(token.text);
        let gap = usize::from(token.space_before && !line.is_empty());
        if line_width + gap + token_width <= width {
            if gap == 1 {
                line.push(' ');
            }
            line.push_str(token.text);
            line_width += gap + token_width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line_width = 0;
        }
        if token_width <= width {
            line.push_str(token.text);
            line_width = token_width;
            continue;
        }
        // A word longer than the paper (a long ASCII name with no spaces): cut it by columns.
        for c in token.text.chars() {
            let w = char_width(c);
            if line_width + w > width {
                lines.push(std::mem::take(&mut line));
                line_width = 0;
            }
            line.push(c);
            line_width += w;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` pushed to the right edge of a `width`-column line (wrapped first if it is too long).
pub(crate) fn right(text: &str, width: usize) -> Vec<String> {
    wrap(text, width).into_iter().map(|line| pad_left(&line, width)).collect()
}

/// `text` centred in a `width`-column line (wrapped first if it is too long); no trailing spaces,
/// which a printer would only spend time feeding.
pub(crate) fn center(text: &str, width: usize) -> Vec<String> {
    wrap(text, width)
        .into_iter()
        .map(|line| {
            let pad = width.saturating_sub(display_width(&line)) / 2;
            format!("{}{line}", " ".repeat(pad))
        })
        .collect()
}

/// A label on the left and its value on the right of one line when both fit with a space
/// between them; otherwise the label on its own line and the value right-aligned below it.
pub(crate) fn label_value(label: &str, value: &str, width: usize) -> Vec<String> {
    let value = clean(value);
    let label_width = display_width(label);
    let value_width = display_width(&value);
    if value.is_empty() {
        // No padding after a label with nothing to align.
        return wrap(label, width);
    }
    if label_width + 1 + value_width <= width {
        let gap = width - label_width - value_width;
        return vec![format!("{label}{}{value}", " ".repeat(gap))];
    }
    let mut lines = wrap(label, width);
    lines.extend(right(&value, width));
    lines
}

/// A label on its own line and the value left-aligned and wrapped below it: for free text such
/// as a merchant name, which reads better flush left than ragged right.
pub(crate) fn label_block(label: &str, value: &str, width: usize) -> Vec<String> {
    let mut lines = wrap(label, width);
    lines.extend(wrap(&clean(value), width));
    lines
}

fn pad_left(line: &str, width: usize) -> String {
    format!("{}{line}", " ".repeat(width.saturating_sub(display_width(line))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean("  a\n\tb\u{202E}c  "), "a b c");
        assert_eq!(clean("\u{200B}"), "");
        assert_eq!(clean("星巴克 (国贸店)"), "星巴克 (国贸店)");
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("hello world", 5), ["hello", "world"]);
        assert_eq!(wrap("hello world", 11), ["hello world"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("北京朝阳大悦城", 6), ["北京朝", "阳大悦", "城"]);
        assert_eq!(wrap("星巴克Starbucks咖啡", 10), ["星巴克", "Starbucks", "咖啡"]);
        assert_eq!(wrap("北京 shop", 8), ["北京", "shop"]);
        assert_eq!(wrap("北京 shop", 9), ["北京 shop"]);
        // An odd width cannot take a second wide character.
        assert_eq!(wrap("一二三", 5), ["一二", "三"]);
        assert_eq!(wrap("一二", 1), ["一", "二"]);
        assert!(wrap("", 32).is_empty());
    }

    #[test]
    fn alignment() {
        assert_eq!(label_value("AMOUNT:", "RMB 1.00", 20), ["AMOUNT:     RMB 1.00"]);
        assert_eq!(label_value("AMOUNT:", "RMB 1.00", 15), ["AMOUNT:", "       RMB 1.00"]);
        assert_eq!(center("ab", 7), ["  ab"]);
        assert_eq!(right("一", 4), ["  一"]);
        assert_eq!(label_block("NAME:", "a b", 32), ["NAME:", "a b"]);
    }
}
