//! Colour management of uploads ([`super::upload`]): photos in a wider RGB space than sRGB
//! (Display P3 from phones, Adobe RGB from cameras) are converted to sRGB through their
//! embedded ICC profile (`moxcms`, the colour engine the `image` crate itself uses). Without
//! this their colours would be read as sRGB numbers and come out dull.
//!
//! Invariant: pixels change only for a parsable RGB profile whose primaries are not sRGB's;
//! sRGB-tagged, untagged, grey and unreadable profiles leave the pixels as they are.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions, Xyzd};

/// Whether `profile`'s primaries are sRGB's (the common `sRGB IEC61966-2.1` tag, and its
/// re-encodings, round the colorants slightly differently).
fn has_srgb_primaries(profile: &ColorProfile) -> bool {
    let srgb = ColorProfile::new_srgb();
    let close = |a: Xyzd, b: Xyzd| {
        (a.x - b.x).abs() < 0.003 && (a.y - b.y).abs() < 0.003 && (a.z - b.z).abs() < 0.003
    };
    close(profile.red_colorant, srgb.red_colorant)
        && close(profile.green_colorant, srgb.green_colorant)
        && close(profile.blue_colorant, srgb.blue_colorant)
}

/// Converts interleaved RGB8 `pixels` described by the ICC profile `icc` to sRGB in place;
/// `true` when they were converted.
pub fn to_srgb(pixels: &mut [u8], icc: &[u8]) -> bool {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return false;
    };
    if profile.color_space != DataColorSpace::Rgb || has_srgb_primaries(&profile) {
        return false;
    }
    let Ok(transform) = profile.create_transform_8bit(
        Layout::Rgb,
        &ColorProfile::new_srgb(),
        Layout::Rgb,
        TransformOptions::default(),
    ) else {
        return false;
    };
    let source = pixels.to_vec();
    transform.transform(&source, pixels).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icc(profile: ColorProfile) -> Vec<u8> {
        profile.encode().unwrap()
    }

    #[test]
    fn display_p3_is_converted_and_srgb_left_alone() {
        // Pure P3 red is outside sRGB: it clips to sRGB red; a P3 grey stays grey.
        let mut pixels = vec![255, 0, 0, 128, 128, 128];
        assert!(to_srgb(&mut pixels, &icc(ColorProfile::new_display_p3())));
        assert!(
            pixels[0] == 255 && pixels[1] < 10 && pixels[2] < 10,
            "{pixels:?}"
        );
        assert!(
            pixels[3..].iter().all(|&v| v.abs_diff(128) <= 1),
            "{pixels:?}"
        );
        // A P3 mid red is a more saturated sRGB red.
        let mut pixels = vec![180, 60, 60];
        assert!(to_srgb(&mut pixels, &icc(ColorProfile::new_display_p3())));
        assert!(pixels[0] > 185 && pixels[1] < 60, "{pixels:?}");

        let mut pixels = vec![180, 60, 60];
        assert!(!to_srgb(&mut pixels, &icc(ColorProfile::new_srgb())));
        assert!(!to_srgb(&mut pixels, b"not a profile"));
        assert_eq!(pixels, [180, 60, 60]);
    }
}
