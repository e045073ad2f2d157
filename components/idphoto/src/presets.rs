//! The standard photo sizes and the head-geometry rule each one imposes.
//!
//! Fractions are of the photo's height: `head` is crown (top of the hair) to chin, `top` is the
//! gap between the photo's top edge and the crown. The target a crop aims for is the middle of
//! each range. Pixel sizes are the mm size at the preset's dpi, rounded.

use serde::Serialize;

/// Allowed range of a fraction of the photo's height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    pub const fn new(min: f32, max: f32) -> Self {
        Range { min, max }
    }

    pub fn target(&self) -> f32 {
        (self.min + self.max) / 2.0
    }

    pub fn contains(&self, v: f32) -> bool {
        (self.min..=self.max).contains(&v)
    }
}

/// What a preset requires of the head's placement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadRule {
    /// Crown to chin, fraction of the photo's height.
    pub head: Range,
    /// Top edge to crown, fraction of the photo's height.
    pub top: Range,
    /// Eye line measured from the bottom edge, fraction of the height, where the rule says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eyes_from_bottom: Option<Range>,
    /// The rule in words, with where it comes from.
    pub source: &'static str,
}

/// A standard size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preset {
    pub id: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
    pub width_px: u32,
    pub height_px: u32,
    pub width_mm: f32,
    pub height_mm: f32,
    pub dpi: u32,
    pub head: HeadRule,
}

/// Common studio practice for Chinese "inch" photos: no national standard fixes the head, the
/// usual guidance is a head of about 55–60% of the height with a 6–12% gap above the hair.
const CN_STUDIO: HeadRule = HeadRule {
    head: Range::new(0.52, 0.64),
    top: Range::new(0.06, 0.12),
    eyes_from_bottom: None,
    source:
        "studio practice for Chinese inch photos: head 52-64% of the height, 6-12% above the hair",
};

/// ICAO 9303 part 3 / EU Schengen visa photo guidance: 35x45 mm, chin to crown 32-36 mm.
const ICAO_35X45: HeadRule = HeadRule {
    head: Range::new(32.0 / 45.0, 36.0 / 45.0),
    top: Range::new(0.04, 0.11),
    eyes_from_bottom: None,
    source: "ICAO 9303 / Schengen visa: chin to crown 32-36 mm of 45 mm",
};

const fn px(mm: f32, dpi: u32) -> u32 {
    // Rounded mm → px at `dpi` (const-friendly).
    ((mm * dpi as f32 / 25.4) + 0.5) as u32
}

