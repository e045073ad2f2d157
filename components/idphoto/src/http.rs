//! HTTP surface of the ID-photo function: routes, where options come from, status codes.
//! Made photos carry `Server-Timing` with the time of each stage (decode, faces, layout,
//! segment, compose), so a slow request shows where its time went.

use atelier_guest::{Request, Response, ServerTiming};
use atelier_vision_guest::{
    decode_upload, error_code, faces, segmentation, to_image, vision_response, Image, VisionError,
};
use base64::Engine;
use serde_json::json;

use crate::geometry::{self, FaceBox};
use crate::matting::Source;
use crate::options::{Options, Warning};
use crate::photo::{self, PhotoError};
use crate::presets;
use crate::region::{Region, MODEL_SIDE};

/// The fast segmentation model that places the crop before the detailed model segments it
/// (the host's manifest names it; without it, the generous region is segmented instead).
const LAYOUT_MODEL: &str = "selfie";

/// Share of the detailed matte that may be person where the fast model's is background. The
/// two differ at hair and edges (a few percent); a detailed model that took the wall for the
/// person is far beyond it (fr_obama cut at the chest: ~40%).
const MAX_DISAGREEMENT: f32 = 0.15;

/// How the segmented region was chosen, answered as `x-idphoto-placement` (and `placement`
/// in JSON), so a photo made on the slower fallback path says so:
/// - `selfie`: [`LAYOUT_MODEL`]'s matte placed the crop; the detailed model segmented it;
/// - `direct`: the request asked for [`LAYOUT_MODEL`] itself, which segments the generous region;
/// - `whole`: the detailed model's matte of the placed region disagreed with the fast model's
///   (a salient-object model can take a whole tight crop for the subject, wall and all, when
///   the photo is cut at the chest), so the whole photo was segmented instead;
/// - `fallback:<reason>`: placing failed, the generous region was segmented instead; the reason
///   is the vision error's code (`overloaded`, `vision_failed`, `unknown_model`, …), or
///   `refused` when the photo was refused on the fast matte (the detailed matte then decides).
struct Placement(String);

/// The photo as the host holds it: the warp's crops and shrinks run there, natively, and only
/// the pixels the output needs come into the component.
struct HostPhoto<'a> {
    image: &'a Image,
    size: (u32, u32),
}

impl HostPhoto<'_> {
    /// The host's crop of `region`, for a model to read (no pixels cross).
    fn crop(&self, region: Region) -> Result<Image, VisionError> {
        self.image
            .crop(region.x, region.y, region.width, region.height)
    }
}

impl Source for HostPhoto<'_> {
    fn dimensions(&self) -> (u32, u32) {
        self.size
    }

    fn read(&self, (x, y, w, h): (u32, u32, u32, u32), to: (u32, u32)) -> Result<Vec<u8>, String> {
        let describe = |e: VisionError| format!("the photo's pixels: {e:?}");
        let part = self.image.crop(x, y, w, h).map_err(describe)?;
        if to == (w, h) {
            return Ok(part.rgb());
        }
        Ok(part.resize(to.0, to.1).map_err(describe)?.rgb())
    }
}

/// Segments the region the crop needs and makes the photo; when the crop turns out to read
/// beyond that region, or the region's matte disagrees with the fast model's, segments the
/// whole photo at the model's own size and makes it again.
/// Also returns the region whose matte was used and how it was placed. Marks `layout`,
/// `segment` and `compose` on `timing`.
///
/// The region: for the detailed (default) model, the crop placed with [`LAYOUT_MODEL`]'s
/// matte plus a margin, at a fixed detail per face height; for the fast model itself, or when
/// that placement fails, the generous region around the face at [`MODEL_SIDE`].
fn segment_and_make(
    photo: &HostPhoto,
    face: &FaceBox,
    options: &Options,
    eye_angle: &impl Fn(&image::RgbImage) -> Option<f32>,
    timing: &mut ServerTiming,
) -> Result<(Result<photo::Finished, PhotoError>, Region, Placement), Response> {
    let size = photo.size;
    let model = options.model.as_deref();
    let broad = Region::around(face, size);
    let (region, side, mut placement, fast) = match model {
        Some(LAYOUT_MODEL) => (broad, MODEL_SIDE, Placement("direct".into()), None),
        _ => {
            let placed = placed_region(photo, face, options, broad);
            timing.mark("layout");
            match placed {
                Ok((tight, fast)) => (
                    tight,
                    tight.model_side(face),
                    Placement(LAYOUT_MODEL.into()),
                    Some(fast),
                ),
                Err(reason) => (
                    broad,
                    MODEL_SIDE,
                    Placement(format!("fallback:{reason}")),
                    None,
                ),
            }
        }
    };
    let matte = photo
        .crop(region)
        .and_then(|part| segmentation::segment_at(&part, model, side));
    timing.mark("segment");
    let agrees = match (&matte, &fast) {
        (Ok(alpha), Some(fast)) => region.matte(alpha, size).is_none_or(|detailed| {
            let fast = broad.matte(fast, size).expect("checked when placed");
            geometry::person_beyond(&detailed, &fast) <= MAX_DISAGREEMENT
        }),
        _ => true,
    };
    if agrees {
        let made = with_matte(matte, region, size, |matte| {
            photo::make(photo, matte, face, options, eye_angle)
        })?;
        timing.mark("compose");
        if !matches!(made, Err(PhotoError::OutsideRegion)) {
            return Ok((made, region, placement));
        }
    } else {
        placement = Placement("whole".into());
    }
    let whole = Region::whole(size);
    let matte = segmentation::segment(photo.image, model);
    timing.mark("segment");
    let made = with_matte(matte, whole, size, |matte| {
        photo::make(photo, matte, face, options, eye_angle)
    })?;
    timing.mark("compose");
    Ok((made, whole, placement))
}

