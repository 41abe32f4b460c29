//! A message: MTI plus field values, tied to the spec that gives them meaning.
//!
//! Values live in one arena (`data`) with a sorted index (`entries`), so decoding a message
//! costs two allocations however many fields it has. Replacing a value appends the new bytes;
//! the arena is compacted when more than half of it is dead.

use std::sync::Arc;

use crate::error::{Error, Location, Reason, Result};
use crate::field;
use crate::layout::{self, Part};
use crate::limits::{FIELD_NUMBER_MAX, MESSAGE_BYTES_MAX};
use crate::mti::Mti;
use crate::path::Path;
use crate::spec::{Condition, FieldSpec, FieldType, ItemLength, Layout, LayoutId, LayoutKind, Length, Mask, Spec};
use crate::tlv;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub field: u8,
    pub start: u32,
    pub len: u32,
}

#[derive(Clone)]
pub struct Message {
    spec: Arc<Spec>,
    mti: Mti,
    pub(crate) entries: Vec<Entry>,
    pub(crate) data: Vec<u8>,
    garbage: usize,
}

impl std::fmt::Debug for Message {
    /// Masked, like every human-facing view of a message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::dump::dump(self, &crate::dump::DumpOptions::default()))
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.mti == other.mti && self.fields().eq(other.fields())
    }
}

/// The layout and mask that apply to a field in this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub layout: Option<LayoutId>,
    pub mask: Mask,
}

impl Message {
    pub fn new(spec: Arc<Spec>, mti: Mti) -> Message {
        Message::with_capacity(spec, mti, 256)
    }

    /// A message with room for `data_bytes` of values, so filling it does not reallocate.
    pub fn with_capacity(spec: Arc<Spec>, mti: Mti, data_bytes: usize) -> Message {
        let data_bytes = data_bytes.min(2 * MESSAGE_BYTES_MAX);
        Message { spec, mti, entries: Vec::with_capacity(32), data: Vec::with_capacity(data_bytes), garbage: 0 }
    }

    /// Reset to an empty message of `mti`, keeping the buffers (for decode-into loops).
    pub(crate) fn clear(&mut self, mti: Mti) {
        self.mti = mti;
        self.entries.clear();
        self.data.clear();
        self.garbage = 0;
    }

