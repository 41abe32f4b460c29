//! Positional subfields: items that follow one another inside a field's value (UnionPay field
//! 60 = 60.1 … 60.7, field 61, the field 48 layouts, the field 62 key layouts). The walk works
//! on the value in place; a value may stop at any item boundary (management messages send
//! only 60.1–60.3).

use crate::error::Reason;
use crate::field::check_text;
use crate::limits::{GROUP_REPEATS_MAX, LAYOUT_ITEMS_MAX};
use crate::spec::{FieldType, Item, ItemLength, LayoutId, LayoutKind, Spec};

/// One item found in a value: `start..end` is the item's own value (after any prefix),
/// `prefix_start` where the item begins on the wire inside the parent value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub item: usize,
    pub prefix_start: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    /// Index of the item that failed (for messages), and offset into the value.
    pub item: usize,
    pub offset: usize,
    pub reason: Reason,
}

/// Split `value` into parts by `items`. `binary` says the parent value is bytes, not text.
pub fn split(spec: &Spec, items: &[Item], value: &[u8], binary: bool) -> Result<Vec<Part>, LayoutError> {
    let mut parts = Vec::with_capacity(items.len());
    walk(spec, items, value, binary, |part| parts.push(part))?;
    Ok(parts)
}

/// Walk `value` by `items`, handing each part to `visit`; no allocation.
pub fn walk(
    spec: &Spec,
    items: &[Item],
    value: &[u8],
    binary: bool,
    mut visit: impl FnMut(Part),
) -> Result<(), LayoutError> {
    debug_assert!(items.len() <= LAYOUT_ITEMS_MAX);
    let mut position = 0usize;
    for (index, item) in items.iter().enumerate() {
        if position == value.len() {
            break;
        }
        let error = |offset, reason| LayoutError { item: index, offset, reason };
        let prefix_start = position;
        let length = match item.length {
            ItemLength::Fixed(len) => len as usize,
            ItemLength::Var { prefix_digits, max } => {
                let digits = value.get(position..position + prefix_digits as usize).ok_or_else(|| {
                    error(
                        position,
                        Reason::Truncated { needed: prefix_digits as usize, available: value.len() - position },
                    )
                })?;
                let mut length = 0usize;
                for &b in digits {
                    if !b.is_ascii_digit() {
                        return Err(error(position, Reason::BadLengthPrefix));
                    }
                    length = length * 10 + (b - b'0') as usize;
                }
                if length > max as usize {
                    return Err(error(position, Reason::TooLong { length, max: max as usize }));
                }
                position += prefix_digits as usize;
                length
            }
            ItemLength::Rest { max } => {
                let length = value.len() - position;
                if length > max as usize {
                    return Err(error(position, Reason::TooLong { length, max: max as usize }));
                }
                length
            }
            ItemLength::Repeat { group } => {
                let size = group_size(spec, group);
                let length = value.len() - position;
                if size == 0 || !length.is_multiple_of(size) {
                    return Err(error(
                        position,
                        Reason::Invalid(format!("{length} units is not a whole number of {size}-unit records")),
                    ));
                }
                if length / size > GROUP_REPEATS_MAX {
                    return Err(error(position, Reason::TooLong { length: length / size, max: GROUP_REPEATS_MAX }));
                }
                length
            }
        };
        let end = position
            .checked_add(length)
            .filter(|&end| end <= value.len())
            .ok_or_else(|| error(position, Reason::Truncated { needed: length, available: value.len() - position }))?;
        if !binary && !matches!(item.length, ItemLength::Repeat { .. }) {
            check_text(item.item_type, &value[position..end]).map_err(|_| {
                error(position, Reason::BadCharacter { index: position, expected: type_description(item.item_type) })
            })?;
        }
        visit(Part { item: index, prefix_start, start: position, end });
        position = end;
    }
    if position != value.len() {
        return Err(LayoutError {
            item: items.len() - 1,
            offset: position,
            reason: Reason::TrailingBytes { count: value.len() - position },
        });
    }
    Ok(())
}

fn type_description(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::N => "digits",
        FieldType::A => "letters",
        FieldType::An => "letters and digits",
        FieldType::Ans | FieldType::B => "printable text",
        FieldType::Z => "track data",
        FieldType::Xn => "a signed amount",
    }
}

/// Total size of one occurrence of a repeated group (fixed-length items only, checked when
/// the spec was compiled).
pub fn group_size(spec: &Spec, group: LayoutId) -> usize {
    match &spec.layout(group).kind {
        LayoutKind::Positional(items) => items
            .iter()
            .map(|item| match item.length {
                ItemLength::Fixed(len) => len as usize,
                _ => 0,
            })
            .sum(),
        LayoutKind::Tlv(_) => 0,
    }
}

/// Write one item (prefix included) for `value`, checking its length and characters.
pub fn write_item(item: &Item, value: &[u8], binary: bool, out: &mut Vec<u8>) -> Result<(), Reason> {
    match item.length {
        ItemLength::Fixed(len) if value.len() != len as usize => {
            return Err(Reason::LengthMismatch { expected: len as usize, actual: value.len() });
        }
        ItemLength::Var { prefix_digits, max } => {
            if value.len() > max as usize {
                return Err(Reason::TooLong { length: value.len(), max: max as usize });
            }
            out.extend_from_slice(format!("{:0width$}", value.len(), width = prefix_digits as usize).as_bytes());
        }
        ItemLength::Rest { max } if value.len() > max as usize => {
            return Err(Reason::TooLong { length: value.len(), max: max as usize });
        }
        ItemLength::Repeat { .. } => {
            return Err(Reason::NotAllowed("set a repeated group's items one record at a time"));
        }
        _ => {}
    }
    if !binary {
        check_text(item.item_type, value)
            .map_err(|_| Reason::BadCharacter { index: 0, expected: type_description(item.item_type) })?;
    }
    out.extend_from_slice(value);
    Ok(())
}
