//! Request options: parsed from query and form fields, validated, every error naming its
//! parameter.

use crate::presets::{self, Preset};

/// Largest photo side we produce, pixels (a print sheet may be larger).
pub const MAX_SIDE: u32 = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Solid,
    /// The colour at the top fading to a lighter tint at the bottom.
    Gradient,
}

/// JPEG colour resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// Colour at half the resolution each way (4:2:0), as cameras, libjpeg, Pillow and OpenCV
    /// write by default: a quarter smaller and a third faster than `Full`.
    Half,
    /// Colour at full resolution (4:4:4), for prints where a coloured edge must stay crisp.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    None,
    /// A 6x4 inch print.
    SixInch,
    /// An A4 sheet.
    A4,
}

/// Named background colours: Chinese ID blue and red as studios use them, white, and the light
/// greys passport offices ask for.
pub const BACKGROUNDS: &[(&str, [u8; 3])] = &[
    ("blue", [0x43, 0x8e, 0xdb]),
    ("light-blue", [0x8e, 0xc5, 0xee]),
    ("white", [0xff, 0xff, 0xff]),
    ("red", [0xff, 0x00, 0x00]),
    ("gray", [0xd9, 0xd9, 0xd9]),
    ("light-gray", [0xf0, 0xf0, 0xf0]),
];

#[derive(Debug, Clone)]
pub struct Options {
    pub preset: Preset,
    pub bg: [u8; 3],
    pub render: Render,
    pub format: Format,
    pub quality: u8,
    pub chroma: Chroma,
    pub max_kb: Option<u32>,
    pub dpi: u32,
    pub layout: Layout,
    pub matte: bool,
    /// Segmentation model; the host's default when absent.
    pub model: Option<String>,
    /// What the photo will have that its standard does not accept.
    pub warnings: Vec<Warning>,
    /// Refuse hair that runs off the top edge instead of making the photo with a warning.
    pub strict: bool,
}

/// Something a finished photo has that a demanding reader would want to know: answered in
/// `x-idphoto-warnings` (comma-separated) and the JSON `warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The background colour is not one the size's standard accepts.
    BackgroundNotAccepted,
    /// The hair ran off the photo's top edge; the little missing is background now.
    CrownTouchesTop,
}

impl Warning {
    pub fn code(&self) -> &'static str {
        match self {
            Warning::BackgroundNotAccepted => "background_not_accepted",
            Warning::CrownTouchesTop => "crown_touches_top",
        }
    }
}

pub use atelier_guest::ParamError;