/// A preset specified in millimetres, printed at 300 dpi.
const fn at_300_dpi(
    (id, name_en, name_zh): (&'static str, &'static str, &'static str),
    (width_mm, height_mm): (f32, f32),
    head: HeadRule,
) -> Preset {
    Preset {
        id,
        name_en,
        name_zh,
        width_px: px(width_mm, 300),
        height_px: px(height_mm, 300),
        width_mm,
        height_mm,
        dpi: 300,
        head,
    }
}

/// Every preset, in the order `GET /idphoto/sizes` lists them.
pub const PRESETS: &[Preset] = &[
    // Chinese photo sizes as sold by studios: 1 inch 25x35 mm (295x413 px at 300 dpi) etc.
    at_300_dpi(("cn-1inch", "1 inch", "一寸"), (25.0, 35.0), CN_STUDIO),
    at_300_dpi(("cn-small-1inch", "small 1 inch", "小一寸"), (22.0, 32.0), CN_STUDIO),
    at_300_dpi(("cn-large-1inch", "large 1 inch", "大一寸"), (33.0, 48.0), CN_STUDIO),
    at_300_dpi(("cn-2inch", "2 inch", "二寸"), (35.0, 49.0), CN_STUDIO),
    at_300_dpi(("cn-large-2inch", "large 2 inch", "大二寸"), (35.0, 53.0), CN_STUDIO),
    at_300_dpi(("cn-small-2inch", "small 2 inch", "小二寸"), (35.0, 45.0), CN_STUDIO),
    // GA 461-2004 (resident ID card photos): 26x32 mm, 358x441 px at 350 dpi, the hair 7-21 px
    // below the top edge, head width about 207 px (a head of roughly 61-70% of the height).
    Preset {
        id: "cn-id-card",
        name_en: "Chinese resident ID card",
        name_zh: "身份证",
        width_px: 358,
        height_px: 441,
        width_mm: 26.0,
        height_mm: 32.0,
        dpi: 350,
        head: HeadRule {
            head: Range::new(0.61, 0.70),
            top: Range::new(7.0 / 441.0, 21.0 / 441.0),
            eyes_from_bottom: None,
            source: "GA 461-2004: hair top 7-21 px from the top edge, head width about 207 px",
        },
    },
    // Chinese passport (exit-entry administration): 33x48 mm, crown to chin 28-33 mm, crown
    // 3-5 mm below the top edge.
    at_300_dpi(
        ("cn-passport", "Chinese passport", "护照"),
        (33.0, 48.0),
        HeadRule {
            head: Range::new(28.0 / 48.0, 33.0 / 48.0),
            top: Range::new(3.0 / 48.0, 5.0 / 48.0),
            eyes_from_bottom: None,
            source: "Chinese passport: head 28-33 mm of 48 mm, crown 3-5 mm below the top edge",
        },
    ),
    // U.S. Department of State: 2x2 in (600x600 px), head 1-1 3/8 in (50-69%), eyes 1 1/8-1 3/8
    // in from the bottom (56-69%).
    at_300_dpi(
        ("us-passport", "U.S. passport and visa", "美国护照/签证"),
        (50.8, 50.8),
        HeadRule {
            head: Range::new(0.50, 0.69),
            top: Range::new(0.04, 0.14),
            eyes_from_bottom: Some(Range::new(0.56, 0.69)),
            source: "U.S. State Department: head 1-1 3/8 in of 2 in, eyes 1 1/8-1 3/8 in from the bottom",
        },
    ),
    at_300_dpi(
        ("schengen", "Schengen visa", "申根签证"),
        (35.0, 45.0),
        ICAO_35X45,
    ),
    // HM Passport Office: 35x45 mm, head 29-34 mm from chin to crown.
    at_300_dpi(
        ("uk", "UK passport and visa", "英国护照/签证"),
        (35.0, 45.0),
        HeadRule {
            head: Range::new(29.0 / 45.0, 34.0 / 45.0),
            top: Range::new(0.04, 0.11),
            eyes_from_bottom: None,
            source: "HM Passport Office: chin to crown 29-34 mm of 45 mm",
        },
    ),
    // Korean passport and visa photos follow ICAO: 35x45 mm, crown to chin 32-36 mm.
    at_300_dpi(
        ("korea-visa", "Korean visa", "韩国签证"),
        (35.0, 45.0),
        ICAO_35X45,
    ),
    // CET (college English test) registration photos are specified in pixels: 144x192.
    Preset {
        id: "cet",
        name_en: "CET exam",
        name_zh: "英语四六级",
        width_px: 144,
        height_px: 192,
        width_mm: 144.0 * 25.4 / 300.0,
        height_mm: 192.0 * 25.4 / 300.0,
        dpi: 300,
        head: CN_STUDIO,
    },
];

/// The default preset.
pub const DEFAULT: &str = "cn-1inch";

/// Looks a preset up by id.
pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

/// A custom size: pixels and dpi given by the caller, the studio head rule.
pub fn custom(width_px: u32, height_px: u32, dpi: u32) -> Preset {
    Preset {
        id: "custom",
        name_en: "custom",
        name_zh: "自定义",
        width_px,
        height_px,
        width_mm: width_px as f32 * 25.4 / dpi as f32,
        height_mm: height_px as f32 * 25.4 / dpi as f32,
        dpi,
        head: CN_STUDIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_sizes_match_the_published_ones() {
        let size = |id| {
            let p = find(id).unwrap();
            (p.width_px, p.height_px)
        };
        assert_eq!(size("cn-1inch"), (295, 413));
        assert_eq!(size("cn-2inch"), (413, 579));
        assert_eq!(size("cn-large-2inch"), (413, 626));
        assert_eq!(size("cn-small-2inch"), (413, 531));
        assert_eq!(size("cn-id-card"), (358, 441));
        assert_eq!(size("us-passport"), (600, 600));
        assert_eq!(size("schengen"), (413, 531));
        assert_eq!(size("cet"), (144, 192));
    }

    #[test]
    fn every_rule_is_satisfiable() {
        for p in PRESETS {
            let r = p.head;
            assert!(r.head.min < r.head.max && r.top.min < r.top.max, "{}", p.id);
            assert!(r.head.max + r.top.max < 1.0, "{}", p.id);
        }
        assert!(PRESETS.iter().all(|p| find(p.id) == Some(p)));
    }
}