    pub fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }

    pub fn mti(&self) -> Mti {
        self.mti
    }

    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    fn index(&self, field: u8) -> std::result::Result<usize, usize> {
        self.entries.binary_search_by_key(&field, |entry| entry.field)
    }

    pub fn has(&self, field: u8) -> bool {
        self.index(field).is_ok()
    }

    /// The value of a field in value units (text for `n`/`an`/..., bytes for `b`).
    pub fn get(&self, field: u8) -> Option<&[u8]> {
        let entry = self.entries[self.index(field).ok()?];
        Some(&self.data[entry.start as usize..(entry.start + entry.len) as usize])
    }

    /// A text field's value as `&str`; `None` if absent or not UTF-8 (e.g. GBK text).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        std::str::from_utf8(self.get(field)?).ok()
    }

    /// A numeric field as a number; `None` if absent, not all digits, or too large.
    pub fn get_u64(&self, field: u8) -> Option<u64> {
        parse_u64(self.get(field)?)
    }

    /// Fields present, in number order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.entries
            .iter()
            .map(|entry| (entry.field, &self.data[entry.start as usize..(entry.start + entry.len) as usize]))
    }

    pub fn field_numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.entries.iter().map(|entry| entry.field)
    }

    fn field_spec(&self, field: u8) -> Result<&FieldSpec> {
        self.spec.field(field as usize).ok_or_else(|| Error::field(field, Reason::UndefinedField))
    }

    /// Set a field, checking the value against the spec (length, characters).
    /// Set a field, checking the value against the spec: length, characters, and the field's
    /// layout when it has one that does not depend on the rest of the message (a layout
    /// chosen by a variant is checked by [`Message::validate`]).
    pub fn set(&mut self, field: u8, value: &[u8]) -> Result<()> {
        let spec = self.field_spec(field)?;
        field::check_value(spec, value)?;
        if let (Some(layout), true) = (spec.layout, spec.variants.is_empty()) {
            check_layout(&self.spec, layout, value, spec.field_type.is_binary()).map_err(
                |(offset, reason, item)| {
                    let location = item.map_or(Location::Field(field), |id| Location::Subfield(field, id));
                    Error::new(location, Some(offset), reason)
                },
            )?;
        }
        if spec.field_type == FieldType::Z && spec.encoding == crate::spec::Encoding::Bcd && value.contains(&b'=') {
            // In BCD the separator is the nibble D and decodes as `D`; store it that way so the
            // message equals its own decode.
            let normalized: Vec<u8> = value.iter().map(|&b| if b == b'=' { b'D' } else { b }).collect();
            self.put(field, &normalized);
            return Ok(());
        }
        self.put(field, value);
        Ok(())
    }

    pub fn set_str(&mut self, field: u8, value: &str) -> Result<()> {
        self.set(field, value.as_bytes())
    }

    /// Set a numeric field from a number, zero-filled to the field's fixed length.
    pub fn set_u64(&mut self, field: u8, value: u64) -> Result<()> {
        let spec = self.field_spec(field)?;
        if spec.field_type != FieldType::N {
            return Err(Error::field(field, Reason::NotAllowed("set_u64 needs a numeric (n) field")));
        }
        let text = match spec.length {
            Length::Fixed(len) => format!("{value:0width$}", width = len as usize),
            Length::Var { .. } => value.to_string(),
        };
        self.set(field, text.as_bytes())
    }

    /// Set a text field, padded to its fixed length the ISO way: `n` zero-filled on the
    /// left, other text space-filled on the right.
    pub fn set_padded(&mut self, field: u8, value: &str) -> Result<()> {
        let spec = self.field_spec(field)?;
        let text = match (spec.length, spec.field_type) {
            (Length::Fixed(len), FieldType::N) => format!("{value:0>width$}", width = len as usize),
            (Length::Fixed(len), FieldType::A | FieldType::An | FieldType::Ans) => {
                format!("{value:<width$}", width = len as usize)
            }
            _ => value.to_owned(),
        };
        self.set(field, text.as_bytes())
    }

    pub fn remove(&mut self, field: u8) -> bool {
        match self.index(field) {
            Ok(index) => {
                self.garbage += self.entries[index].len as usize;
                self.entries.remove(index);
                true
            }
            Err(_) => false,
        }
    }

    /// Store a value already checked (or just decoded). Callers guarantee `field` is in the spec.
    pub(crate) fn put(&mut self, field: u8, value: &[u8]) {
        debug_assert!(field as usize <= FIELD_NUMBER_MAX && field >= 2);
        match self.index(field) {
            Ok(index) => {
                let entry = &mut self.entries[index];
                if entry.len as usize == value.len() {
                    let start = entry.start as usize;
                    self.data[start..start + value.len()].copy_from_slice(value);
                    return;
                }
                self.garbage += entry.len as usize;
                entry.start = self.data.len() as u32;
                entry.len = value.len() as u32;
                self.data.extend_from_slice(value);
            }
            Err(index) => {
                let entry = Entry { field, start: self.data.len() as u32, len: value.len() as u32 };
                self.entries.insert(index, entry);
                self.data.extend_from_slice(value);
            }
        }
        if self.garbage > 1024 && self.garbage * 2 > self.data.len() {
            self.compact();
        }
    }

    /// Record a value the decoder appended to `data` at `start`. Decoding visits fields in
    /// increasing order, so this is a push.
    pub(crate) fn push_decoded(&mut self, field: u8, start: usize) {
        debug_assert!(self.entries.last().is_none_or(|last| last.field < field));
        let len = self.data.len() - start;
        self.entries.push(Entry { field, start: start as u32, len: len as u32 });
    }

    fn compact(&mut self) {
        let mut data = Vec::with_capacity(self.data.len() - self.garbage);
        for entry in &mut self.entries {
            let start = entry.start as usize;
            let value = &self.data[start..start + entry.len as usize];
            entry.start = data.len() as u32;
            data.extend_from_slice(value);
        }
        self.data = data;
        self.garbage = 0;
    }

    /// Which layout and mask apply to `field` in this message: the first variant whose
    /// condition holds, else the field's defaults.
    pub fn resolve(&self, field: u8) -> Resolved {
        let Some(spec) = self.spec.field(field as usize) else {
            return Resolved { layout: None, mask: Mask::None };
        };
        let length = self.get(field).map_or(0, <[u8]>::len);
        for variant in &spec.variants {
            if self.holds(&variant.when, length) {
                return Resolved { layout: variant.layout.or(spec.layout), mask: variant.mask.unwrap_or(spec.mask) };
            }
        }
        Resolved { layout: spec.layout, mask: spec.mask }
    }

    fn holds(&self, condition: &Condition, length: usize) -> bool {
        (condition.mti.is_empty() || condition.mti.contains(self.mti.as_bytes()))
            && (condition.length.is_empty() || condition.length.contains(&length))
            && condition.fields.iter().all(|(path, values)| {
                // Conditions only name fields without variants (checked at compile time), so
                // this lookup cannot recurse back here.
                matches!(self.lookup(path), Ok(Some(value)) if values.iter().any(|v| v.as_bytes() == value))
            })
    }

    /// Value at a path: `2`, `60.1`, `55.9F26`, `55.71.86`, `48.2.1.3`. `Ok(None)` when the
    /// field or subfield is absent; an error when the path does not fit the spec or the value
    /// does not fit its layout.
    pub fn get_path(&self, path: &str) -> Result<Option<&[u8]>> {
        self.lookup(&Path::parse(path)?)
    }

    pub fn lookup(&self, path: &Path) -> Result<Option<&[u8]>> {
        let field_spec =
            self.spec.field(path.field as usize).ok_or_else(|| Error::path(&path.to_string(), Reason::NoSuchPath))?;
        let Some(value) = self.get(path.field) else {
            return Ok(None);
        };
        if path.is_field() {
            return Ok(Some(value));
        }
        let layout =
            self.resolve(path.field).layout.ok_or_else(|| Error::path(&path.to_string(), Reason::NoSuchPath))?;
        find_in_layout(&self.spec, layout, value, field_spec.field_type.is_binary(), &path.segments)
            .map_err(|reason| Error::path(&path.to_string(), reason))
    }

    /// Set the value at a path, rebuilding the parent field. For positional layouts the item
    /// must exist already or be the next one after the last present item.
    pub fn set_path(&mut self, path: &str, value: &[u8]) -> Result<()> {
        let path = Path::parse(path)?;
        if path.is_field() {
            return self.set(path.field, value);
        }
        let text = path.to_string();
        let field_spec = self.spec.field(path.field as usize).ok_or_else(|| Error::path(&text, Reason::NoSuchPath))?;
        let binary = field_spec.field_type.is_binary();
        let layout = self.resolve(path.field).layout.ok_or_else(|| Error::path(&text, Reason::NoSuchPath))?;
        let parent = self.get(path.field).unwrap_or(&[]);
        let rebuilt = rebuild(&self.spec, layout, parent, binary, &path.segments, Some(value))
            .map_err(|reason| Error::path(&text, reason))?;
        self.set(path.field, &rebuilt).map_err(|e| e.with_location(Location::Path(text)))
    }

    /// Remove a TLV element (or clear a trailing positional item) at a path.
    pub fn remove_path(&mut self, path: &str) -> Result<()> {
        let path = Path::parse(path)?;
        let text = path.to_string();
        let field_spec = self.spec.field(path.field as usize).ok_or_else(|| Error::path(&text, Reason::NoSuchPath))?;
        if path.is_field() {
            self.remove(path.field);
            return Ok(());
        }
        let binary = field_spec.field_type.is_binary();
        let layout = self.resolve(path.field).layout.ok_or_else(|| Error::path(&text, Reason::NoSuchPath))?;
        let Some(parent) = self.get(path.field) else { return Ok(()) };
        let rebuilt = rebuild(&self.spec, layout, parent, binary, &path.segments, None)
            .map_err(|reason| Error::path(&text, reason))?;
        self.set(path.field, &rebuilt).map_err(|e| e.with_location(Location::Path(text)))
    }

    /// Check every value against the spec and every subfield layout; errors name the field.
    pub fn validate(&self) -> Result<()> {
        for (number, value) in self.fields() {
            field::check_value(self.field_spec(number)?, value)?;
        }
        self.validate_layouts()
    }

    pub(crate) fn validate_layouts(&self) -> Result<()> {
        for &Entry { field, start, len } in &self.entries {
            let Some(spec) = self.spec.field(field as usize) else { continue };
            let layout = if spec.variants.is_empty() { spec.layout } else { self.resolve(field).layout };
            let Some(layout) = layout else { continue };
            let value = &self.data[start as usize..(start + len) as usize];
            check_layout(&self.spec, layout, value, spec.field_type.is_binary()).map_err(
                |(offset, reason, item)| {
                    let location = match item {
                        Some(id) => Location::Subfield(field, id),
                        None => Location::Field(field),
                    };
                    Error::new(location, Some(offset), reason)
                },
            )?;
        }
        Ok(())
    }

    /// Encode the body (MTI, bitmaps, fields) into a new buffer.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.data.len() + 64);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        crate::codec::encode_into(self, out)
    }

    /// A response to this message: response MTI and copies of `echo` fields (those present).
    pub fn response(&self, echo: &[u8]) -> Result<Message> {
        let mti = self.mti.response().ok_or_else(|| {
            Error::new(Location::Mti, None, Reason::NotAllowed("only requests and advices have responses"))
        })?;
        let mut response = Message::new(Arc::clone(&self.spec), mti);
        for &field in echo {
            if let Some(value) = self.get(field) {
                response.put(field, value);
            }
        }
        Ok(response)
    }
}

pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u64))
}

fn positional_items(spec: &Spec, layout: LayoutId) -> Option<&[crate::spec::Item]> {
    match &spec.layout(layout).kind {
        LayoutKind::Positional(items) => Some(items),
        LayoutKind::Tlv(_) => None,
    }
}

/// Walk `segments` down through a layout.
fn find_in_layout<'a>(
    spec: &Spec,
    layout: LayoutId,
    value: &'a [u8],
    binary: bool,
    segments: &[String],
) -> std::result::Result<Option<&'a [u8]>, Reason> {
    let Layout { kind, .. } = spec.layout(layout);
    match kind {
        LayoutKind::Tlv(_) => {
            let mut tags = Vec::with_capacity(segments.len());
            for segment in segments {
                tags.push(tlv::parse_tag(segment)?);
            }
            tlv::find_path(value, &tags).map_err(|e| e.reason)
        }
        LayoutKind::Positional(items) => {
            let (first, rest) = segments.split_first().ok_or(Reason::NoSuchPath)?;
            let item_index = items.iter().position(|item| item.id == *first).ok_or(Reason::NoSuchPath)?;
            let parts = layout::split(spec, items, value, binary).map_err(|e| e.reason)?;
            let Some(part) = parts.iter().find(|part| part.item == item_index) else {
                return Ok(None);
            };
            let item_value = &value[part.start..part.end];
            match (items[item_index].length, rest) {
                (_, []) => Ok(Some(item_value)),
                (ItemLength::Repeat { group }, [occurrence, inner @ ..]) => {
                    let size = layout::group_size(spec, group);
                    let occurrence: usize = occurrence.parse().ok().filter(|&n| n >= 1).ok_or(Reason::NoSuchPath)?;
                    let start = (occurrence - 1).checked_mul(size).ok_or(Reason::NoSuchPath)?;
                    let Some(record) = item_value.get(start..start + size) else {
                        return Ok(None);
                    };
                    if inner.is_empty() {
                        return Ok(Some(record));
                    }
                    find_in_layout(spec, group, record, binary, inner)
                }
                _ => Err(Reason::NoSuchPath),
            }
        }
    }
}

