//! Generation options: parsed from a query string or a JSON object, validated, every error
//! naming its parameter.

use serde_json::Value;

/// Error-correction level: recovers about 7%, 15%, 25% or 30% of the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecc {
    L,
    M,
    Q,
    H,
}

/// Largest image side we render, pixels.
pub const MAX_SIZE: u32 = 4096;
const MAX_SCALE: u32 = 100;
const MAX_BORDER: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// Pixels per module.
    Scale(u32),
    /// Pixels of the whole image side.
    Size(u32),
}

/// An RGBA colour.
pub type Rgba = [u8; 4];

#[derive(Debug, Clone)]
pub struct Options {
    pub text: String,
    pub ecc: Ecc,
    pub sizing: Sizing,
    pub border: u32,
    pub fg: Rgba,
    pub bg: Rgba,
    pub format: Format,
}

pub use atelier_guest::ParamError;

/// Parameters as strings, whatever their source.
#[derive(Default)]
pub struct RawOptions {
    pub text: Option<String>,
    pub ecc: Option<String>,
    pub scale: Option<String>,
    pub size: Option<String>,
    pub border: Option<String>,
    pub fg: Option<String>,
    pub bg: Option<String>,
    pub format: Option<String>,
}

impl RawOptions {
    /// From decoded query pairs; unknown keys are refused.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ParamError> {
        let mut raw = RawOptions::default();
        for (k, v) in pairs {
            *raw.slot(k)? = Some(v.clone());
        }
        Ok(raw)
    }

    /// From a JSON object; numbers and strings are both accepted, `null` leaves a field unset.
    pub fn from_json(value: &Value) -> Result<Self, ParamError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ParamError::new("body", "expected a JSON object"))?;
        let mut raw = RawOptions::default();
        for (k, v) in obj {
            let slot = raw.slot(k)?;
            *slot = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Null => None,
                _ => return Err(ParamError::new(k, "must be a string or a number")),
            };
        }
        Ok(raw)
    }

    /// Fills unset fields from `defaults` (batch-wide options).
    pub fn or(mut self, defaults: &RawOptions) -> Self {
        macro_rules! inherit { ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = defaults.$f.clone(); } )* } }
        inherit!(ecc, scale, size, border, fg, bg, format);
        self
    }

    /// The field named `key`; an unknown name is refused, naming it.
    fn slot(&mut self, key: &str) -> Result<&mut Option<String>, ParamError> {
        Ok(match key {
            "text" => &mut self.text,
            "ecc" => &mut self.ecc,
            "scale" => &mut self.scale,
            "size" => &mut self.size,
            "border" => &mut self.border,
            "fg" => &mut self.fg,
            "bg" => &mut self.bg,
            "format" => &mut self.format,
            other => return Err(ParamError::new(other, "unknown parameter")),
        })
    }

    pub fn validate(&self) -> Result<Options, ParamError> {
        let text = match &self.text {
            Some(t) if !t.is_empty() => t.clone(),
            _ => return Err(ParamError::new("text", "is required and must not be empty")),
        };
        let ecc = match self
            .ecc
            .as_deref()
            .unwrap_or("M")
            .to_ascii_uppercase()
            .as_str()
        {
            "L" => Ecc::L,
            "M" => Ecc::M,
            "Q" => Ecc::Q,
            "H" => Ecc::H,
            other => {
                return Err(ParamError::new(
                    "ecc",
                    format!("{other:?} is not one of L, M, Q, H"),
                ))
            }
        };
        let sizing = match (&self.scale, &self.size) {
            (Some(_), Some(_)) => {
                return Err(ParamError::new(
                    "size",
                    "give either scale or size, not both",
                ))
            }
            (_, Some(size)) => Sizing::Size(number("size", size, 1, MAX_SIZE)?),
            (Some(scale), None) => Sizing::Scale(number("scale", scale, 1, MAX_SCALE)?),
            (None, None) => Sizing::Scale(10),
        };
        let border = match &self.border {
            Some(b) => number("border", b, 0, MAX_BORDER)?,
            None => 4,
        };
        let fg = colour("fg", self.fg.as_deref().unwrap_or("#000000"))?;
        let bg = colour("bg", self.bg.as_deref().unwrap_or("#ffffff"))?;
        let format = match self
            .format
            .as_deref()
            .unwrap_or("png")
            .to_ascii_lowercase()
            .as_str()
        {
            "png" => Format::Png,
            "svg" => Format::Svg,
            other => {
                return Err(ParamError::new(
                    "format",
                    format!("{other:?} is not one of png, svg"),
                ))
            }
        };
        Ok(Options {
            text,
            ecc,
            sizing,
            border,
            fg,
            bg,
            format,
        })
    }
}

