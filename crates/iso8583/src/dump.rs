//! A readable dump for people: MTI, bitmap, then each field with number, name and value, and
//! subfields and TLV tags one per line. Masked unless the caller asks to unmask.

use std::fmt::Write;

use crate::emv;
use crate::framing::{Envelope, ProcessingRequirement};
use crate::hex;
use crate::layout::group_size;
use crate::mask::mask_text;
use crate::message::{Message, positional_parts};
use crate::spec::{Charset, ItemLength, LayoutId, LayoutKind, Mask, Spec};
use crate::tlv;

#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    pub unmask: bool,
    pub envelope: Option<Envelope>,
}

/// Width of the name column.
const NAME_WIDTH: usize = 44;

pub fn dump(message: &Message, options: &DumpOptions) -> String {
    let mut out = String::with_capacity(1024);
    if let Some(envelope) = &options.envelope {
        if let Some(tpdu) = envelope.tpdu {
            let _ = writeln!(
                out,
                "TPDU    {tpdu}  (id {:02X}, destination {:04X}, source {:04X})",
                tpdu.id, tpdu.destination, tpdu.source
            );
        }
        if let Some(header) = envelope.header {
            let _ = write!(out, "HEADER  {header}");
            if header.as_bytes().len() == 6 {
                let requirement = header.processing_requirement();
                let _ = write!(
                    out,
                    "  (application {:02X}, terminal status {}, processing requirement {} {})",
                    header.application_type(),
                    header.terminal_status(),
                    requirement.nibble(),
                    requirement_text(requirement)
                );
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "MTI     {}", message.mti());
    let _ = writeln!(out, "BITMAP  {}", bitmap_hex(message));
    let spec = message.spec();
    for (number, value) in message.fields() {
        let Some(field_spec) = spec.field(number as usize) else { continue };
        let resolved = message.resolve(number);
        let mask = if options.unmask { Mask::None } else { resolved.mask };
        let binary = field_spec.field_type.is_binary();
        let label = format!("{number:>3}  {}", field_spec.name);
        // A field shown by its subfields gets only its size on its own line: the whole value
        // would show in clear what a masked subfield (a PAN in 48, a key in 62, tag 5A in 55)
        // hides.
        let fits = resolved.layout.filter(|&layout| fits_layout(spec, layout, value, binary));
        match fits {
            Some(layout) if !options.unmask => {
                let unit = if binary { "bytes" } else { "characters" };
                let _ = writeln!(out, "{}  ({} {unit})", pad(&label, NAME_WIDTH), value.len());
                dump_layout(&mut out, spec, layout, value, binary, mask, options.unmask, &number.to_string(), 1);
            }
            Some(layout) => {
                let _ = writeln!(out, "{}  {}", pad(&label, NAME_WIDTH), show(value, binary, field_spec.charset, mask));
                dump_layout(&mut out, spec, layout, value, binary, mask, options.unmask, &number.to_string(), 1);
            }
            None => {
                let hide = resolved.layout.is_some_and(|layout| spec.layout_is_sensitive(layout));
                let mask = if hide && !options.unmask { Mask::All } else { mask };
                let _ = writeln!(out, "{}  {}", pad(&label, NAME_WIDTH), show(value, binary, field_spec.charset, mask));
            }
        }
    }
    out
}

fn fits_layout(spec: &Spec, layout: LayoutId, value: &[u8], binary: bool) -> bool {
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(_) => tlv::validate(value).is_ok(),
        LayoutKind::Positional(_) => positional_parts(spec, layout, value, binary).is_some(),
    }
}

fn requirement_text(requirement: ProcessingRequirement) -> &'static str {
    match requirement {
        ProcessingRequirement::None => "none",
        ProcessingRequirement::DownloadParameters => "download parameters",
        ProcessingRequirement::UploadStatus => "upload status",
        ProcessingRequirement::SignOnAgain => "sign on again",
        ProcessingRequirement::UpdatePublicKeys => "update CA public keys",
        ProcessingRequirement::DownloadIcParameters => "download IC parameters",
        ProcessingRequirement::TerminalManagement => "terminal management",
        ProcessingRequirement::DownloadBinBlacklist => "download BIN blacklist",
        ProcessingRequirement::DownloadFeeTable => "download fee table",
        ProcessingRequirement::Other(_) => "unknown",
    }
}