/// The parent value with the item at `segments` replaced by `new_value` (or removed when
/// `None`).
fn rebuild(
    spec: &Spec,
    layout: LayoutId,
    value: &[u8],
    binary: bool,
    segments: &[String],
    new_value: Option<&[u8]>,
) -> std::result::Result<Vec<u8>, Reason> {
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(_) => rebuild_tlv(value, segments, new_value),
        LayoutKind::Positional(items) => {
            let (first, rest) = segments.split_first().ok_or(Reason::NoSuchPath)?;
            let item_index = items.iter().position(|item| item.id == *first).ok_or(Reason::NoSuchPath)?;
            let parts = layout::split(spec, items, value, binary).map_err(|e| e.reason)?;
            let item = &items[item_index];
            if !rest.is_empty() {
                // Inside a repeated group: replace one record's item.
                let ItemLength::Repeat { group } = item.length else { return Err(Reason::NoSuchPath) };
                // No records yet: the group starts where the value ends, if it is the next item.
                let (group_start, group_end) = match parts.iter().find(|p| p.item == item_index) {
                    Some(part) => (part.start, part.end),
                    None if item_index == parts.len() => (value.len(), value.len()),
                    None => return Err(Reason::NotAllowed("set the items before this one first")),
                };
                let size = layout::group_size(spec, group).max(1);
                let (occurrence, inner) = rest.split_first().ok_or(Reason::NoSuchPath)?;
                let occurrence: usize = occurrence.parse().ok().filter(|&n| n >= 1).ok_or(Reason::NoSuchPath)?;
                let records = (group_end - group_start) / size;
                if occurrence > records + 1 || (occurrence == records + 1 && !inner.is_empty()) {
                    return Err(Reason::NotAllowed("records are added whole, one after the last"));
                }
                // Bounded by the check above: occurrence - 1 <= records.
                let record_start = group_start + (occurrence - 1) * size;
                let mut out = value.to_vec();
                let replacement = match (inner.is_empty(), new_value) {
                    (true, Some(record)) => record.to_vec(),
                    (true, None) => Vec::new(),
                    (false, _) => {
                        rebuild(spec, group, &value[record_start..record_start + size], binary, inner, new_value)?
                    }
                };
                if inner.is_empty() && new_value.is_some() && replacement.len() != size {
                    return Err(Reason::LengthMismatch { expected: size, actual: replacement.len() });
                }
                if inner.is_empty() && occurrence <= records {
                    layout::split(spec, positional_items(spec, group).unwrap_or(&[]), &replacement, binary)
                        .map_err(|e| e.reason)?;
                }
                let end = (record_start + size).min(out.len());
                out.splice(record_start..end, replacement);
                return Ok(out);
            }
            let mut out = Vec::with_capacity(value.len() + 16);
            let present = parts.len();
            if item_index > present {
                return Err(Reason::NotAllowed("set the items before this one first"));
            }
            for part in &parts {
                if part.item == item_index {
                    match new_value {
                        Some(new_value) => layout::write_item(item, new_value, binary, &mut out)?,
                        None if item_index + 1 == present => {}
                        None => return Err(Reason::NotAllowed("only the last present item can be removed")),
                    }
                } else {
                    out.extend_from_slice(&value[part.prefix_start..part.end]);
                }
            }
            if item_index == present
                && let Some(new_value) = new_value
            {
                layout::write_item(item, new_value, binary, &mut out)?;
            }
            Ok(out)
        }
    }
}

