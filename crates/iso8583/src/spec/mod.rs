//! A spec is data: how the MTI, bitmap and each field are laid out on the wire, which subfield
//! layouts apply, and what a dump must mask. Specs are written in TOML or JSON (`file.rs`) and
//! compiled once into this form, which the codec reads on its hot path.
//!
//! Value units: a field's *value* is what the API hands out. For `n`, `z`, `a`, `an`, `ans`
//! and `x+n` it is the text (ASCII digits for BCD fields, track data with `D` or `=` as the
//! separator); for `b` it is the raw bytes. Lengths in a spec (`len`, `max`) count value units:
//! digits, characters or bytes.

mod file;

pub use file::{SpecFile, SpecFormat};

use crate::error::{Error, Result};
use crate::framing::Framing;
use crate::limits::FIELD_NUMBER_MAX;
use crate::path::Path;

/// ISO 8583 data element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `n`: decimal digits.
    N,
    /// `a`: letters (and space).
    A,
    /// `an`: letters, digits and space.
    An,
    /// `ans`: printable characters; bytes above 0x7F are allowed for national text (GBK).
    Ans,
    /// `b`: binary.
    B,
    /// `z`: track data, digits plus separators (`D`/`=`) and, when encrypted, hex nibbles.
    Z,
    /// `x+n`: a `C`/`D` sign followed by digits.
    Xn,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::N => "n",
            FieldType::A => "a",
            FieldType::An => "an",
            FieldType::Ans => "ans",
            FieldType::B => "b",
            FieldType::Z => "z",
            FieldType::Xn => "x+n",
        }
    }

    pub fn is_binary(self) -> bool {
        self == FieldType::B
    }
}

/// How a field's value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Packed BCD, two digits a byte (for `x+n` the sign is one ASCII byte before the digits).
    Bcd,
    Ascii,
    /// EBCDIC (code page 037) text.
    Ebcdic,
    /// Raw bytes (`b` only).
    Binary,
    /// Binary value written as uppercase ASCII hex (`b` only), two characters a byte.
    Hex,
}

/// How a length prefix is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixEncoding {
    /// Right-aligned BCD in `ceil(digits / 2)` bytes: LLL `139` is `01 39`.
    Bcd,
    Ascii,
    Ebcdic,
    /// Big-endian unsigned integer in `ceil(digits / 2)` bytes.
    Binary,
}

/// What a length prefix counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    /// Value units: digits for `n`/`z`, characters for text, bytes for `b`.
    Units,
    /// Bytes on the wire (for BCD every byte holds two digits, so the value has an even count).
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Fixed(u16),
    /// `prefix_digits` is 1 to 6 (L, LL, LLL, LLLL, ...); `max` is in value units.
    Var {
        prefix_digits: u8,
        max: u16,
    },
}

impl Length {
    pub fn max(self) -> usize {
        match self {
            Length::Fixed(len) => len as usize,
            Length::Var { max, .. } => max as usize,
        }
    }
}

/// Where an odd number of BCD digits sits: `Right` puts the pad nibble first (`123` is
/// `01 23`), `Left` puts it last (`123` is `12 30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// How a human-facing dump shows a value unless the caller asks to unmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mask {
    #[default]
    None,
    /// First 6 and last 4 digits visible.
    Pan,
    /// PAN part as `Pan`, everything after the separator hidden.
    Track,
    /// Everything hidden.
    All,
}

