//! The spec file format (TOML or JSON, same shape) and its compilation into a [`Spec`].
//! The built-in specs are written in this format too, so a user's file can say anything a
//! built-in one can. See `crates/iso8583/specs/*.toml` and `docs/spec-format.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;
use crate::framing::{Framing, Layer};
use crate::limits::{FIELD_VALUE_UNITS_MAX, LAYOUT_ITEMS_MAX, SPEC_FILE_BYTES_MAX};
use crate::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    Toml,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `bcd`, `ascii` or `ebcdic`.
    pub mti: String,
    pub bitmap: BitmapFile,
    /// Outermost first: `length-binary-2`, `length-ascii-4`, `length-bcd-2`, `length-binary-4`,
    /// `tpdu`, `header-N` (N bytes, e.g. the 6-byte UnionPay header is `header-6`).
    #[serde(default)]
    pub framing: Vec<String>,
    #[serde(default)]
    pub defaults: DefaultsFile,
    pub fields: BTreeMap<String, FieldFile>,
    #[serde(default)]
    pub layouts: BTreeMap<String, LayoutFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitmapFile {
    /// `binary` or `hex`.
    pub encoding: String,
    /// 64, 128 or 192.
    pub fields_max: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsFile {
    /// Encoding of `n`, `z` and `x+n` fields.
    #[serde(default = "default_numeric")]
    pub numeric: String,
    /// Encoding of `a`, `an` and `ans` fields.
    #[serde(default = "default_text")]
    pub text: String,
    /// Encoding of `b` fields: `binary` or `hex`.
    #[serde(default = "default_binary")]
    pub binary: String,
    /// Length prefix encoding.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// What prefixes count: `units` (digits, characters or bytes of the value) or `bytes`.
    #[serde(default = "default_count")]
    pub count: String,
    /// Pad nibble for odd BCD values: `0` or `F`.
    #[serde(default = "default_pad")]
    pub pad: String,
}

impl Default for DefaultsFile {
    fn default() -> Self {
        DefaultsFile {
            numeric: default_numeric(),
            text: default_text(),
            binary: default_binary(),
            prefix: default_prefix(),
            count: default_count(),
            pad: default_pad(),
        }
    }
}

fn default_numeric() -> String {
    "ascii".into()
}
fn default_text() -> String {
    "ascii".into()
}
fn default_binary() -> String {
    "binary".into()
}
fn default_prefix() -> String {
    "ascii".into()
}
fn default_count() -> String {
    "units".into()
}
fn default_pad() -> String {
    "0".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    pub name: String,
    /// `n`, `a`, `an`, `ans`, `b`, `z`, `x+n`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Fixed length in value units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u16>,
    /// `L`, `LL`, `LLL`, `LLLL`, `LLLLL` or `LLLLLL`; needs `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// `left` or `right`, for odd-length BCD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<String>,
    /// `none`, `pan`, `track` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// `utf8` (the default) or `gbk`: how text is shown and written in JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    #[serde(default)]
    pub when: ConditionFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mti: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub length: Vec<usize>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<Vec<ItemFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlv: Option<Vec<TagFile>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFile {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub item_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u16>,
    /// Takes the rest of the parent value (bounded by `max`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rest: bool,
    /// The rest of the value repeats the named positional layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFile {
    pub tag: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

impl SpecFile {
    pub fn parse(text: &str, format: SpecFormat) -> Result<SpecFile> {
        if text.len() > SPEC_FILE_BYTES_MAX {
            return Err(Error::spec("file", "larger than SPEC_FILE_BYTES_MAX"));
        }
        match format {
            SpecFormat::Toml => toml::from_str(text).map_err(|e| Error::spec("TOML", e.message().to_owned())),
            SpecFormat::Json => serde_json::from_str(text).map_err(|e| Error::spec("JSON", e.to_string())),
        }
    }

    pub fn compile(&self) -> Result<Spec> {
        let mti = match self.mti.as_str() {
            "bcd" => MtiEncoding::Bcd,
            "ascii" => MtiEncoding::Ascii,
            "ebcdic" => MtiEncoding::Ebcdic,
            other => return Err(Error::spec("mti", format!("unknown MTI encoding {other:?}"))),
        };
        let bitmap = BitmapSpec {
            encoding: match self.bitmap.encoding.as_str() {
                "binary" => BitmapEncoding::Binary,
                "hex" => BitmapEncoding::Hex,
                other => {
                    return Err(Error::spec("bitmap", format!("unknown encoding {other:?}")));
                }
            },
            fields_max: match self.bitmap.fields_max {
                max @ (64 | 128 | 192) => max,
                other => {
                    return Err(Error::spec("bitmap", format!("fields_max {other} is not 64, 128 or 192")));
                }
            },
        };
        let layers = self.framing.iter().map(|layer| Layer::parse(layer)).collect::<Result<Vec<_>>>()?;
        let framing = Framing::new(layers)?;

        // Layouts first (by name), then fields that refer to them.
        let names: Vec<&String> = self.layouts.keys().collect();
        let layout_id = |name: &str, context: &str| -> Result<LayoutId> {
            names
                .iter()
                .position(|n| n.as_str() == name)
                .ok_or_else(|| Error::spec(context, format!("unknown layout {name:?}")))
        };
        let mut layouts = Vec::with_capacity(self.layouts.len());
        for (name, layout) in &self.layouts {
            layouts.push(compile_layout(name, layout, &layout_id)?);
        }
        check_repeat_groups(&layouts)?;

        let mut fields: Vec<Option<FieldSpec>> = vec![None; FIELD_NUMBER_MAX + 1];
        for (key, field) in &self.fields {
            let context = format!("field {key}");
            let number: usize = key.parse().map_err(|_| Error::spec(&context, "field key is not a number"))?;
            if !(2..=FIELD_NUMBER_MAX).contains(&number) || number == 65 {
                return Err(Error::spec(&context, "field number must be 2..=192 and not 65 (bitmaps)"));
            }
            if number > bitmap.fields_max as usize {
                return Err(Error::spec(&context, "field number beyond bitmap.fields_max"));
            }
            fields[number] = Some(compile_field(number as u8, field, &self.defaults, &context, &layout_id)?);
        }
        check_conditions(&fields)?;
        let header = (self.name.clone(), self.description.clone(), mti, bitmap, framing);
        Ok(Spec::new_unchecked(header, fields, layouts))
    }
}

fn compile_field(
    number: u8,
    file: &FieldFile,
    defaults: &DefaultsFile,
    context: &str,
    layout_id: &dyn Fn(&str, &str) -> Result<LayoutId>,
) -> Result<FieldSpec> {
    let field_type = parse_type(&file.field_type, context)?;
    let length = parse_length(file.len, file.var.as_deref(), file.max, context)?;
    let default_encoding = match field_type {
        FieldType::N | FieldType::Z | FieldType::Xn => &defaults.numeric,
        FieldType::A | FieldType::An | FieldType::Ans => &defaults.text,
        FieldType::B => &defaults.binary,
    };
    let encoding = parse_encoding(file.encoding.as_deref().unwrap_or(default_encoding), context)?;
    check_encoding(field_type, encoding, context)?;
    let prefix = match file.prefix.as_deref().unwrap_or(&defaults.prefix) {
        "bcd" => PrefixEncoding::Bcd,
        "ascii" => PrefixEncoding::Ascii,
        "ebcdic" => PrefixEncoding::Ebcdic,
        "binary" => PrefixEncoding::Binary,
        other => return Err(Error::spec(context, format!("unknown prefix encoding {other:?}"))),
    };
    let unit = match file.count.as_deref().unwrap_or(&defaults.count) {
        "units" | "digits" | "chars" => LengthUnit::Units,
        "bytes" => LengthUnit::Bytes,
        other => return Err(Error::spec(context, format!("unknown count {other:?}"))),
    };
    let align = match file.align.as_deref() {
        Some("left") => Align::Left,
        Some("right") => Align::Right,
        Some(other) => return Err(Error::spec(context, format!("unknown align {other:?}"))),
        // Fixed numbers are right-aligned (leading pad nibble); variable numbers and tracks
        // are left-aligned (trailing pad nibble), as the UnionPay POS spec and ISO practice do.
        None => match (field_type, length) {
            (FieldType::Z, _) | (FieldType::N, Length::Var { .. }) => Align::Left,
            _ => Align::Right,
        },
    };
    let pad_nibble = parse_pad(file.pad.as_deref().unwrap_or(&defaults.pad), context)?;
    if let Length::Var { prefix_digits, max } = length {
        check_prefix_capacity(prefix, prefix_digits, max, context)?;
    }
    if unit == LengthUnit::Bytes && encoding == Encoding::Bcd && field_type == FieldType::Xn {
        return Err(Error::spec(context, "x+n in BCD must count units"));
    }
    let mask = parse_mask(file.mask.as_deref(), context)?;
    let layout = file.layout.as_deref().map(|name| layout_id(name, context)).transpose()?;
    let mut variants = Vec::with_capacity(file.variants.len());
    for variant in &file.variants {
        variants.push(Variant {
            when: compile_condition(&variant.when, context)?,
            layout: variant.layout.as_deref().map(|name| layout_id(name, context)).transpose()?,
            mask: variant.mask.as_deref().map(|m| parse_mask(Some(m), context)).transpose()?,
        });
    }
    Ok(FieldSpec {
        number,
        name: file.name.clone(),
        field_type,
        length,
        encoding,
        prefix,
        unit,
        align,
        pad_nibble,
        mask,
        charset: parse_charset(file.charset.as_deref(), field_type, context)?,
        layout,
        variants,
    })
}

fn compile_condition(file: &ConditionFile, context: &str) -> Result<Condition> {
    let mut mti = Vec::with_capacity(file.mti.len());
    for text in &file.mti {
        let bytes: [u8; 4] = text
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 4]| b.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| Error::spec(context, format!("condition MTI {text:?} is not 4 digits")))?;
        mti.push(bytes);
    }
    let mut fields = Vec::with_capacity(file.fields.len());
    for (path, values) in &file.fields {
        let parsed = Path::parse(path).map_err(|e| Error::spec(context, e.to_string()))?;
        fields.push((parsed, values.clone()));
    }
    Ok(Condition { mti, length: file.length.clone(), fields })
}

fn compile_layout(name: &str, file: &LayoutFile, layout_id: &dyn Fn(&str, &str) -> Result<LayoutId>) -> Result<Layout> {
    let context = format!("layout {name}");
    let kind = match (&file.positional, &file.tlv) {
        (Some(items), None) => {
            if items.is_empty() || items.len() > LAYOUT_ITEMS_MAX {
                return Err(Error::spec(&context, "needs 1..=LAYOUT_ITEMS_MAX items"));
            }
            let mut compiled = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let is_last = index + 1 == items.len();
                compiled.push(compile_item(item, is_last, &context, layout_id)?);
            }
            for (index, item) in compiled.iter().enumerate() {
                if compiled[..index].iter().any(|other| other.id == item.id) {
                    return Err(Error::spec(&context, format!("duplicate item id {:?}", item.id)));
                }
            }
            LayoutKind::Positional(compiled)
        }
        (None, Some(tags)) => {
            let mut compiled = Vec::with_capacity(tags.len());
            for tag in tags {
                let valid = tag.tag.len() % 2 == 0
                    && (2..=6).contains(&tag.tag.len())
                    && tag.tag.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase());
                if !valid {
                    return Err(Error::spec(&context, format!("tag {:?} is not 1-3 bytes of uppercase hex", tag.tag)));
                }
                compiled.push(TagSpec {
                    tag: tag.tag.clone(),
                    name: tag.name.clone(),
                    mask: parse_mask(tag.mask.as_deref(), &context)?,
                });
            }
            LayoutKind::Tlv(compiled)
        }
        _ => return Err(Error::spec(&context, "give exactly one of `positional` or `tlv`")),
    };
    Ok(Layout { name: name.to_owned(), kind })
}

