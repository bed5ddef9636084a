//! Generated pictures: SVG images of a product, drawn in its variant's
//! colour, as a studio shot (the product's picture) or as a shopper's
//! snapshot on a table, a floor or a lawn (a review's photo). Each is a
//! pure function of the data set and the picture's id, so any service
//! process, or a CDN in front of one, serves the same bytes for a path.
//!
//! Paths: a review photo is `/photos/{tag}/{photo_id}.svg`, a product's
//! picture `/photos/{tag}/p{product_id}.svg`; `{tag}` is the data set's
//! [`DataSet::tag`](super::DataSet::tag), so a path never names two images.

use std::fmt::Write;

use super::{Generator, ProductParts, Rng};
use crate::model::limits::PHOTOS_MAX;

/// Where generated pictures live on the service.
pub const PREFIX: &str = "/photos/";
/// Width and height of every generated picture, in pixels.
pub const SIZE: u32 = 480;

const DOMAIN_PICTURE: u64 = 4;

/// The outline a category's pictures are drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A shoe from the side.
    Shoe,
    /// A shirt, laid flat.
    Shirt,
    /// A pair of headphones.
    Headphones,
    /// A kettle.
    Kettle,
    /// A table lamp.
    Lamp,
    /// A pillow.
    Pillow,
    /// A backpack.
    Backpack,
    /// A tent.
    Tent,
    /// A cosmetics bottle.
    Tube,
    /// A game box.
    Puzzle,
    /// A water bottle.
    Bottle,
}

/// Surfaces a shopper photographs a product on: top and bottom colours,
/// and the colour of the lines across it.
const SURFACES: [(&str, &str, &str); 5] = [
    ("#d9b48a", "#b98d5f", "#a67c50"), // a wooden table
    ("#ece8e1", "#d8d2c8", "#cfc8bc"), // a light floor
    ("#8fb573", "#6e9655", "#7ea564"), // a lawn
    ("#c9c9c4", "#a9a9a3", "#b5b5ae"), // concrete
    ("#d7cdbf", "#c2b6a5", "#b9ac99"), // a rug
];

/// The SVG of photo `photo_id`, or `None` when no generated review has
/// that photo.
pub fn review_photo(g: &Generator, photo_id: u64) -> Option<String> {
    let per_review = PHOTOS_MAX as u64;
    let review_id = photo_id.checked_sub(1)? / per_review + 1;
    let k = (photo_id - 1) % per_review;
    if review_id > g.set.records || k >= g.photo_count(review_id) {
        return None;
    }
    let parts = g.parts(g.scalars(review_id).product_id);
    let mut rng = Rng::new(g.set.seed, DOMAIN_PICTURE, photo_id);
    let (top, bottom, lines) = SURFACES[rng.below(SURFACES.len() as u64) as usize];
    let angle = rng.unit() * 36.0 - 18.0;
    let scale = 0.85 + rng.unit() * 0.3;
    let dx = rng.unit() * 60.0 - 30.0;
    let dy = rng.unit() * 40.0 - 20.0;
    let mut svg = open(top, bottom);
    // Planks, floorboards or the weave of a rug: lines across the surface.
    let step = 60 + rng.below(50);
    let mut y = rng.below(step);
    while y + 24 < u64::from(SIZE) {
        let _ = write!(
            svg,
            r##"<path d="M0 {y} L{SIZE} {}" stroke="{lines}" stroke-width="2" opacity=".6"/>"##,
            y + rng.below(24)
        );
        y += step;
    }
    draw(&mut svg, &parts, 240.0 + dx, 260.0 + dy, angle, scale);
    svg.push_str(concat!(
        r##"<radialGradient id="v" cx=".5" cy=".45" r=".75"><stop offset=".55" stop-opacity="0"/>"##,
        r##"<stop offset="1" stop-opacity=".35"/></radialGradient>"##,
        r##"<rect width="100%" height="100%" fill="url(#v)"/></svg>"##
    ));
    Some(svg)
}

/// The SVG of product `product_id`'s picture, or `None` outside the data set.
pub fn product_image(g: &Generator, product_id: u64) -> Option<String> {
    if !(1..=g.set.products).contains(&product_id) {
        return None;
    }
    let parts = g.parts(product_id);
    let mut svg = open("#fafaf8", "#e4e4e0");
    draw(&mut svg, &parts, 240.0, 250.0, 0.0, 1.25);
    svg.push_str("</svg>");
    Some(svg)
}

/// The document's start and its background, a vertical gradient.
fn open(top: &str, bottom: &str) -> String {
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" viewBox="0 0 {s} {s}">"##,
            r##"<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="{top}"/>"##,
            r##"<stop offset="1" stop-color="{bottom}"/></linearGradient>"##,
            r##"<rect width="100%" height="100%" fill="url(#bg)"/>"##
        ),
        s = SIZE,
        top = top,
        bottom = bottom
    );
    svg
}