/// How the text of an `a`/`an`/`ans` value is shown to people and written in JSON. The wire
/// bytes are the same either way; this is only how they are read as characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    /// ASCII, or UTF-8 where bytes above 0x7F appear.
    #[default]
    Utf8,
    /// GBK, the Chinese national charset UnionPay terminals print (field 63 texts).
    Gbk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtiEncoding {
    Bcd,
    Ascii,
    Ebcdic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapEncoding {
    /// 8 bytes a bitmap.
    Binary,
    /// 16 uppercase ASCII hex characters a bitmap.
    Hex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitmapSpec {
    pub encoding: BitmapEncoding,
    /// 64 (primary only), 128 (secondary) or 192 (tertiary, announced by bit 65).
    pub fields_max: u8,
}

#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub number: u8,
    pub name: String,
    pub field_type: FieldType,
    pub length: Length,
    pub encoding: Encoding,
    pub prefix: PrefixEncoding,
    pub unit: LengthUnit,
    pub align: Align,
    /// The nibble that fills an odd BCD value (0x0 or 0xF).
    pub pad_nibble: u8,
    pub mask: Mask,
    pub charset: Charset,
    /// The layout used when no variant matches.
    pub layout: Option<LayoutId>,
    /// Message-dependent layouts and masks, first match wins (e.g. field 62 on an 0810).
    pub variants: Vec<Variant>,
}

/// Index of a layout in `Spec::layouts`.
pub type LayoutId = usize;

#[derive(Debug, Clone)]
pub struct Variant {
    pub when: Condition,
    pub layout: Option<LayoutId>,
    pub mask: Option<Mask>,
}

/// All given parts must hold; an empty condition always holds.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub mti: Vec<[u8; 4]>,
    /// Value length in value units.
    pub length: Vec<usize>,
    /// Another field or subfield must have one of these values.
    pub fields: Vec<(Path, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    pub kind: LayoutKind,
}

#[derive(Debug, Clone)]
pub enum LayoutKind {
    /// Items follow one another in the parent's value; the value may end at any item boundary.
    Positional(Vec<Item>),
    /// BER-TLV elements (EMV field 55); tags not named here are kept and shown as they are.
    Tlv(Vec<TagSpec>),
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub item_type: FieldType,
    pub length: ItemLength,
    pub mask: Mask,
    pub charset: Charset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemLength {
    Fixed(u16),
    /// Preceded by `prefix_digits` ASCII digits inside the parent's (text) value.
    Var {
        prefix_digits: u8,
        max: u16,
    },
    /// Everything to the end of the parent value.
    Rest {
        max: u16,
    },
    /// The rest of the value is this group repeated, each occurrence `group` long in total.
    Repeat {
        group: LayoutId,
    },
}

#[derive(Debug, Clone)]
pub struct TagSpec {
    pub tag: String,
    pub name: String,
    pub mask: Mask,
}

/// A compiled spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub mti: MtiEncoding,
    pub bitmap: BitmapSpec,
    pub framing: Framing,
    /// Indexed by field number; 0, 1 and 65 are never fields (MTI and bitmaps).
    fields: Vec<Option<FieldSpec>>,
    pub layouts: Vec<Layout>,
}

impl Spec {
    pub fn field(&self, number: usize) -> Option<&FieldSpec> {
        self.fields.get(number).and_then(Option::as_ref)
    }

    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().flatten()
    }

    pub fn layout(&self, id: LayoutId) -> &Layout {
        &self.layouts[id]
    }

    /// Whether a layout can hold something a dump must hide: a TLV (tags 5A, 57, ...) or a
    /// positional layout with a masked item. A value that does not fit such a layout is
    /// hidden whole rather than shown unparsed.
    pub fn layout_is_sensitive(&self, id: LayoutId) -> bool {
        match &self.layout(id).kind {
            LayoutKind::Tlv(_) => true,
            LayoutKind::Positional(items) => items.iter().any(|item| {
                item.mask != Mask::None
                    || matches!(item.length, ItemLength::Repeat { group } if self.layout_is_sensitive(group))
            }),
        }
    }

    pub fn layout_by_name(&self, name: &str) -> Option<LayoutId> {
        self.layouts.iter().position(|layout| layout.name == name)
    }

    /// Parse a spec from TOML or JSON text and compile it.
    pub fn from_str(text: &str, format: SpecFormat) -> Result<Spec> {
        SpecFile::parse(text, format)?.compile()
    }

    /// Load a spec file, choosing TOML or JSON by its extension.
    pub fn from_path(path: &std::path::Path) -> Result<Spec> {
        let what = path.display().to_string();
        let metadata = std::fs::metadata(path).map_err(|e| Error::spec(&what, e.to_string()))?;
        if metadata.len() > crate::limits::SPEC_FILE_BYTES_MAX as u64 {
            return Err(Error::spec(&what, "file larger than SPEC_FILE_BYTES_MAX"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::spec(&what, e.to_string()))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => SpecFormat::Json,
            _ => SpecFormat::Toml,
        };
        Spec::from_str(&text, format)
    }

    pub(crate) fn new_unchecked(
        header: (String, String, MtiEncoding, BitmapSpec, Framing),
        fields: Vec<Option<FieldSpec>>,
        layouts: Vec<Layout>,
    ) -> Spec {
        assert_eq!(fields.len(), FIELD_NUMBER_MAX + 1);
        let (name, description, mti, bitmap, framing) = header;
        Spec { name, description, mti, bitmap, framing, fields, layouts }
    }
}