fn compile_item(
    file: &ItemFile,
    is_last: bool,
    context: &str,
    layout_id: &dyn Fn(&str, &str) -> Result<LayoutId>,
) -> Result<Item> {
    let item_context = format!("{context} item {}", file.id);
    if file.id.is_empty() || !file.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::spec(&item_context, "item id must be letters and digits"));
    }
    let item_type = parse_type(&file.item_type, &item_context)?;
    let length = match (file.len, file.var.as_deref(), file.rest, file.repeat.as_deref()) {
        (Some(len), None, false, None) if len > 0 => ItemLength::Fixed(len),
        (None, Some(var), false, None) => match parse_length(None, Some(var), file.max, &item_context)? {
            Length::Var { prefix_digits, max } => ItemLength::Var { prefix_digits, max },
            Length::Fixed(_) => unreachable!("parse_length with var gives Var"),
        },
        (None, None, true, None) => ItemLength::Rest { max: file.max.unwrap_or(FIELD_VALUE_UNITS_MAX as u16) },
        (None, None, false, Some(group)) => ItemLength::Repeat { group: layout_id(group, &item_context)? },
        _ => return Err(Error::spec(&item_context, "give exactly one of len (> 0), var, rest or repeat")),
    };
    let open_ended = matches!(length, ItemLength::Rest { .. } | ItemLength::Repeat { .. });
    if open_ended && !is_last {
        return Err(Error::spec(&item_context, "rest and repeat items must come last"));
    }
    Ok(Item {
        id: file.id.clone(),
        name: file.name.clone(),
        item_type,
        length,
        mask: parse_mask(file.mask.as_deref(), &item_context)?,
        charset: parse_charset(file.charset.as_deref(), item_type, &item_context)?,
    })
}

