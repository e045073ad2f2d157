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
    /// Background colours the standard accepts (names of `options::BACKGROUNDS`), the one a
    /// photo gets without `bg` first.
    pub backgrounds: &'static [&'static str],
    /// Where the rules are published.
    pub source_url: &'static str,
}

/// Backgrounds Chinese studios offer for inch photos (résumés, exams, forms): blue first.
const STUDIO_COLOURS: &[&str] = &["blue", "white", "red"];
/// A white background only.
const WHITE: &[&str] = &["white"];
/// "Plain, light-coloured": ICAO 9303's wording, as most passport offices repeat it.
const LIGHT: &[&str] = &["white", "light-gray", "light-blue"];

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
    (backgrounds, source_url): (&'static [&'static str], &'static str),
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
        backgrounds,
        source_url,
    }
}

/// Chinese studio practice has no single publisher; the national standard for photo sizes.
const CN_STUDIO_SOURCE: &str = "https://openstd.samr.gov.cn/";
const ICAO_9303: &str = "https://www.icao.int/publications/pages/publication.aspx?docnum=9303";

/// Every preset, in the order `GET /idphoto/sizes` lists them.
pub const PRESETS: &[Preset] = &[
    // Chinese photo sizes as sold by studios: 1 inch 25x35 mm (295x413 px at 300 dpi) etc.
    at_300_dpi(("cn-1inch", "1 inch", "一寸"), (25.0, 35.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
    at_300_dpi(("cn-small-1inch", "small 1 inch", "小一寸"), (22.0, 32.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
    at_300_dpi(("cn-large-1inch", "large 1 inch", "大一寸"), (33.0, 48.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
    at_300_dpi(("cn-2inch", "2 inch", "二寸"), (35.0, 49.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
    at_300_dpi(("cn-large-2inch", "large 2 inch", "大二寸"), (35.0, 53.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
    at_300_dpi(("cn-small-2inch", "small 2 inch", "小二寸"), (35.0, 45.0), CN_STUDIO, (STUDIO_COLOURS, CN_STUDIO_SOURCE)),
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
            source: "GA 461-2004: hair top 7-21 px from the top edge, head width about 207 px, white background",
        },
        backgrounds: WHITE,
        source_url: "https://openstd.samr.gov.cn/",
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
            source: "Chinese passport: head 28-33 mm of 48 mm, crown 3-5 mm below the top edge, white background",
        },
        (WHITE, "https://www.nia.gov.cn/"),
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
            source: "U.S. State Department: head 1-1 3/8 in of 2 in, eyes 1 1/8-1 3/8 in from the bottom, white or off-white background",
        },
        (
            WHITE,
            "https://travel.state.gov/content/travel/en/passports/how-apply/photos.html",
        ),
    ),
    at_300_dpi(
        ("schengen", "Schengen visa", "申根签证"),
        (35.0, 45.0),
        ICAO_35X45,
        (LIGHT, ICAO_9303),
    ),
    // HM Passport Office: 35x45 mm, head 29-34 mm from chin to crown.
    at_300_dpi(
        ("uk", "UK passport and visa", "英国护照/签证"),
        (35.0, 45.0),
        HeadRule {
            head: Range::new(29.0 / 45.0, 34.0 / 45.0),
            top: Range::new(0.04, 0.11),
            eyes_from_bottom: None,
            source: "HM Passport Office: chin to crown 29-34 mm of 45 mm, plain cream or light grey background",
        },
        (&["light-gray", "gray"], "https://www.gov.uk/photos-for-passports"),
    ),
    // Korean passport and visa photos follow ICAO: 35x45 mm, crown to chin 32-36 mm.
    at_300_dpi(
        ("korea-visa", "Korean visa", "韩国签证"),
        (35.0, 45.0),
        ICAO_35X45,
        (WHITE, "https://www.passport.go.kr/"),
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
        backgrounds: &["blue", "white"],
        source_url: "https://cet.neea.edu.cn/",
    },
    // Chinese visa (visa application service centres): 33x48 mm, head 28-33 mm, crown 3-5 mm
    // below the top edge, white background.
    at_300_dpi(
        ("cn-visa", "Chinese visa", "中国签证"),
        (33.0, 48.0),
        HeadRule {
            head: Range::new(28.0 / 48.0, 33.0 / 48.0),
            top: Range::new(3.0 / 48.0, 5.0 / 48.0),
            eyes_from_bottom: None,
            source: "Chinese visa: head 28-33 mm of 48 mm, crown 3-5 mm below the top edge, white background",
        },
        (WHITE, "https://www.visaforchina.cn/"),
    ),
    // Chinese driving licence: small 1 inch (22x32 mm) on white.
    at_300_dpi(
        ("cn-driving-licence", "Chinese driving licence", "驾驶证"),
        (22.0, 32.0),
        HeadRule {
            source: "Chinese driving licence (GA 482): small 1 inch, white background; head as studio practice",
            ..CN_STUDIO
        },
        (WHITE, "https://gab.122.gov.cn/"),
    ),
    // Canada (IRCC): 50x70 mm, chin to crown 31-36 mm, plain white or light background.
    at_300_dpi(
        ("canada-passport", "Canadian passport", "加拿大护照"),
        (50.0, 70.0),
        HeadRule {
            head: Range::new(31.0 / 70.0, 36.0 / 70.0),
            top: Range::new(0.05, 0.15),
            eyes_from_bottom: None,
            source: "IRCC: 50x70 mm, chin to crown 31-36 mm, plain white or light-coloured background",
        },
        (
            LIGHT,
            "https://www.canada.ca/en/immigration-refugees-citizenship/services/canadian-passports/photos.html",
        ),
    ),
    // Australian Passport Office: 35-40 x 45-50 mm, chin to crown 32-36 mm, plain white or
    // light grey background.
    at_300_dpi(
        ("australia-passport", "Australian passport", "澳大利亚护照"),
        (35.0, 45.0),
        HeadRule {
            source: "Australian Passport Office: chin to crown 32-36 mm, plain white or light grey background",
            ..ICAO_35X45
        },
        (
            &["white", "light-gray"],
            "https://www.passports.gov.au/getting-passport-how-it-works/photo-guidelines",
        ),
    ),
    // India (Ministry of External Affairs): 2x2 in, head 1-1 3/8 in, plain white background.
    at_300_dpi(
        ("india-passport", "Indian passport and visa", "印度护照/签证"),
        (50.8, 50.8),
        HeadRule {
            head: Range::new(0.50, 0.69),
            top: Range::new(0.04, 0.14),
            eyes_from_bottom: None,
            source: "Passport Seva: 2x2 in, head 1-1 3/8 in from chin to crown, plain white background",
        },
        (WHITE, "https://www.passportindia.gov.in/"),
    ),
    // Japan (MOFA): 35x45 mm, chin to crown 34 mm ± 2, plain background.
    at_300_dpi(
        ("japan-passport", "Japanese passport", "日本护照"),
        (35.0, 45.0),
        HeadRule {
            source: "MOFA Japan: 35x45 mm, chin to crown 32-36 mm (34 ± 2), plain light background",
            ..ICAO_35X45
        },
        (LIGHT, "https://www.mofa.go.jp/mofaj/toko/passport/ic_photo.html"),
    ),
    // Germany (Bundesdruckerei's photo sample chart): 35x45 mm, 32-36 mm, neutral light grey
    // background preferred.
    at_300_dpi(
        ("germany-id", "German ID card and passport", "德国身份证/护照"),
        (35.0, 45.0),
        HeadRule {
            source: "Bundesdruckerei photo sample chart: chin to crown 32-36 mm, uniform light background, neutral grey preferred",
            ..ICAO_35X45
        },
        (
            &["light-gray", "white", "light-blue"],
            "https://www.personalausweisportal.de/",
        ),
    ),
    // France (service-public.fr): 35x45 mm, 32-36 mm, plain light background (light blue,
    // light grey), white forbidden.
    at_300_dpi(
        ("france-id", "French ID card and passport", "法国身份证/护照"),
        (35.0, 45.0),
        HeadRule {
            source: "service-public.fr: chin to crown 32-36 mm, plain light background (light blue, light grey), white forbidden",
            ..ICAO_35X45
        },
        (
            &["light-gray", "light-blue"],
            "https://www.service-public.fr/particuliers/vosdroits/F10619",
        ),
    ),
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
        backgrounds: STUDIO_COLOURS,
        source_url: CN_STUDIO_SOURCE,
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

    #[test]
    fn at_least_twenty_standards_each_with_its_backgrounds_and_source() {
        assert!(PRESETS.len() >= 20, "{} presets", PRESETS.len());
        for p in PRESETS {
            assert!(!p.backgrounds.is_empty(), "{}", p.id);
            for bg in p.backgrounds {
                assert!(
                    crate::options::BACKGROUNDS
                        .iter()
                        .any(|(name, _)| name == bg),
                    "{}: unknown background {bg}",
                    p.id
                );
            }
            assert!(p.source_url.starts_with("https://"), "{}", p.id);
        }
        assert_eq!(find("us-passport").unwrap().backgrounds[0], "white");
        assert!(!find("france-id").unwrap().backgrounds.contains(&"white"));
    }
}
