//! Codes photographed on bent surfaces (`common/bent.rs`: cylinders, waves, crumples; a
//! standard border on paper or a thin one on a dark surface). Each case here is one that the
//! plain perspective sampling (zxing-cpp's, `decode_plain`) misses, so each fails without the
//! bent-grid stage; `bench/qr-bent.sh` has the whole table beside zxing-cpp.

#[path = "common/bent.rs"]
mod bent;

use bent::{Case, Warp};
use qr::decode::{decode, decode_plain, Effort};

fn reads(case: &Case, plain: bool) -> bool {
    let picture = qr::load::load(&case.photo()).unwrap();
    let codes = if plain {
        decode_plain(&picture, Effort::Fast)
    } else {
        decode(&picture, Effort::Fast)
    };
    codes.iter().any(|c| c.text == case.text())
}

fn case(warp: Warp, version: u8, border: f64) -> Case {
    Case {
        version,
        warp,
        border,
        dark_surround: border < 4.0,
        seed: u64::from(version),
    }
}

#[test]
fn bent_codes_one_perspective_map_misses_are_read() {
    let cases = [
        case(Warp::Cylinder(0.6), 4, 1.0),
        case(Warp::Cylinder(0.6), 6, 4.0),
        case(Warp::Cylinder(0.6), 10, 0.25),
        case(Warp::Cylinder(0.5), 2, 4.0),
        case(Warp::Wave(0.5), 1, 4.0),
        case(Warp::Wave(0.5), 2, 1.0),
        case(Warp::Wave(0.75), 6, 0.25),
        case(Warp::Wave(1.0), 10, 1.0),
        case(Warp::Crumple(0.5), 4, 4.0),
        case(Warp::Crumple(0.75), 10, 0.25),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        if reads(case, true) {
            failures.push(format!(
                "{}: the plain sampling reads it (not a bent case)",
                case.name()
            ));
        }
        if !reads(case, false) {
            failures.push(format!("{}: not read", case.name()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn flat_codes_with_a_thin_border_on_a_dark_surface_are_read() {
    for version in [1, 2, 4, 6, 10] {
        for border in [1.0, 0.25] {
            let case = case(Warp::Flat, version, border);
            assert!(reads(&case, false), "{}", case.name());
        }
    }
}

#[test]
fn a_bent_codes_corners_enclose_it() {
    let case = case(Warp::Wave(0.5), 6, 4.0);
    let picture = qr::load::load(&case.photo()).unwrap();
    let codes = decode(&picture, Effort::Fast);
    assert_eq!(codes.len(), 1);
    // The symbol is drawn centred, 41 modules of 6 px: its corners lie about 123 px each way
    // from the photo's centre (turned by up to 7°, bent by half a module).
    let (w, h) = picture.dimensions();
    let centre = [w as f32 / 2.0, h as f32 / 2.0];
    for [x, y] in codes[0].corners {
        let reach = (x - centre[0]).hypot(y - centre[1]);
        assert!(
            (150.0..205.0).contains(&reach),
            "corner ({x}, {y}) is {reach} px from the centre: {:?}",
            codes[0].corners
        );
    }
}

#[test]
fn over_the_bench_set_the_bent_stage_loses_nothing_and_reads_a_third_more() {
    let cases = bent::bench_cases(1);
    let (mut before, mut after, mut lost) = (0, 0, Vec::new());
    for case in &cases {
        let (plain, bent) = (reads(case, true), reads(case, false));
        before += usize::from(plain);
        after += usize::from(bent);
        if plain && !bent {
            lost.push(case.name());
        }
    }
    assert!(
        lost.is_empty(),
        "read plainly, lost with bent grids: {lost:?}"
    );
    assert!(
        3 * after >= 4 * before,
        "{} photos: {before} read before, {after} after",
        cases.len()
    );
}
