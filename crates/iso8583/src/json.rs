//! Messages as JSON, for tools and people at a shell:
//!
//! ```json
//! {"mti": "0200", "tpdu": "6000060000", "header": "603100311003",
//!  "fields": {"2": "6224242900000113", "55": {"9F26": "95BBE372271DDA7C"},
//!             "60": {"1": "22", "2": "000024", "3": "000"}}}
//! ```
//!
//! Values are strings: text as text, binary as uppercase hex. A field whose spec gives it a
//! layout becomes an object of subfields (repeated groups are arrays of objects; a TLV tag
//! that occurs more than once is an array of hex strings). A text value that is not UTF-8
//! (GBK, say) becomes `{"_hex": "..."}`. Rendering is masked unless asked not to; encoding
//! accepts exactly what unmasked rendering produces, so `from_json(to_json(m)) == m`.

use serde_json::{Map, Value};

use crate::charset;
use crate::error::{Error, Location, Reason, Result};
use crate::framing::{Envelope, Header, Tpdu};
use crate::hex;
use crate::layout::group_size;
use crate::mask::mask_text;
use crate::message::{Message, positional_parts};
use crate::mti::Mti;
use crate::spec::{Charset, ItemLength, LayoutId, LayoutKind, Mask, Spec};
use crate::tlv;
use std::sync::Arc;

/// Key for a value that is not valid UTF-8 text, given as hex.
pub const HEX_KEY: &str = "_hex";

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOptions {
    /// Show PANs, tracks, PIN blocks, keys and MACs in clear. Only for trusted test data.
    pub unmask: bool,
}

pub fn to_json(message: &Message, envelope: Option<&Envelope>, options: JsonOptions) -> Value {
    let mut object = Map::new();
    object.insert("mti".into(), Value::String(message.mti().to_string()));
    if let Some(envelope) = envelope {
        if let Some(tpdu) = envelope.tpdu {
            object.insert("tpdu".into(), Value::String(tpdu.to_string()));
        }
        if let Some(header) = envelope.header {
            object.insert("header".into(), Value::String(header.to_string()));
        }
    }
    let spec = Arc::clone(message.spec());
    let mut fields = Map::new();
    for (number, value) in message.fields() {
        let Some(field_spec) = spec.field(number as usize) else { continue };
        let resolved = message.resolve(number);
        let mask = if options.unmask { Mask::None } else { resolved.mask };
        let binary = field_spec.field_type.is_binary();
        let rendered = resolved
            .layout
            .and_then(|layout| layout_to_json(&spec, layout, value, binary, mask, options))
            .unwrap_or_else(|| {
                // Shown whole: hide it all if its layout could hold a secret.
                let hide = !options.unmask && resolved.layout.is_some_and(|layout| spec.layout_is_sensitive(layout));
                scalar(value, binary, field_spec.charset, if hide { Mask::All } else { mask })
            });
        fields.insert(number.to_string(), rendered);
    }
    object.insert("fields".into(), Value::Object(fields));
    Value::Object(object)
}

/// A value as a JSON string: hex for binary, text in its charset, else `{"_hex": ...}`.
fn scalar(value: &[u8], binary: bool, charset: Charset, mask: Mask) -> Value {
    if binary {
        return Value::String(mask_text(&hex::encode(value), mask));
    }
    match charset::to_text(value, charset) {
        Some(text) => Value::String(mask_text(&text, mask)),
        None => {
            let mut object = Map::new();
            object.insert(HEX_KEY.into(), Value::String(mask_text(&hex::encode(value), mask)));
            Value::Object(object)
        }
    }
}