/// A repeated group must be positional with fixed-length items, so every occurrence has the
/// same size and no recursion is possible.
fn check_repeat_groups(layouts: &[Layout]) -> Result<()> {
    for layout in layouts {
        let LayoutKind::Positional(items) = &layout.kind else { continue };
        for item in items {
            let ItemLength::Repeat { group } = item.length else { continue };
            let valid = match &layouts[group].kind {
                LayoutKind::Positional(group_items) => {
                    group_items.iter().all(|i| matches!(i.length, ItemLength::Fixed(_)))
                }
                LayoutKind::Tlv(_) => false,
            };
            if !valid {
                let context = format!("layout {} item {}", layout.name, item.id);
                return Err(Error::spec(&context, "repeat needs a positional layout of fixed-length items"));
            }
        }
    }
    Ok(())
}

/// A condition may only look at another field that has no variants itself, so resolving a
/// layout never recurses.
fn check_conditions(fields: &[Option<FieldSpec>]) -> Result<()> {
    for field in fields.iter().flatten() {
        for variant in &field.variants {
            for (path, _) in &variant.when.fields {
                let context = format!("field {} variant condition on {path}", field.number);
                let target = fields.get(path.field as usize).and_then(Option::as_ref);
                match target {
                    None => return Err(Error::spec(&context, "names a field the spec does not define")),
                    Some(target) if target.number == field.number => {
                        return Err(Error::spec(&context, "a field's variant cannot depend on the field itself"));
                    }
                    Some(target) if !target.variants.is_empty() => {
                        return Err(Error::spec(&context, "names a field that has variants of its own"));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

fn parse_type(text: &str, context: &str) -> Result<FieldType> {
    Ok(match text {
        "n" => FieldType::N,
        "a" => FieldType::A,
        "an" => FieldType::An,
        "ans" | "anp" | "as" => FieldType::Ans,
        "b" => FieldType::B,
        "z" => FieldType::Z,
        "x+n" | "xn" => FieldType::Xn,
        other => return Err(Error::spec(context, format!("unknown type {other:?}"))),
    })
}

fn parse_length(len: Option<u16>, var: Option<&str>, max: Option<u16>, context: &str) -> Result<Length> {
    match (len, var, max) {
        (Some(len), None, None) => {
            if len == 0 || len as usize > FIELD_VALUE_UNITS_MAX {
                return Err(Error::spec(context, "len must be 1..=FIELD_VALUE_UNITS_MAX"));
            }
            Ok(Length::Fixed(len))
        }
        (None, Some(var), Some(max)) => {
            let prefix_digits = var.len();
            if !(1..=6).contains(&prefix_digits) || !var.bytes().all(|b| b == b'L') {
                return Err(Error::spec(context, format!("var {var:?} must be L to LLLLLL")));
            }
            if max == 0 || max as usize > FIELD_VALUE_UNITS_MAX {
                return Err(Error::spec(context, "max must be 1..=FIELD_VALUE_UNITS_MAX"));
            }
            Ok(Length::Var { prefix_digits: prefix_digits as u8, max })
        }
        _ => Err(Error::spec(context, "give either len, or var with max")),
    }
}

fn check_prefix_capacity(prefix: PrefixEncoding, digits: u8, max: u16, context: &str) -> Result<()> {
    let capacity: u64 = match prefix {
        PrefixEncoding::Binary => (1u64 << (8 * digits.div_ceil(2) as u64)) - 1,
        _ => 10u64.pow(digits as u32) - 1,
    };
    if max as u64 > capacity {
        return Err(Error::spec(context, format!("max {max} does not fit a {digits}-digit prefix")));
    }
    Ok(())
}

fn parse_encoding(text: &str, context: &str) -> Result<Encoding> {
    Ok(match text {
        "bcd" => Encoding::Bcd,
        "ascii" => Encoding::Ascii,
        "ebcdic" => Encoding::Ebcdic,
        "binary" => Encoding::Binary,
        "hex" => Encoding::Hex,
        other => return Err(Error::spec(context, format!("unknown encoding {other:?}"))),
    })
}

fn check_encoding(field_type: FieldType, encoding: Encoding, context: &str) -> Result<()> {
    let allowed = match field_type {
        FieldType::N | FieldType::Z | FieldType::Xn => {
            matches!(encoding, Encoding::Bcd | Encoding::Ascii | Encoding::Ebcdic)
        }
        FieldType::A | FieldType::An | FieldType::Ans => matches!(encoding, Encoding::Ascii | Encoding::Ebcdic),
        FieldType::B => matches!(encoding, Encoding::Binary | Encoding::Hex),
    };
    if !allowed {
        return Err(Error::spec(context, format!("type {} cannot use encoding {encoding:?}", field_type.as_str())));
    }
    Ok(())
}

fn parse_pad(text: &str, context: &str) -> Result<u8> {
    match text {
        "0" => Ok(0x0),
        "F" | "f" => Ok(0xF),
        other => Err(Error::spec(context, format!("pad {other:?} must be 0 or F"))),
    }
}

fn parse_charset(text: Option<&str>, field_type: FieldType, context: &str) -> Result<Charset> {
    let charset = match text {
        None | Some("utf8" | "utf-8" | "ascii") => Charset::Utf8,
        Some("gbk") => Charset::Gbk,
        Some(other) => return Err(Error::spec(context, format!("unknown charset {other:?} (utf8, gbk)"))),
    };
    if charset == Charset::Gbk && field_type != FieldType::Ans {
        return Err(Error::spec(context, "charset gbk is for ans text"));
    }
    Ok(charset)
}

fn parse_mask(text: Option<&str>, context: &str) -> Result<Mask> {
    Ok(match text {
        None | Some("none") => Mask::None,
        Some("pan") => Mask::Pan,
        Some("track") => Mask::Track,
        Some("all") => Mask::All,
        Some(other) => return Err(Error::spec(context, format!("unknown mask {other:?}"))),
    })
}
