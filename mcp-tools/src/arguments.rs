//! The one rule for a call's arguments before they are decoded, the same over MCP and in
//! tool mode (both go through `Toolbox::call`): every key must be a parameter of the tool's
//! input schema (serde's `deny_unknown_fields` cannot do this: it does not work with the
//! flattened repair context), and every string must fit its property's `maxLength`.

use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::log_text::{log_safe, LOG_NAME_CHARS};

/// Checks `args` (a JSON object; other shapes are left to the decoder) against `schema`,
/// the tool's input schema.
///
/// # Errors
/// `InvalidParams` naming an unknown parameter (and the tool's parameters), or a string
/// parameter over its `maxLength`, with its length and the limit.
pub(crate) fn check(tool: &str, schema: &Value, args: &Value) -> Result<(), ToolError> {
    let Some(args) = args.as_object() else {
        return Ok(());
    };
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (key, value) in args {
        let Some(prop) = props.get(key) else {
            let known: Vec<&str> = props.keys().map(String::as_str).collect();
            return Err(ToolError::invalid(format!(
                "{tool} takes no parameter {}; {}",
                log_safe(key, LOG_NAME_CHARS),
                if known.is_empty() {
                    "it takes no parameters".to_owned()
                } else {
                    format!("its parameters are {}", known.join(", "))
                }
            )));
        };
        if let (Value::String(text), Some(max)) = (value, max_length(prop)) {
            // JSON Schema's maxLength counts characters; count only as far as the limit.
            let over = text.chars().nth(max).is_some();
            if over {
                return Err(ToolError::invalid(format!(
                    "{key} is {} characters long, over its limit of {max}; send a shorter {key}",
                    text.chars().count()
                )));
            }
        }
    }
    Ok(())
}

/// A property's `maxLength`, looking through `anyOf` / `oneOf` alternatives.
fn max_length(prop: &Value) -> Option<usize> {
    if let Some(n) = prop.get("maxLength").and_then(Value::as_u64) {
        return usize::try_from(n).ok();
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| prop.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(max_length)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "id": {"type": "string", "maxLength": 3},
            "note": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}]},
            "run": {"type": "boolean"}
        }})
    }

    #[test]
    fn unknown_keys_and_long_strings_are_refused_by_name() {
        let s = schema();
        assert!(check("t", &s, &json!({"id": "abc", "note": "é€", "run": true})).is_ok());
        assert!(check("t", &s, &json!({"note": null})).is_ok());
        assert!(check("t", &s, &json!("not an object")).is_ok());
        let e = check("t", &s, &json!({"id": "abcd"})).unwrap_err();
        assert_eq!(
            e.message,
            "id is 4 characters long, over its limit of 3; send a shorter id"
        );
        let e = check("t", &s, &json!({"note": "abc"})).unwrap_err();
        assert!(e.message.contains("over its limit of 2"), "{}", e.message);
        let e = check("t", &s, &json!({"sesion_id": "x"})).unwrap_err();
        assert_eq!(
            e.message,
            r#"t takes no parameter "sesion_id"; its parameters are id, note, run"#
        );
        let e = check("n", &json!({"type": "object"}), &json!({"x\ny": 1})).unwrap_err();
        assert_eq!(
            e.message,
            r#"n takes no parameter "x\ny"; it takes no parameters"#
        );
    }
}