fn number(param: &str, text: &str, min: u32, max: u32) -> Result<u32, ParamError> {
    match text.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            param,
            format!("must be an integer from {min} to {max}, got {text:?}"),
        )),
    }
}

/// `#rgb`, `#rrggbb` or `#rrggbbaa` (the `#` optional).
pub fn colour(param: &str, text: &str) -> Result<Rgba, ParamError> {
    let hex = text.trim().trim_start_matches('#');
    let bad = || ParamError::new(param, format!("{text:?} is not a hex colour like #1a2b3c"));
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    match hex.len() {
        3 => {
            let d = |i: usize| {
                u8::from_str_radix(&hex[i..i + 1], 16)
                    .map(|v| v * 17)
                    .map_err(|_| bad())
            };
            Ok([d(0)?, d(1)?, d(2)?, 255])
        }
        6 => Ok([byte(0)?, byte(2)?, byte(4)?, 255]),
        8 => Ok([byte(0)?, byte(2)?, byte(4)?, byte(6)?]),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_errors_name_the_parameter() {
        let o = RawOptions::from_pairs(&pairs(&[("text", "hi")]))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(o.ecc, Ecc::M);
        assert_eq!(o.sizing, Sizing::Scale(10));
        assert_eq!(o.border, 4);
        for (bad, param) in [
            (vec![("text", "")], "text"),
            (vec![("text", "a"), ("ecc", "X")], "ecc"),
            (vec![("text", "a"), ("scale", "0")], "scale"),
            (vec![("text", "a"), ("size", "99999")], "size"),
            (vec![("text", "a"), ("fg", "#12345")], "fg"),
            (vec![("text", "a"), ("format", "gif")], "format"),
            (vec![("text", "a"), ("border", "-1")], "border"),
        ] {
            let err = RawOptions::from_pairs(&pairs(&bad))
                .unwrap()
                .validate()
                .unwrap_err();
            assert_eq!(err.param, param);
        }
        assert_eq!(
            RawOptions::from_pairs(&pairs(&[("colour", "x")]))
                .err()
                .unwrap()
                .param,
            "colour"
        );
    }

    #[test]
    fn json_fields_are_known_before_their_values_are_read() {
        let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        let err = RawOptions::from_json(&json(r#"{"text": "a", "items": []}"#))
            .err()
            .unwrap();
        assert_eq!(
            (err.param.as_str(), err.message.as_str()),
            ("items", "unknown parameter")
        );
        let err = RawOptions::from_json(&json(r#"{"text": ["a"]}"#))
            .err()
            .unwrap();
        assert_eq!(err.param, "text");
        let raw = RawOptions::from_json(&json(r#"{"text": 5, "scale": null}"#)).unwrap();
        assert_eq!((raw.text.as_deref(), raw.scale), (Some("5"), None));
    }

    #[test]
    fn colours() {
        assert_eq!(colour("fg", "#fff").unwrap(), [255, 255, 255, 255]);
        assert_eq!(colour("fg", "102030").unwrap(), [16, 32, 48, 255]);
        assert_eq!(colour("fg", "#10203040").unwrap(), [16, 32, 48, 64]);
    }
}
