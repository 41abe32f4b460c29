//! Passwords (argon2id), session and CSRF tokens (32 random bytes each), and the digest a
//! session token is stored under.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use blake2::{Blake2b512, Digest};
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;
use crate::limits::{PASSWORD_BYTES_MAX, PASSWORD_CHARS_MIN, USER_NAME_CHARS_MAX};

/// Random bytes in a session or CSRF token.
pub const TOKEN_BYTES: usize = 32;

/// The argon2id cost of new hashes: memory in KiB, passes, lanes. The production default is
/// OWASP's first recommendation (19 MiB, 2 passes, 1 lane); tests pass a cheap one. Hashes
/// carry their own parameters, so verifying works whatever the current cost.
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl HashCost {
    pub const DEFAULT: HashCost = HashCost { memory_kib: 19 * 1_024, passes: 2, lanes: 1 };
    /// Only for tests: fast, and still a real argon2id hash.
    pub const TEST: HashCost = HashCost { memory_kib: 64, passes: 1, lanes: 1 };

    fn hasher(self) -> Result<Argon2<'static>, ConsoleError> {
        let params = Params::new(self.memory_kib, self.passes, self.lanes, None)
            .map_err(|e| ConsoleError::BadInput(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// `count` random bytes from the OS generator, as lowercase hex.
pub fn random_hex(count: usize) -> Result<String, ConsoleError> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).map_err(|e| ConsoleError::Failure(format!("the OS random generator: {e}")))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a session token is stored under: its BLAKE2b-512 digest, hex.
pub fn token_digest(token: &str) -> String {
    hex(&Blake2b512::digest(token.as_bytes()))
}

/// Equal without a timing difference on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The PHC string of `password` under a fresh salt.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, ConsoleError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ConsoleError::Failure(format!("the OS random generator: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ConsoleError::Failure(format!("password salt: {e}")))?;
    let hash = cost
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ConsoleError::Failure(format!("password hash: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string (false for a malformed one).
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A password a person can use: long enough, not too long to hash.
pub fn check_password(password: &str) -> Result<(), ConsoleError> {
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(ConsoleError::BadInput(format!("the password must have at least {PASSWORD_CHARS_MIN} characters")));
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(ConsoleError::BadInput(format!("the password must have at most {PASSWORD_BYTES_MAX} bytes")));
    }
    Ok(())
}

/// A user name: 1 to [`USER_NAME_CHARS_MAX`] letters, digits, `.`, `_`, `-`, `@`.
pub fn check_user_name(name: &str) -> Result<(), ConsoleError> {
    let ok = !name.is_empty()
        && name.chars().count() <= USER_NAME_CHARS_MAX
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ConsoleError::BadInput(format!(
            "a user name has 1 to {USER_NAME_CHARS_MAX} letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// A generated password: 24 random bytes as hex (48 characters).
pub fn generate_password() -> Result<String, ConsoleError> {
    random_hex(24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery", HashCost::TEST).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterx", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn short_passwords_and_odd_names_are_refused() {
        assert!(hash_password("short", HashCost::TEST).unwrap_err().is_bad_input());
        assert!(check_user_name("ops<1>").is_err());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("ops.admin@bank").is_ok());
    }

    #[test]
    fn tokens_are_random_and_digests_differ_from_them() {
        let (a, b) = (random_hex(TOKEN_BYTES).unwrap(), random_hex(TOKEN_BYTES).unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(token_digest(&a), a);
        assert!(same_token(&a, &a.clone()) && !same_token(&a, &b) && !same_token(&a, "x"));
    }
}
