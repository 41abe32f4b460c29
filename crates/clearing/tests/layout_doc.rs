//! docs/end-of-day.md's "Clearing file layout" table is the code's layout table
//! (`clearing::file::layout::LAYOUTS`), row for row.

use clearing::file::layout::LAYOUTS;

#[test]
fn the_documented_layout_is_the_code_layout() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/end-of-day.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc.split("\n## Clearing file layout\n").nth(1).expect("the section is in docs/end-of-day.md");
    let section = section.split("\n## ").next().unwrap();
    let documented: Vec<String> = section
        .lines()
        .filter(|line| line.starts_with("| H |") || line.starts_with("| D |") || line.starts_with("| T |"))
        .map(|line| line.split('|').map(str::trim).skip(1).take(5).collect::<Vec<_>>().join(" "))
        .collect();
    let code: Vec<String> = LAYOUTS
        .iter()
        .flat_map(|(letter, fields)| {
            fields.iter().map(move |field| {
                format!("{} {} {} {} {}", *letter as char, field.name, field.offset, field.width, field.kind.name())
            })
        })
        .collect();
    assert_eq!(documented, code, "docs/end-of-day.md's layout table differs from clearing::file::layout");
}
