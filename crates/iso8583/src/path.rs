//! Paths name a field or something inside it: `2`, `60.1`, `55.9F26`, `48.2.1.3` (item 2 of
//! field 48 is a repeated group; occurrence 1, its item 3).

use std::fmt;

use crate::error::{Error, Reason, Result};
use crate::limits::{FIELD_NUMBER_MAX, PATH_SEGMENTS_MAX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub field: u8,
    /// Subfield ids, TLV tags (uppercase hex) or 1-based occurrence numbers.
    pub segments: Vec<String>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path> {
        let bad = |why: &'static str| Error::path(text, Reason::NotAllowed(why));
        let mut parts = text.split('.');
        let head = parts.next().unwrap_or("");
        let field: usize = head
            .parse()
            .ok()
            .filter(|n| (2..=FIELD_NUMBER_MAX).contains(n))
            .ok_or_else(|| bad("path must start with a field number 2..=192"))?;
        let mut segments = Vec::new();
        for part in parts {
            if segments.len() == PATH_SEGMENTS_MAX {
                return Err(bad("path has too many segments"));
            }
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad("path segments are letters and digits separated by dots"));
            }
            segments.push(part.to_ascii_uppercase());
        }
        Ok(Path { field: field as u8, segments })
    }

    pub fn is_field(&self) -> bool {
        self.segments.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        for segment in &self.segments {
            write!(f, ".{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_subfields_and_tags() {
        assert_eq!(Path::parse("2").unwrap(), Path { field: 2, segments: vec![] });
        assert_eq!(Path::parse("60.1").unwrap().segments, vec!["1"]);
        assert_eq!(Path::parse("55.9f26").unwrap().segments, vec!["9F26"]);
        assert_eq!(Path::parse("48.2.1.3").unwrap().segments.len(), 3);
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["", "1", "0", "193", "x", "60.", "60..1", "60.1-2", "48.1.2.3.4.5"] {
            assert!(Path::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
