//! Display width: how many printer (or terminal) columns a character takes.
//!
//! A POS printer's Chinese font prints an ideograph in the space of two ASCII characters, and a
//! terminal does the same, so a 32-column slip holds 16 hanzi. No dependency does this for us
//! (the workspace takes none for it), so the wide ranges are listed here. Everything outside them
//! counts as 1 column, which over-counts combining and zero-width characters: a line can come
//! out shorter than it could be, never longer than the paper.

/// Ranges of characters printed two columns wide (inclusive). They are the East Asian Wide and
/// Fullwidth blocks a receipt can meet, plus the common emoji blocks that terminals draw wide:
///
/// | Range | Block |
/// |---|---|
/// | U+1100–U+115F | Hangul Jamo (leading consonants) |
/// | U+2E80–U+2FDF | CJK Radicals Supplement, Kangxi Radicals |
/// | U+2FF0–U+303E | Ideographic Description, CJK Symbols and Punctuation (、。「」 and U+3000 space) |
/// | U+3041–U+33FF | Hiragana, Katakana, Bopomofo, Hangul Compatibility Jamo, Kanbun, CJK Strokes, Enclosed CJK, CJK Compatibility |
/// | U+3400–U+4DBF | CJK Unified Ideographs Extension A |
/// | U+4E00–U+9FFF | CJK Unified Ideographs |
/// | U+A000–U+A4CF | Yi Syllables and Radicals |
/// | U+A960–U+A97F | Hangul Jamo Extended-A |
/// | U+AC00–U+D7A3 | Hangul Syllables |
/// | U+F900–U+FAFF | CJK Compatibility Ideographs |
/// | U+FE10–U+FE19 | Vertical Forms |
/// | U+FE30–U+FE6F | CJK Compatibility Forms, Small Form Variants |
/// | U+FF00–U+FF60 | Fullwidth ASCII variants (，：（） and the rest) |
/// | U+FFE0–U+FFE6 | Fullwidth signs (￥ ￡ ￠ …) |
/// | U+1F300–U+1F64F | Miscellaneous Symbols and Pictographs, Emoticons |
/// | U+1F900–U+1F9FF | Supplemental Symbols and Pictographs |
/// | U+20000–U+2FFFD | CJK Extensions B–F, Compatibility Ideographs Supplement (plane 2) |
/// | U+30000–U+3FFFD | CJK Extensions G–H (plane 3) |
pub const WIDE_RANGES: &[(char, char)] = &[
    ('\u{1100}', '\u{115F}'),
    ('\u{2E80}', '\u{2FDF}'),
    ('\u{2FF0}', '\u{303E}'),
    ('\u{3041}', '\u{33FF}'),
    ('\u{3400}', '\u{4DBF}'),
    ('\u{4E00}', '\u{9FFF}'),
    ('\u{A000}', '\u{A4CF}'),
    ('\u{A960}', '\u{A97F}'),
    ('\u{AC00}', '\u{D7A3}'),
    ('\u{F900}', '\u{FAFF}'),
    ('\u{FE10}', '\u{FE19}'),
    ('\u{FE30}', '\u{FE6F}'),
    ('\u{FF00}', '\u{FF60}'),
    ('\u{FFE0}', '\u{FFE6}'),
    ('\u{1F300}', '\u{1F64F}'),
    ('\u{1F900}', '\u{1F9FF}'),
    ('\u{20000}', '\u{2FFFD}'),
    ('\u{30000}', '\u{3FFFD}'),
];

/// Columns one character takes: 2 for the [`WIDE_RANGES`], 1 for everything else. Text is
/// cleaned of control characters before it is laid out, so they never reach a line.
pub fn char_width(c: char) -> usize {
    // ASCII first: almost every character on a receipt is, and it needs no search.
    if c.is_ascii() {
        return 1;
    }
    let wide = WIDE_RANGES
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok();
    if wide { 2 } else { 1 }
}

/// Columns a string takes on the printer.
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_disjoint() {
        // The binary search in `char_width` depends on it.
        for pair in WIDE_RANGES.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn widths() {
        assert_eq!(display_width("RMB 125.00"), 10);
        assert_eq!(display_width("银联POS签购单"), 13);
        assert_eq!(display_width("，：（）￥"), 10);
        assert_eq!(display_width("한국어"), 6);
        assert_eq!(display_width("カタカナ"), 8);
        assert_eq!(display_width("\u{3000}"), 2);
        assert_eq!(display_width("𠀀"), 2);
        assert_eq!(display_width("é"), 1);
        assert_eq!(char_width('\u{303F}'), 1);
        assert_eq!(char_width('\u{9FFF}'), 2);
        assert_eq!(char_width('\u{A000}'), 2);
    }
}