/// An object for a value with a layout, or `None` when the value does not fit the layout or
/// would not rebuild to the same bytes (then the caller shows it whole).
fn layout_to_json(
    spec: &Spec,
    layout: LayoutId,
    value: &[u8],
    binary: bool,
    mask: Mask,
    options: JsonOptions,
) -> Option<Value> {
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(tags) => {
            let mut object = Map::new();
            let mut rebuilt = Vec::with_capacity(value.len());
            for element in tlv::elements(value) {
                let element = element.ok()?;
                tlv::write_element(element.tag, element.value, &mut rebuilt);
                let tag = element.tag_hex();
                let tag_mask = if options.unmask {
                    Mask::None
                } else {
                    tags.iter()
                        .find(|t| t.tag == tag)
                        .map(|t| t.mask)
                        .or_else(|| crate::emv::describe(&tag).map(|d| d.1))
                        .map_or(mask, |m| if mask == Mask::All { Mask::All } else { m })
                };
                let text = Value::String(mask_text(&hex::encode(element.value), tag_mask));
                match object.get_mut(&tag) {
                    Some(Value::Array(values)) => values.push(text),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, text]);
                    }
                    None => {
                        object.insert(tag, text);
                    }
                }
            }
            // Non-minimal length encodings, and a repeated tag with others in between (JSON
            // groups repeats into one array), would not survive the trip; show those whole.
            let mut json_order = Vec::with_capacity(value.len());
            for (tag, values) in &object {
                let tag_bytes = hex::decode(tag).ok()?;
                for element in tlv::elements(value).flatten().filter(|e| e.tag == tag_bytes.as_slice()) {
                    tlv::write_element(element.tag, element.value, &mut json_order);
                }
                debug_assert!(values.is_string() || values.is_array());
            }
            (rebuilt == value && json_order == value).then_some(Value::Object(object))
        }
        LayoutKind::Positional(items) => {
            let parts = positional_parts(spec, layout, value, binary)?;
            let mut object = Map::new();
            for part in parts {
                let item = &items[part.item];
                let item_value = &value[part.start..part.end];
                let item_mask = if options.unmask {
                    Mask::None
                } else if mask == Mask::All {
                    Mask::All
                } else {
                    item.mask
                };
                let rendered = match item.length {
                    ItemLength::Repeat { group } => {
                        let size = group_size(spec, group);
                        let mut records = Vec::new();
                        for record in item_value.chunks_exact(size.max(1)) {
                            records.push(layout_to_json(spec, group, record, binary, mask, options)?);
                        }
                        Value::Array(records)
                    }
                    _ => scalar(item_value, binary, item.charset, item_mask),
                };
                object.insert(item.id.clone(), rendered);
            }
            Some(Value::Object(object))
        }
    }
}

/// The envelope and message described by `json` (as produced by [`to_json`] unmasked).
pub fn from_json(spec: &Arc<Spec>, json: &Value) -> Result<(Envelope, Message)> {
    let object = json.as_object().ok_or_else(|| invalid(Location::Message, "the JSON must be an object"))?;
    for key in object.keys() {
        if !matches!(key.as_str(), "mti" | "tpdu" | "header" | "fields") {
            return Err(invalid(Location::Message, format!("unknown key {key:?} (mti, tpdu, header, fields)")));
        }
    }
    let mti_text =
        object.get("mti").and_then(Value::as_str).ok_or_else(|| invalid(Location::Mti, "\"mti\" must be a string"))?;
    let mut message = Message::new(Arc::clone(spec), Mti::parse(mti_text)?);
    let mut envelope = Envelope::default();
    if let Some(tpdu) = object.get("tpdu") {
        envelope.tpdu = Some(Tpdu::from_hex(
            tpdu.as_str().ok_or_else(|| invalid(Location::Frame("TPDU"), "must be a hex string"))?,
        )?);
    }
    if let Some(header) = object.get("header") {
        envelope.header = Some(Header::from_hex(
            header.as_str().ok_or_else(|| invalid(Location::Frame("header"), "must be a hex string"))?,
        )?);
    }
    let empty = Map::new();
    let fields = match object.get("fields") {
        Some(Value::Object(fields)) => fields,
        None => &empty,
        Some(_) => return Err(invalid(Location::Message, "\"fields\" must be an object")),
    };
    // Conditions on variants may look at other fields (and at the MTI), so set plain values
    // first, then fields given as objects.
    let mut deferred = Vec::new();
    for (key, value) in fields {
        let number: u8 =
            key.parse().ok().filter(|n| spec.field(*n as usize).is_some()).ok_or_else(|| {
                invalid(Location::Message, format!("field {key:?} is not defined by spec {}", spec.name))
            })?;
        match value {
            Value::Object(map) if !map.contains_key(HEX_KEY) => deferred.push((number, map)),
            _ => {
                let field_spec = spec.field(number as usize);
                let binary = field_spec.is_some_and(|f| f.field_type.is_binary());
                let charset = field_spec.map_or(Charset::Utf8, |f| f.charset);
                let bytes =
                    scalar_from_json(value, binary, charset).map_err(|why| invalid(Location::Field(number), why))?;
                message.set(number, &bytes)?;
            }
        }
    }
    // Fields whose layout depends on other fields (variants) go last.
    deferred.sort_by_key(|(number, _)| spec.field(*number as usize).is_some_and(|f| !f.variants.is_empty()));
    for (number, map) in deferred {
        let binary = spec.field(number as usize).is_some_and(|f| f.field_type.is_binary());
        // Resolve with a placeholder so length-based variants (field 62 keys) can match: try
        // every layout the field may take, first the one the message resolves to.
        let bytes = build_from_object(spec, &message, number, map, binary)?;
        message.set(number, &bytes)?;
    }
    message.validate()?;
    Ok((envelope, message))
}

