//! The built-in specs, written in the same TOML format users load their own specs from.

use std::sync::{Arc, LazyLock};

use crate::error::{Error, Result};
use crate::spec::{Spec, SpecFormat};

/// (name, TOML text) of every built-in spec.
pub const SOURCES: [(&str, &str); 3] = [
    ("cup-pos", include_str!("../specs/cup-pos.toml")),
    ("iso87-ascii", include_str!("../specs/iso87-ascii.toml")),
    ("network", include_str!("../specs/network.toml")),
];

fn compile(name: &str) -> Arc<Spec> {
    let text = SOURCES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text).unwrap_or_default();
    match Spec::from_str(text, SpecFormat::Toml) {
        Ok(spec) => Arc::new(spec),
        // The built-in files are compiled by the tests; a broken one is a build defect.
        Err(error) => unreachable!("built-in spec {name} does not compile: {error}"),
    }
}

static CUP_POS: LazyLock<Arc<Spec>> = LazyLock::new(|| compile("cup-pos"));
static ISO87_ASCII: LazyLock<Arc<Spec>> = LazyLock::new(|| compile("iso87-ascii"));
static NETWORK: LazyLock<Arc<Spec>> = LazyLock::new(|| compile("network"));

/// The UnionPay POS terminal interface.
pub fn cup_pos() -> Arc<Spec> {
    Arc::clone(&CUP_POS)
}

/// Plain ISO 8583:1987 in ASCII.
pub fn iso87_ascii() -> Arc<Spec> {
    Arc::clone(&ISO87_ASCII)
}

/// The dialect between cardnet's acquirer, switch and issuer (`docs/network-spec.md`).
pub fn network() -> Arc<Spec> {
    Arc::clone(&NETWORK)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(name, _)| *name)
}

/// A built-in spec by name.
pub fn by_name(name: &str) -> Result<Arc<Spec>> {
    match name {
        "cup-pos" => Ok(cup_pos()),
        "iso87-ascii" => Ok(iso87_ascii()),
        "network" => Ok(network()),
        other => Err(Error::spec(other, "no built-in spec of that name (cup-pos, iso87-ascii, network)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles() {
        for (name, text) in SOURCES {
            let spec = Spec::from_str(text, SpecFormat::Toml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.name, name);
            assert!(spec.fields().count() > 20);
        }
    }
}
