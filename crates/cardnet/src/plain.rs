//! The plain (not `--json`) form of a reporting command's object: one `key: value` line per
//! item, nested objects indented under their key, lists one item a line. A person reads it;
//! no JSON punctuation reaches the screen.

use serde_json::Value;

/// Indent of each nesting level.
const INDENT: &str = "  ";

/// The lines of `object`, skipping nulls and the keys in `skip`.
pub fn lines(object: &serde_json::Map<String, Value>, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in object.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        item(&mut out, 0, key, value);
    }
    out
}

fn item(out: &mut Vec<String>, depth: usize, key: &str, value: &Value) {
    let indent = INDENT.repeat(depth);
    match value {
        Value::Null => {}
        Value::Object(object) => {
            out.push(format!("{indent}{key}:"));
            for (inner, value) in object {
                item(out, depth + 1, inner, value);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            out.push(format!("{indent}{key}: {}", items.iter().map(scalar).collect::<Vec<_>>().join(", ")));
        }
        Value::Array(items) => {
            out.push(format!("{indent}{key}:"));
            for value in items {
                out.push(format!("{indent}{INDENT}- {}", inline(value)));
            }
        }
        scalar_value => out.push(format!("{indent}{key}: {}", scalar(scalar_value))),
    }
}

/// A list item on one line: an object's items as `key: value, …` (nested ones flattened the
/// same way), anything else as its text.
fn inline(value: &Value) -> String {
    match value {
        Value::Object(object) => object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}: {}", inline(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(items) => items.iter().map(inline).collect::<Vec<_>>().join(", "),
        other => scalar(other),
    }
}

/// Text as it is (no quotes), numbers and booleans as written.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_settlement_reads_as_lines_without_json() {
        let settle = json!({
            "batch_no": 1,
            "next_batch_no": 2,
            "totals": {"domestic": {"debit_amount_minor": 3000, "debit_count": 1}, "foreign": {"debit_count": 0}},
            "domestic_balanced": true,
            "operators": [{"number": "00", "role": "supervisor"}, {"number": "01", "role": "cashier"}],
            "notices": ["x"],
            "host": null,
        });
        let lines = lines(settle.as_object().unwrap(), &["notices"]);
        let text = lines.join("\n");
        for json_mark in ['{', '}', '[', ']', '"'] {
            assert!(!text.contains(json_mark), "{json_mark} in:\n{text}");
        }
        assert!(lines.contains(&"batch_no: 1".to_owned()), "{text}");
        assert!(lines.contains(&"totals:".to_owned()), "{text}");
        assert!(lines.contains(&"    debit_amount_minor: 3000".to_owned()), "{text}");
        assert!(lines.contains(&"  - number: 01, role: cashier".to_owned()), "{text}");
        assert!(!text.contains("host") && !text.contains("notices"), "{text}");
    }
}