fn pad(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count >= width { format!("{text} ") } else { format!("{text} {}", ".".repeat(width - count - 1)) }
}

fn show(value: &[u8], binary: bool, charset: Charset, mask: Mask) -> String {
    if binary {
        return mask_text(&hex::encode(value), mask);
    }
    match crate::charset::to_text(value, charset) {
        Some(text) => format!("[{}]", mask_text(&text, mask)),
        None => format!("hex {}", mask_text(&hex::encode(value), mask)),
    }
}

#[allow(clippy::too_many_arguments)]
fn dump_layout(
    out: &mut String,
    spec: &Spec,
    layout: LayoutId,
    value: &[u8],
    binary: bool,
    mask: Mask,
    unmask: bool,
    prefix: &str,
    depth: usize,
) {
    let indent = "     ".repeat(depth);
    match &spec.layout(layout).kind {
        LayoutKind::Tlv(tags) => dump_tlv(out, tags, value, mask, unmask, &indent, 0),
        LayoutKind::Positional(items) => {
            let Some(parts) = positional_parts(spec, layout, value, binary) else {
                let _ = writeln!(out, "{indent}(does not fit layout {})", spec.layout(layout).name);
                return;
            };
            for part in parts {
                let item = &items[part.item];
                let item_value = &value[part.start..part.end];
                let path = format!("{prefix}.{}", item.id);
                let item_mask = if unmask {
                    Mask::None
                } else if mask == Mask::All {
                    Mask::All
                } else {
                    item.mask
                };
                if let ItemLength::Repeat { group } = item.length {
                    let _ = writeln!(
                        out,
                        "{indent}{}",
                        pad(&format!("{path}  {}", item.name), NAME_WIDTH.saturating_sub(indent.len()))
                            .trim_end_matches(['.', ' '])
                    );
                    let size = group_size(spec, group).max(1);
                    for (index, record) in item_value.chunks_exact(size).enumerate() {
                        dump_layout(
                            out,
                            spec,
                            group,
                            record,
                            binary,
                            mask,
                            unmask,
                            &format!("{path}.{}", index + 1),
                            depth + 1,
                        );
                    }
                    continue;
                }
                let label = format!("{path}  {}", item.name);
                let _ = writeln!(
                    out,
                    "{indent}{}  {}",
                    pad(&label, NAME_WIDTH.saturating_sub(indent.len())),
                    show(item_value, binary, item.charset, item_mask)
                );
            }
        }
    }
}

fn dump_tlv(
    out: &mut String,
    tags: &[crate::spec::TagSpec],
    value: &[u8],
    mask: Mask,
    unmask: bool,
    indent: &str,
    depth: usize,
) {
    for element in tlv::elements(value) {
        let Ok(element) = element else {
            let _ = writeln!(out, "{indent}(malformed TLV)");
            return;
        };
        let tag = element.tag_hex();
        let (name, tag_mask) = tags
            .iter()
            .find(|t| t.tag == tag)
            .map(|t| (t.name.as_str(), t.mask))
            .or_else(|| emv::describe(&tag))
            .unwrap_or(("", Mask::None));
        let effective = if unmask {
            Mask::None
        } else if mask == Mask::All {
            Mask::All
        } else {
            tag_mask
        };
        let label = format!("{tag:<4}  {name} ({} bytes)", element.value.len());
        let _ = writeln!(
            out,
            "{indent}{}  {}",
            pad(&label, NAME_WIDTH.saturating_sub(indent.len())),
            mask_text(&hex::encode(element.value), effective)
        );
        if element.is_constructed() && depth < crate::limits::TLV_DEPTH_MAX {
            dump_tlv(out, tags, element.value, mask, unmask, &format!("{indent}      "), depth + 1);
        }
    }
}

/// The bitmap(s) this message encodes with, as hex.
pub fn bitmap_hex(message: &Message) -> String {
    let (bitmap, words) = crate::codec::bitmaps(message);
    bitmap[..words].iter().map(|w| format!("{w:016X}")).collect::<Vec<_>>().join(" ")
}