fn invalid(location: Location, why: impl Into<String>) -> Error {
    Error::new(location, None, Reason::Invalid(why.into()))
}

fn scalar_from_json(value: &Value, binary: bool, charset: Charset) -> std::result::Result<Vec<u8>, String> {
    match value {
        Value::String(text) if binary => hex::decode(text).map_err(|e| format!("binary values are hex: {e}")),
        Value::String(text) => charset::from_text(text, charset),
        Value::Object(map) => match map.get(HEX_KEY).and_then(Value::as_str) {
            Some(text) if map.len() == 1 => hex::decode(text).map_err(|e| format!("{HEX_KEY}: {e}")),
            _ => Err("expected a string".into()),
        },
        _ => Err("expected a string".into()),
    }
}

/// Build a field value from its subfield object. The layout is the one the message resolves
/// to; for length-selected variants (not known until the value exists) every candidate layout
/// is tried and the first whose variant then resolves back to it wins.
fn build_from_object(
    spec: &Arc<Spec>,
    message: &Message,
    number: u8,
    map: &Map<String, Value>,
    binary: bool,
) -> Result<Vec<u8>> {
    let location = Location::Field(number);
    let field_spec = spec.field(number as usize).ok_or_else(|| invalid(location.clone(), "not in the spec"))?;
    let mut candidates: Vec<LayoutId> = message.resolve(number).layout.into_iter().collect();
    candidates.extend(field_spec.variants.iter().filter_map(|v| v.layout));
    candidates.extend(field_spec.layout);
    let mut last_error =
        invalid(location.clone(), "the spec gives this field no subfield layout; give the value as a string");
    for layout in candidates {
        match layout_from_json(spec, layout, map, binary) {
            Ok(bytes) => {
                let mut probe = message.clone();
                if probe.set(number, &bytes).is_ok() && probe.resolve(number).layout == Some(layout) {
                    return Ok(bytes);
                }
            }
            Err(why) => last_error = invalid(location.clone(), why),
        }
    }
    Err(last_error)
}

fn layout_from_json(
    spec: &Spec,
    layout: LayoutId,
    map: &Map<String, Value>,
    binary: bool,
) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(_) => {
            for (tag, value) in map {
                let tag_bytes = tlv::parse_tag(tag).map_err(|reason| format!("tag {tag}: {reason}"))?;
                let values: Vec<&Value> = match value {
                    Value::Array(values) => values.iter().collect(),
                    other => vec![other],
                };
                for value in values {
                    let text = value.as_str().ok_or_else(|| format!("tag {tag}: expected a hex string"))?;
                    let bytes = hex::decode(text).map_err(|e| format!("tag {tag}: {e}"))?;
                    tlv::write_element(&tag_bytes, &bytes, &mut out);
                }
            }
        }
        LayoutKind::Positional(items) => {
            for key in map.keys() {
                if !items.iter().any(|item| item.id == *key) {
                    return Err(format!("no subfield {key:?} in layout {}", spec.layout(layout).name));
                }
            }
            let mut ended = false;
            for item in items {
                let Some(value) = map.get(&item.id) else {
                    ended = true;
                    continue;
                };
                if ended {
                    return Err(format!("subfield {} given but an earlier one is missing", item.id));
                }
                match (item.length, value) {
                    (ItemLength::Repeat { group }, Value::Array(records)) => {
                        for record in records {
                            let record = record
                                .as_object()
                                .ok_or_else(|| format!("subfield {}: records are objects", item.id))?;
                            out.extend(layout_from_json(spec, group, record, binary)?);
                        }
                    }
                    (ItemLength::Repeat { .. }, _) => {
                        return Err(format!("subfield {}: expected an array of records", item.id));
                    }
                    _ => {
                        let bytes = scalar_from_json(value, binary, item.charset)
                            .map_err(|why| format!("subfield {}: {why}", item.id))?;
                        crate::layout::write_item(item, &bytes, binary, &mut out)
                            .map_err(|reason| format!("subfield {}: {reason}", item.id))?;
                    }
                }
            }
        }
    }
    Ok(out)
}