/// The tight region: where [`LAYOUT_MODEL`]'s matte of the generous region places the crop,
/// plus a margin; and that matte (of `broad`). `Err` with the reason (see [`Placement`]) when
/// that model is missing, busy or failing, or the photo is refused with its matte.
fn placed_region(
    photo: &HostPhoto,
    face: &FaceBox,
    options: &Options,
    broad: Region,
) -> Result<(Region, Vec<u8>), &'static str> {
    let size = photo.size;
    // `segment-at`: the placement needs the outline, not fine detail, so the matte comes back
    // through the cheaper filter (the fast model's size is fixed; `side` changes nothing else).
    let matte = photo
        .crop(broad)
        .and_then(|part| segmentation::segment_at(&part, Some(LAYOUT_MODEL), MODEL_SIDE))
        .map_err(|e| error_code(&e))?;
    let alpha = matte;
    let matte = broad.matte(&alpha, size).ok_or("matte_size")?;
    let out = (options.preset.width_px, options.preset.height_px);
    let placement = geometry::place(face, &matte, &options.preset, out, 0.0, options.strict)
        .map_err(|_| "refused")?;
    Ok((Region::around_crop(&placement, face, size), alpha))
}

/// Runs `make` on the matte of `region` (background elsewhere in the photo), or answers the
/// vision error.
fn with_matte<T>(
    matte: Result<Vec<u8>, atelier_vision_guest::VisionError>,
    region: Region,
    size: (u32, u32),
    make: impl FnOnce(&geometry::Matte) -> T,
) -> Result<T, Response> {
    let alpha = matte.map_err(|e| vision_response(&e))?;
    let matte = region.matte(&alpha, size).ok_or_else(|| {
        Response::error(500, "vision_failed", "the matte has the wrong size", None)
    })?;
    Ok(make(&matte))
}

pub fn route(req: Request) -> Response {
    let sub = req.path_info.trim_end_matches('/').to_string();
    // HEAD is answered as GET; the server sends the headers without the body.
    match (req.method.as_str(), sub.as_str()) {
        ("GET" | "HEAD", "/sizes") => sizes(),
        ("POST", "") => make(&req),
        (_, "/sizes") => Response::method_not_allowed(&req.method, "GET, HEAD"),
        (_, "") => Response::method_not_allowed(&req.method, "POST"),
        _ => Response::not_found(&req.path),
    }
}

fn sizes() -> Response {
    let list: Vec<_> = presets::PRESETS
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "names": { "en": p.name_en, "zh": p.name_zh },
                "px": { "width": p.width_px, "height": p.height_px },
                "mm": { "width": p.width_mm, "height": p.height_mm },
                "dpi": p.dpi,
                "head": p.head,
                "backgrounds": p.backgrounds,
                "default_bg": p.backgrounds[0],
                "source_url": p.source_url,
            })
        })
        .collect();
    Response::json(200, &json!({ "default": presets::DEFAULT, "sizes": list }))
        .with_header("cache-control", "public, max-age=3600")
}

