//! Clear secrets: key bytes and PIN digits. Zeroized on drop, never shown by `Debug`, no
//! `Display`. Only this crate creates them from clear material it derived or was handed.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Clear key bytes (or a clear PIN's digits). `expose` is the only way to read them.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    pub fn from_vec(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// Fresh random bytes from the operating system's generator.
    pub fn random(len: usize) -> crate::Result<Secret> {
        let mut bytes = vec![0u8; len];
        crate::entropy::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = Secret::new(&[0xAB, 0xCD, 0xEF]);
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret(<3 bytes redacted>)");
        assert!(!shown.contains("AB") && !shown.contains("171"));
    }

    #[test]
    fn zeroize_clears_the_bytes() {
        let mut secret = Secret::new(&[1, 2, 3, 4]);
        secret.zeroize();
        assert!(secret.expose().iter().all(|&b| b == 0) || secret.is_empty());
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(Secret::random(16).unwrap(), Secret::random(16).unwrap());
    }
}