fn rebuild_tlv(value: &[u8], segments: &[String], new_value: Option<&[u8]>) -> std::result::Result<Vec<u8>, Reason> {
    let (first, rest) = segments.split_first().ok_or(Reason::NoSuchPath)?;
    let tag = tlv::parse_tag(first)?;
    if rest.is_empty() {
        return match new_value {
            Some(new_value) => tlv::set(value, &tag, new_value).map_err(|e| e.reason),
            None => tlv::remove(value, &tag).map_err(|e| e.reason),
        };
    }
    if tag.first().is_none_or(|b| b & 0x20 == 0) {
        return Err(Reason::NotAllowed("only constructed tags hold other tags"));
    }
    let found = tlv::find(value, &tag).map_err(|e| e.reason)?;
    if found.is_none() && new_value.is_none() {
        // Removing from a template that is not there: nothing to do, once the rest of the
        // path is known to be made of tags.
        for segment in rest {
            tlv::parse_tag(segment)?;
        }
        return Ok(value.to_vec());
    }
    let rebuilt = rebuild_tlv(found.unwrap_or(&[]), rest, new_value)?;
    tlv::set(value, &tag, &rebuilt).map_err(|e| e.reason)
}

/// Check a field value against its layout: TLV well-formed, positional items fit.
/// Returns the offset inside the value, the reason and the item id on failure.
pub(crate) fn check_layout(
    spec: &Spec,
    layout: LayoutId,
    value: &[u8],
    binary: bool,
) -> std::result::Result<(), (usize, Reason, Option<String>)> {
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(_) => tlv::validate(value).map_err(|e| (e.offset, e.reason, None)),
        LayoutKind::Positional(items) => {
            let item_id = |index: usize| items.get(index).map(|item| item.id.clone());
            let mut group_error = None;
            layout::walk(spec, items, value, binary, |part| {
                let ItemLength::Repeat { group } = items[part.item].length else { return };
                let size = layout::group_size(spec, group).max(1);
                let group_items = positional_items(spec, group).unwrap_or(&[]);
                for (index, record) in value[part.start..part.end].chunks_exact(size).enumerate() {
                    let base = part.start + index * size;
                    if let Err(e) = layout::walk(spec, group_items, record, binary, |_| {}) {
                        let id = group_items
                            .get(e.item)
                            .map(|group_item| format!("{}.{}.{}", items[part.item].id, index + 1, group_item.id));
                        group_error.get_or_insert((base + e.offset, e.reason, id));
                        return;
                    }
                }
            })
            .map_err(|e| (e.offset, e.reason, item_id(e.item)))?;
            group_error.map_or(Ok(()), Err)
        }
    }
}

/// Parts of a positional value, for dumps and JSON.
pub(crate) fn positional_parts(spec: &Spec, layout: LayoutId, value: &[u8], binary: bool) -> Option<Vec<Part>> {
    let items = positional_items(spec, layout)?;
    layout::split(spec, items, value, binary).ok()
}

const _: () = assert!(MESSAGE_BYTES_MAX < u32::MAX as usize);
