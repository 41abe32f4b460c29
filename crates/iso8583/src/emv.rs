//! Names and masks of common EMV tags, used by dumps when a spec's TLV layout says nothing
//! about a tag. Tags not listed are shown by number, unmasked.

use crate::spec::Mask;

/// (tag, name, mask), sorted by tag.
const TAGS: &[(&str, &str, Mask)] = &[
    ("4F", "Application identifier (AID)", Mask::None),
    ("50", "Application label", Mask::None),
    ("56", "Track 1 data", Mask::All),
    ("57", "Track 2 equivalent data", Mask::Track),
    ("5A", "Application PAN", Mask::Pan),
    ("5F20", "Cardholder name", Mask::All),
    ("5F24", "Application expiration date", Mask::All),
    ("5F25", "Application effective date", Mask::None),
    ("5F28", "Issuer country code", Mask::None),
    ("5F2A", "Transaction currency code", Mask::None),
    ("5F34", "PAN sequence number", Mask::None),
    ("71", "Issuer script template 1", Mask::None),
    ("72", "Issuer script template 2", Mask::None),
    ("82", "Application interchange profile", Mask::None),
    ("84", "Dedicated file name", Mask::None),
    ("86", "Issuer script command", Mask::None),
    ("8A", "Authorization response code", Mask::None),
    ("91", "Issuer authentication data", Mask::None),
    ("95", "Terminal verification results", Mask::None),
    ("99", "Transaction PIN data", Mask::All),
    ("9A", "Transaction date", Mask::None),
    ("9B", "Transaction status information", Mask::None),
    ("9C", "Transaction type", Mask::None),
    ("9F02", "Amount, authorised", Mask::None),
    ("9F03", "Amount, other", Mask::None),
    ("9F06", "Application identifier (terminal)", Mask::None),
    ("9F09", "Application version number (terminal)", Mask::None),
    ("9F0B", "Cardholder name extended", Mask::All),
    ("9F10", "Issuer application data", Mask::None),
    ("9F18", "Issuer script identifier", Mask::None),
    ("9F1A", "Terminal country code", Mask::None),
    ("9F1E", "Interface device serial number", Mask::None),
    ("9F1F", "Track 1 discretionary data", Mask::All),
    ("9F20", "Track 2 discretionary data", Mask::All),
    ("9F21", "Transaction time", Mask::None),
    ("9F26", "Application cryptogram", Mask::None),
    ("9F27", "Cryptogram information data", Mask::None),
    ("9F33", "Terminal capabilities", Mask::None),
    ("9F34", "Cardholder verification method results", Mask::None),
    ("9F35", "Terminal type", Mask::None),
    ("9F36", "Application transaction counter", Mask::None),
    ("9F37", "Unpredictable number", Mask::None),
    ("9F41", "Transaction sequence counter", Mask::None),
    ("9F53", "Transaction category code", Mask::None),
    ("9F5B", "Issuer script results", Mask::None),
    ("9F63", "Card product identification", Mask::None),
    ("9F6B", "Track 2 data (contactless)", Mask::Track),
    ("9F6E", "Form factor indicator", Mask::None),
    ("9F74", "EC issuer authorization code", Mask::None),
    ("DF31", "Issuer script results (UnionPay)", Mask::None),
];

/// Name and mask of a tag given as uppercase hex.
pub fn describe(tag: &str) -> Option<(&'static str, Mask)> {
    TAGS.binary_search_by(|(t, _, _)| t.cmp(&tag)).ok().map(|index| (TAGS[index].1, TAGS[index].2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_found() {
        assert!(TAGS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(describe("9F26").map(|d| d.0), Some("Application cryptogram"));
        assert_eq!(describe("5A").map(|d| d.1), Some(Mask::Pan));
        assert_eq!(describe("DF7F"), None);
    }
}