/// Draws the product at (x, y), turned `angle` degrees and scaled, over
/// its shadow.
fn draw(svg: &mut String, parts: &ProductParts, x: f64, y: f64, angle: f64, scale: f64) {
    let color = parts.color();
    let dark = shade(color, 0.62);
    let light = tint(color, 0.45);
    let _ = write!(
        svg,
        r##"<ellipse cx="{x:.0}" cy="{:.0}" rx="{:.0}" ry="{:.0}" fill="#000" opacity=".18"/>"##,
        y + 95.0 * scale,
        120.0 * scale,
        16.0 * scale
    );
    let _ = write!(
        svg,
        r##"<g transform="translate({x:.1} {y:.1}) rotate({angle:.1}) scale({scale:.3})" stroke="{dark}" stroke-width="3" stroke-linejoin="round">"##
    );
    let (c, d, l) = (color, dark.as_str(), light.as_str());
    let _ = match parts.category().shape {
        Shape::Shoe => write!(
            svg,
            concat!(
                r##"<path d="M-100 38L-98 0C-96-22-80-30-62-30L-30-34C-18-60 8-66 26-54C40-44 46-30 62-20C80-10 104-2 108 18L110 38Z" fill="{c}"/>"##,
                r##"<path d="M-104 36L112 36C114 48 108 58 98 58L-96 58C-106 58-108 46-104 36Z" fill="#f3f1ea"/>"##,
                r##"<path d="M-6-44L30-18M-16-34L20-8M-26-24L10 2" stroke="{l}" stroke-width="6" stroke-linecap="round"/>"##,
                r##"<path d="M-96 14C-60 10-20 16 20 10" fill="none" stroke="{d}" stroke-width="4"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Shirt => write!(
            svg,
            concat!(
                r##"<path d="M-40-90L-86-68L-110-20L-78-4L-64-30L-64 96L64 96L64-30L78-4L110-20L86-68L40-90C28-70-28-70-40-90Z" fill="{c}"/>"##,
                r##"<path d="M-40-90C-28-62 28-62 40-90" fill="none" stroke="{l}" stroke-width="6"/>"##,
                r##"<path d="M-64 80L64 80M-78-4L-64-30M78-4L64-30" fill="none" stroke="{d}" stroke-width="3"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Headphones => write!(
            svg,
            concat!(
                r##"<path d="M-78 20C-86-104 86-104 78 20" fill="none" stroke="{d}" stroke-width="18" stroke-linecap="round"/>"##,
                r##"<rect x="-112" y="-6" width="52" height="92" rx="22" fill="{c}"/>"##,
                r##"<rect x="60" y="-6" width="52" height="92" rx="22" fill="{c}"/>"##,
                r##"<rect x="-70" y="6" width="16" height="68" rx="8" fill="{l}"/>"##,
                r##"<rect x="54" y="6" width="16" height="68" rx="8" fill="{l}"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Kettle => write!(
            svg,
            concat!(
                r##"<path d="M-70 84L-58-36C-56-58 56-58 58-36L70 84Z" fill="{c}"/>"##,
                r##"<path d="M-60-4L-112-46L-116-36L-66 22Z" fill="{c}"/>"##,
                r##"<path d="M56-30C120-30 120 62 64 62" fill="none" stroke="{d}" stroke-width="14"/>"##,
                r##"<rect x="-78" y="80" width="156" height="18" rx="6" fill="{d}"/>"##,
                r##"<ellipse cx="0" cy="-52" rx="40" ry="10" fill="{l}"/><circle cx="0" cy="-66" r="10" fill="{d}"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Lamp => write!(
            svg,
            concat!(
                r##"<path d="M-60-96L60-96L90-10L-90-10Z" fill="{c}"/>"##,
                r##"<path d="M-84-26L84-26" stroke="{l}" stroke-width="6"/>"##,
                r##"<rect x="-7" y="-10" width="14" height="94" fill="{d}"/>"##,
                r##"<ellipse cx="0" cy="88" rx="58" ry="14" fill="{d}"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Pillow => write!(
            svg,
            concat!(
                r##"<path d="M-112-70C-60-58 60-58 112-70C100-20 100 20 112 70C60 58-60 58-112 70C-100 20-100-20-112-70Z" fill="{c}"/>"##,
                r##"<path d="M-88-50C-40-42 40-42 88-50M-88 50C-40 42 40 42 88 50" fill="none" stroke="{l}" stroke-width="4" stroke-dasharray="8 6"/>"##
            ),
            c = c,
            l = l
        ),
        Shape::Backpack => write!(
            svg,
            concat!(
                r##"<path d="M-24-104C-24-126 24-126 24-104" fill="none" stroke="{d}" stroke-width="10"/>"##,
                r##"<rect x="-78" y="-104" width="156" height="196" rx="44" fill="{c}"/>"##,
                r##"<rect x="-54" y="10" width="108" height="66" rx="16" fill="{l}"/>"##,
                r##"<path d="M-54 30L54 30M-60-54C-20-40 20-40 60-54" fill="none" stroke="{d}" stroke-width="4"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Tent => write!(
            svg,
            concat!(
                r##"<path d="M-124 86L0-96L124 86Z" fill="{c}"/>"##,
                r##"<path d="M-34 86L0 6L34 86Z" fill="{d}"/>"##,
                r##"<path d="M0-96L0 6M-140 86L140 86" fill="none" stroke="{l}" stroke-width="5"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Tube => write!(
            svg,
            concat!(
                r##"<rect x="-46" y="-60" width="92" height="152" rx="22" fill="{c}"/>"##,
                r##"<rect x="-22" y="-100" width="44" height="44" rx="6" fill="{d}"/>"##,
                r##"<rect x="-34" y="-10" width="68" height="56" rx="6" fill="#fbfaf6"/>"##,
                r##"<path d="M-22 8L22 8M-22 26L10 26" stroke="{l}" stroke-width="6" stroke-linecap="round"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Puzzle => write!(
            svg,
            concat!(
                r##"<rect x="-110" y="-76" width="220" height="156" rx="8" fill="{c}"/>"##,
                r##"<rect x="-110" y="62" width="220" height="18" fill="{d}"/>"##,
                r##"<path d="M-36-40L-6-40C-12-60 22-60 16-40L46-40L46-10C66-16 66 18 46 12L46 42L-36 42Z" fill="{l}"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
        Shape::Bottle => write!(
            svg,
            concat!(
                r##"<rect x="-44" y="-70" width="88" height="166" rx="26" fill="{c}"/>"##,
                r##"<rect x="-30" y="-110" width="60" height="42" rx="10" fill="{d}"/>"##,
                r##"<path d="M-14-112C-14-132 14-132 14-112" fill="none" stroke="{d}" stroke-width="8"/>"##,
                r##"<rect x="-44" y="0" width="88" height="26" fill="{l}"/>"##
            ),
            c = c,
            l = l,
            d = d
        ),
    };
    svg.push_str("</g>");
}

/// `#rrggbb` darkened to `f` of its brightness.
fn shade(color: &str, f: f64) -> String {
    map(color, |c| c * f)
}

/// `#rrggbb` mixed with white by `f`.
fn tint(color: &str, f: f64) -> String {
    map(color, |c| c + (255.0 - c) * f)
}

fn map(color: &str, f: impl Fn(f64) -> f64) -> String {
    let channel = |i: usize| {
        let c = u8::from_str_radix(color.get(i..i + 2).unwrap_or("80"), 16).unwrap_or(128);
        f(f64::from(c)).round().clamp(0.0, 255.0) as u8
    };
    format!("#{:02x}{:02x}{:02x}", channel(1), channel(3), channel(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::DataSet;

    #[test]
    fn every_photo_of_a_record_has_an_image_and_no_other_id_does() {
        let g = Generator::new(DataSet::new(42, 5_000, None));
        let mut with_photos = 0;
        for id in 1..=5_000 {
            let r = g.record(id);
            with_photos += usize::from(!r.photos.is_empty());
            for p in &r.photos {
                assert_eq!(p.url, g.photo_path(p.id));
                let svg = review_photo(&g, p.id).expect("a photo");
                assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
                assert!(svg.contains(r#"width="480" height="480""#));
            }
            let next = photo_id_after(&r);
            if next <= id * 5 {
                assert_eq!(
                    review_photo(&g, next),
                    None,
                    "review {id} has no photo {next}"
                );
            }
        }
        assert!(with_photos > 300, "{with_photos}");
        assert_eq!(review_photo(&g, 0), None);
        assert_eq!(review_photo(&g, 5_000 * 5 + 1), None);
    }

    fn photo_id_after(r: &crate::model::Review) -> u64 {
        (r.review_id - 1) * 5 + r.photos.len() as u64 + 1
    }

    #[test]
    fn pictures_are_deterministic_and_differ() {
        let g = Generator::new(DataSet::new(42, 5_000, None));
        let a = product_image(&g, 7).unwrap();
        assert_eq!(a, product_image(&g, 7).unwrap());
        assert_ne!(a, product_image(&g, 8).unwrap());
        assert_eq!(product_image(&g, 0), None);
        assert_eq!(product_image(&g, 501), None);
        assert_eq!(shade("#808080", 0.5), "#404040");
        assert_eq!(tint("#000000", 0.5), "#808080");
    }
}
