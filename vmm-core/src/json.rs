//! How tetra prints JSON (`tetra regs --json`, `tetra inspect`): documents are built as
//! `serde_json` values and printed here, so every string is escaped by serde_json.

pub use serde_json::{json, Value};

/// `value` as indented JSON with a final newline.
pub fn pretty(value: &Value) -> String {
    // A `Value` has only string keys and finite numbers: serialising it cannot fail.
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_fields_keep_their_order() {
        let v = json!({"z": "a\"b\\c\nd", "a": "plain é"});
        let text = pretty(&v);
        assert_eq!(
            text,
            "{\n  \"z\": \"a\\\"b\\\\c\\nd\",\n  \"a\": \"plain é\"\n}\n"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