const KNOWN: &[&str] = &[
    "size",
    "width_mm",
    "height_mm",
    "width_px",
    "height_px",
    "dpi",
    "bg",
    "render",
    "format",
    "quality",
    "chroma",
    "max_kb",
    "layout",
    "matte",
    "model",
    "strict",
];

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    fields: &[(String, String)],
    name: &str,
    min: T,
    max: T,
) -> Result<Option<T>, ParamError> {
    let Some(raw) = value(fields, name) else {
        return Ok(None);
    };
    let v: T = raw
        .trim()
        .parse()
        .map_err(|_| ParamError::new(name, format!("{raw:?} is not a number")))?;
    if v < min || v > max {
        return Err(ParamError::new(
            name,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(Some(v))
}

fn value<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A colour: a name from [`BACKGROUNDS`] or hex `rrggbb` (with or without `#`).
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let s = s.trim();
    if let Some((_, rgb)) = BACKGROUNDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(*rgb);
    }
    let hex = s.strip_prefix('#').unwrap_or(s);
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

fn size(fields: &[(String, String)], dpi: Option<u32>) -> Result<Preset, ParamError> {
    let mm = (
        number::<f32>(fields, "width_mm", 5.0, 300.0)?,
        number::<f32>(fields, "height_mm", 5.0, 300.0)?,
    );
    let px = (
        number::<u32>(fields, "width_px", 32, MAX_SIDE)?,
        number::<u32>(fields, "height_px", 32, MAX_SIDE)?,
    );
    let custom = mm.0.is_some() || mm.1.is_some() || px.0.is_some() || px.1.is_some();
    if custom && value(fields, "size").is_some_and(|s| s != "custom") {
        return Err(ParamError::new(
            "size",
            "give either a preset size or a custom width and height, not both",
        ));
    }
    match (mm, px) {
        ((None, None), (None, None)) => {
            let id = value(fields, "size").unwrap_or(presets::DEFAULT);
            presets::find(id).copied().ok_or_else(|| {
                let ids: Vec<_> = presets::PRESETS.iter().map(|p| p.id).collect();
                ParamError::new(
                    "size",
                    format!("unknown size {id:?}; one of {} or custom", ids.join(", ")),
                )
            })
        }
        ((Some(w), Some(h)), (None, None)) => {
            let dpi = dpi.ok_or_else(|| {
                ParamError::new("dpi", "a size in millimetres needs a dpi to become pixels")
            })?;
            let to_px = |mm: f32| (mm * dpi as f32 / 25.4).round() as u32;
            let (wp, hp) = (to_px(w), to_px(h));
            if !(32..=MAX_SIDE).contains(&wp) || !(32..=MAX_SIDE).contains(&hp) {
                return Err(ParamError::new(
                    "dpi",
                    format!(
                        "{w}x{h} mm at {dpi} dpi is {wp}x{hp} px; each side must be 32..{MAX_SIDE}"
                    ),
                ));
            }
            let mut p = presets::custom(wp, hp, dpi);
            p.width_mm = w;
            p.height_mm = h;
            Ok(p)
        }
        ((None, None), (Some(w), Some(h))) => Ok(presets::custom(w, h, dpi.unwrap_or(300))),
        ((Some(_), None), _) | ((None, Some(_)), _) => Err(ParamError::new(
            if mm.0.is_none() {
                "width_mm"
            } else {
                "height_mm"
            },
            "give both width_mm and height_mm",
        )),
        (_, (Some(_), None)) | (_, (None, Some(_))) => Err(ParamError::new(
            if px.0.is_none() {
                "width_px"
            } else {
                "height_px"
            },
            "give both width_px and height_px",
        )),
        _ => Err(ParamError::new(
            "width_px",
            "give the size in millimetres or in pixels, not both",
        )),
    }
}

impl Options {
    /// Validates decoded fields (query and form together; a later field wins).
    pub fn parse(fields: &[(String, String)]) -> Result<Options, ParamError> {
        if let Some((k, _)) = fields.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
            return Err(ParamError::new(
                k,
                format!("unknown parameter; known: {}", KNOWN.join(", ")),
            ));
        }
        let dpi = number::<u32>(fields, "dpi", 72, 1200)?;
        let preset = size(fields, dpi)?;
        let named = |name: &str| {
            BACKGROUNDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, rgb)| *rgb)
        };
        let bg = match value(fields, "bg") {
            None => named(preset.backgrounds[0]).unwrap_or(BACKGROUNDS[0].1),
            Some(s) => parse_colour(s).ok_or_else(|| {
                let names: Vec<_> = BACKGROUNDS.iter().map(|(n, _)| *n).collect();
                ParamError::new(
                    "bg",
                    format!(
                        "{s:?} is neither a colour name ({}) nor hex rrggbb",
                        names.join(", ")
                    ),
                )
            })?,
        };
        let render = match value(fields, "render").unwrap_or("solid") {
            "solid" => Render::Solid,
            "gradient" => Render::Gradient,
            other => {
                return Err(ParamError::new(
                    "render",
                    format!("{other:?}: use solid or gradient"),
                ))
            }
        };
        let matte = match value(fields, "matte").unwrap_or("false") {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ParamError::new(
                    "matte",
                    format!("{other:?}: use true or false"),
                ))
            }
        };
        let format = match value(fields, "format") {
            None if matte => Format::Png,
            None | Some("jpeg" | "jpg") => Format::Jpeg,
            Some("png") => Format::Png,
            Some(other) => {
                return Err(ParamError::new(
                    "format",
                    format!("{other:?}: use jpeg or png"),
                ))
            }
        };
        if matte && format == Format::Jpeg {
            return Err(ParamError::new(
                "format",
                "a transparent cut-out (matte=true) needs png",
            ));
        }
        let layout = match value(fields, "layout").unwrap_or("none") {
            "none" => Layout::None,
            "6inch" => Layout::SixInch,
            "a4" => Layout::A4,
            other => {
                return Err(ParamError::new(
                    "layout",
                    format!("{other:?}: use none, 6inch or a4"),
                ))
            }
        };
        if matte && layout != Layout::None {
            return Err(ParamError::new(
                "layout",
                "a print sheet needs a background; it cannot be combined with matte=true",
            ));
        }
        let chroma = match value(fields, "chroma").unwrap_or("half") {
            "half" => Chroma::Half,
            "full" => Chroma::Full,
            other => {
                return Err(ParamError::new(
                    "chroma",
                    format!("{other:?}: use half or full"),
                ))
            }
        };
        let strict = match value(fields, "strict").unwrap_or("false") {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ParamError::new(
                    "strict",
                    format!("{other:?}: use true or false"),
                ))
            }
        };
        let model = value(fields, "model").map(str::to_string);
        if model
            .as_deref()
            .is_some_and(|m| m.is_empty() || m.len() > 64)
        {
            return Err(ParamError::new("model", "give a model name"));
        }
        // A cut-out has no background to judge.
        let accepted = preset
            .backgrounds
            .iter()
            .any(|name| named(name) == Some(bg));
        let warnings = if matte || accepted {
            Vec::new()
        } else {
            vec![Warning::BackgroundNotAccepted]
        };
        Ok(Options {
            dpi: dpi.unwrap_or(preset.dpi),
            preset,
            bg,
            render,
            format,
            quality: number::<u8>(fields, "quality", 1, 100)?.unwrap_or(95),
            chroma,
            max_kb: number::<u32>(fields, "max_kb", 1, 100_000)?,
            layout,
            matte,
            model,
            warnings,
            strict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_chooses_the_background_and_judges_a_chosen_one() {
        let us = parse("size=us-passport").unwrap();
        assert_eq!(us.bg, [0xff, 0xff, 0xff]);
        assert!(us.warnings.is_empty());
        let blue = parse("size=us-passport&bg=blue").unwrap();
        assert_eq!(blue.warnings, [Warning::BackgroundNotAccepted]);
        assert!(parse("size=us-passport&bg=ffffff")
            .unwrap()
            .warnings
            .is_empty());
        assert_eq!(parse("size=cn-1inch").unwrap().bg, [0x43, 0x8e, 0xdb]);
        assert!(parse("size=cn-1inch&bg=red").unwrap().warnings.is_empty());
        assert_eq!(
            parse("size=france-id&bg=white").unwrap().warnings,
            [Warning::BackgroundNotAccepted]
        );
        assert!(parse("size=france-id&bg=white&matte=true&format=png")
            .unwrap()
            .warnings
            .is_empty());
    }

    fn parse(q: &str) -> Result<Options, ParamError> {
        let fields: Vec<(String, String)> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        Options::parse(&fields)
    }

    #[test]
    fn defaults_are_a_blue_one_inch_jpeg() {
        let o = parse("").unwrap();
        assert_eq!(o.preset.id, "cn-1inch");
        assert_eq!(o.bg, [0x43, 0x8e, 0xdb]);
        assert_eq!((o.format, o.quality, o.dpi), (Format::Jpeg, 95, 300));
        assert_eq!(o.layout, Layout::None);
    }

    #[test]
    fn custom_sizes_in_mm_and_px() {
        let o = parse("width_mm=35&height_mm=45&dpi=600").unwrap();
        assert_eq!(
            (o.preset.width_px, o.preset.height_px, o.dpi),
            (827, 1063, 600)
        );
        let o = parse("width_px=300&height_px=400").unwrap();
        assert_eq!(
            (o.preset.width_px, o.preset.height_px, o.dpi),
            (300, 400, 300)
        );
        assert_eq!(parse("width_mm=35&height_mm=45").unwrap_err().param, "dpi");
        assert_eq!(parse("width_px=300").unwrap_err().param, "height_px");
        assert_eq!(
            parse("size=uk&width_px=300&height_px=400")
                .unwrap_err()
                .param,
            "size"
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (q, param) in [
            ("size=passport", "size"),
            ("bg=plaid", "bg"),
            ("bg=%2312345", "bg"),
            ("render=3d", "render"),
            ("format=gif", "format"),
            ("quality=0", "quality"),
            ("max_kb=x", "max_kb"),
            ("layout=a3", "layout"),
            ("matte=yes", "matte"),
            ("chroma=quarter", "chroma"),
            ("matte=true&format=jpeg", "format"),
            ("matte=true&layout=a4", "layout"),
            ("dpi=5", "dpi"),
            ("width_px=10&height_px=10", "width_px"),
            ("colour=red", "colour"),
        ] {
            assert_eq!(parse(q).unwrap_err().param, param, "{q}");
        }
    }

    #[test]
    fn colours_by_name_and_hex() {
        assert_eq!(parse_colour("white"), Some([255, 255, 255]));
        assert_eq!(parse_colour("#102030"), Some([16, 32, 48]));
        assert_eq!(parse_colour("A0b0C0"), Some([160, 176, 192]));
        assert_eq!(parse_colour("#12345g"), None);
    }
}