fn make(req: &Request) -> Response {
    let (upload, fields) = match atelier_guest::upload(req, "file") {
        Ok(u) => (u.bytes, u.fields),
        Err(refusal) => return refusal,
    };
    let options = match Options::parse(&fields) {
        Ok(o) => o,
        Err(e) => return Response::bad_param(&e),
    };
    let mut timing = ServerTiming::start();
    let image = match decode_upload(&upload) {
        Ok(image) => image,
        Err(e) => return e.response(),
    };
    drop(upload);
    // The photo stays in the host: the models read it there, and compositing fetches only
    // the part the output shows, already shrunk to its scale.
    let photo = HostPhoto {
        image: &image,
        size: (image.width(), image.height()),
    };
    timing.mark("decode");
    let found = match faces::detect(&image) {
        Ok(f) => f,
        Err(e) => return vision_response(&e),
    };
    timing.mark("faces");
    let boxes: Vec<FaceBox> = found
        .iter()
        .map(|f| FaceBox {
            x: f.x,
            y: f.y,
            width: f.width,
            height: f.height,
            landmarks: std::array::from_fn(|i| {
                f.landmarks.get(i).map(|p| [p.x, p.y]).unwrap_or_default()
            }),
        })
        .collect();
    let (face, rivals) = match geometry::pick_face(&boxes) {
        Ok(f) => f,
        Err(r) => return Response::error(422, r.code(), r.message(), Some("file")),
    };
    if !rivals.is_empty() {
        // Other faces as large as a person's: a second person, or faces on a painting, a poster
        // or a screen behind one. The host's detailed model's matte of the whole photo tells.
        let alpha = match segmentation::segment(&image, None) {
            Ok(a) => a,
            Err(e) => return vision_response(&e),
        };
        let (width, height) = photo.size;
        if alpha.len() != width as usize * height as usize {
            return Response::error(
                500,
                "vision_failed",
                "the matte does not fit the photo",
                None,
            );
        }
        let people =
            geometry::people_among(&rivals, &geometry::Matte::whole(&alpha, width, height));
        timing.mark("people");
        if people > 0 {
            let r = geometry::Refusal::SeveralFaces(people + 1);
            return Response::error(422, r.code(), r.message(), Some("file"));
        }
    }
    let eye_angle = |levelled: &image::RgbImage| {
        let found = faces::detect(&to_image(levelled).ok()?).ok()?;
        let largest = found.iter().max_by(|a, b| a.height.total_cmp(&b.height))?;
        let (l, r) = (largest.landmarks.first()?, largest.landmarks.get(1)?);
        Some((r.y - l.y).atan2(r.x - l.x).to_degrees())
    };
    let (made, segmented, placement) =
        match segment_and_make(&photo, &face, &options, &eye_angle, &mut timing) {
            Ok(m) => m,
            Err(r) => return r,
        };
    let finished = match made {
        Ok(f) => f,
        Err(PhotoError::Refused(r)) => {
            return Response::error(422, r.code(), r.message(), Some("file"))
        }
        Err(PhotoError::TooLarge { max_kb, smallest_kb }) => {
            return Response::error(
                422,
                "cannot_meet_max_kb",
                format!("the smallest file this size makes is {smallest_kb} KiB, over max_kb = {max_kb}; allow more, or use jpeg"),
                Some("max_kb"),
            )
        }
        Err(PhotoError::SheetTooSmall) => {
            return Response::error(
                422,
                "sheet_too_small",
                "not one copy of this size fits on the sheet",
                Some("layout"),
            )
        }
        Err(PhotoError::Failed(m)) => return Response::error(500, "encode_failed", m, None),
        Err(PhotoError::OutsideRegion) => {
            return Response::error(500, "vision_failed", "no matte covers the crop", None)
        }
        Err(PhotoError::Source(m)) => return Response::error(500, "vision_failed", m, None),
    };
    let g = &finished.geometry;
    let face_box = g.face.map(|v| v.round() as i64);
    let mut warnings: Vec<&str> = options.warnings.iter().map(|w| w.code()).collect();
    if finished.crown_touches_top {
        warnings.push(Warning::CrownTouchesTop.code());
    }
    let wants_json = req
        .header("accept")
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Response::json(
            200,
            &json!({
                "image": base64::engine::general_purpose::STANDARD.encode(&finished.bytes),
                "content_type": finished.content_type,
                "bytes": finished.bytes.len(),
                "width": finished.width,
                "height": finished.height,
                "dpi": options.dpi,
                "size": options.preset.id,
                "copies": finished.copies,
                "face": { "x": face_box[0], "y": face_box[1], "width": face_box[2], "height": face_box[3] },
                "geometry": g,
                "segmented": { "x": segmented.x, "y": segmented.y, "width": segmented.width, "height": segmented.height },
                "placement": placement.0,
                "rules": options.preset.head,
                "warnings": warnings,
            }),
        )
        .with_header("server-timing", timing.header());
    }
    let response = Response::bytes(finished.content_type, finished.bytes)
        .with_header("server-timing", timing.header())
        .with_header("x-idphoto-size", options.preset.id)
        .with_header("x-idphoto-dpi", options.dpi.to_string())
        .with_header(
            "x-idphoto-face",
            format!(
                "{},{},{},{}",
                face_box[0], face_box[1], face_box[2], face_box[3]
            ),
        )
        .with_header("x-idphoto-head-ratio", format!("{:.4}", g.head_ratio))
        .with_header("x-idphoto-top-ratio", format!("{:.4}", g.top_ratio))
        .with_header(
            "x-idphoto-eyes-ratio",
            format!("{:.4}", g.eyes_from_bottom_ratio),
        )
        .with_header("x-idphoto-tilt-deg", format!("{:.2}", g.tilt_corrected_deg))
        .with_header("x-idphoto-copies", finished.copies.to_string())
        .with_header("x-idphoto-placement", placement.0)
        .with_header(
            "x-idphoto-segmented",
            format!(
                "{},{},{},{}",
                segmented.x, segmented.y, segmented.width, segmented.height
            ),
        );
    if warnings.is_empty() {
        response
    } else {
        response.with_header("x-idphoto-warnings", warnings.join(","))
    }
}
