//! `POST /qr/batch`: many codes in one ZIP, named `0001.png`, `0002.svg`, … in item order.

use std::io::Write;

use serde_json::Value;
use zip::write::SimpleFileOptions;

use crate::encode;
use crate::options::{ParamError, RawOptions};

/// Most items one batch may hold (413 beyond).
pub const MAX_ITEMS: usize = 1000;

pub enum BatchError {
    TooMany { count: usize },
    Param(ParamError),
}

impl From<ParamError> for BatchError {
    fn from(e: ParamError) -> Self {
        BatchError::Param(e)
    }
}

/// Builds the ZIP for a batch body `{"items": [...], ...shared options}`.
pub fn build(body: &Value) -> Result<Vec<u8>, BatchError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ParamError::new("body", "expected a JSON object"))?;
    let items = obj
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ParamError::new("items", "must be an array of objects"))?;
    if items.is_empty() {
        return Err(ParamError::new("items", "must not be empty").into());
    }
    if items.len() > MAX_ITEMS {
        return Err(BatchError::TooMany { count: items.len() });
    }
    let mut shared = obj.clone();
    shared.remove("items");
    let shared = RawOptions::from_json(&Value::Object(shared))?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // PNG is already compressed; store entries as they are.
    let file_options =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (i, item) in items.iter().enumerate() {
        // A field the item inherits from the batch is named as the batch's own.
        let at = |e: ParamError| {
            let inherited = item.get(&e.param).is_none() && obj.contains_key(&e.param);
            if inherited {
                ParamError::new(&e.param, format!("{} (for items[{i}])", e.message))
            } else {
                ParamError::new(&format!("items[{i}].{}", e.param), e.message)
            }
        };
        let options = RawOptions::from_json(item)
            .map_err(at)?
            .or(&shared)
            .validate()
            .map_err(at)?;
        let rendered = encode::render(&options).map_err(at)?;
        let ext = if rendered.content_type == "image/png" {
            "png"
        } else {
            "svg"
        };
        zip.start_file(format!("{:04}.{ext}", i + 1), file_options)
            .map_err(|e| ParamError::new("items", e.to_string()))?;
        zip.write_all(&rendered.bytes)
            .map_err(|e| ParamError::new("items", e.to_string()))?;
    }
    let cursor = zip
        .finish()
        .map_err(|e| ParamError::new("items", e.to_string()))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(body: &str) -> String {
        match build(&serde_json::from_str(body).unwrap()) {
            Err(BatchError::Param(e)) => e.param,
            Err(BatchError::TooMany { .. }) => "too many".into(),
            Ok(_) => "none".into(),
        }
    }

    #[test]
    fn errors_name_the_field_where_it_was_given() {
        assert_eq!(
            param_of(r#"{"items": [{"text": "a"}, {"text": "b", "ecc": "X"}]}"#),
            "items[1].ecc"
        );
        assert_eq!(
            param_of(r#"{"items": [{"text": "a"}], "format": "gif"}"#),
            "format"
        );
        assert_eq!(
            param_of(r#"{"items": [{"text": "a", "format": "gif"}], "format": "png"}"#),
            "items[0].format"
        );
        assert_eq!(param_of(r#"{"items": [{"ecc": "H"}]}"#), "items[0].text");
        assert_eq!(
            param_of(r#"{"items": [{"text": "a"}], "format": "svg"}"#),
            "none"
        );
    }
}
