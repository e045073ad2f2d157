//! A black-and-white image kept as a 1-bit PNG stores it: packed rows, one bit a pixel, the
//! first pixel in a byte's high bit.
//!
//! Invariants: a set bit is a dark pixel, whatever the file's palette said; bits past the last
//! pixel of a row are clear. Nothing is unpacked at load: the narrowest run and the reduced
//! copy the decoder tries first are read from the packed bytes, and rxing's binary matrix (first
//! pixel in a word's low bit) is built only when the whole image must be searched.

use image::GrayImage;
use rxing::common::{BitArray, BitMatrix, BIT_FIELD_BASE_BITS};

/// Most rows [`Bilevel::narrowest_run`] reads: every 4th row up to 4096 rows tall, evenly spread
/// beyond. Any code at least 21 px tall (1 px modules) is crossed by a sampled row up to 21,504
/// rows, so a small code beside a big one is not measured away.
const SAMPLED_ROWS: u32 = 1024;

/// Packed rows of a bi-level image (see the module docs).
pub struct Bilevel {
    width: u32,
    height: u32,
    /// Bytes per row in `rows` (at least `width / 8` rounded up).
    stride: usize,
    rows: Vec<u8>,
}

impl Bilevel {
    /// Takes `height` packed rows of `stride` bytes; `dark_is_one` says whether a set bit is the
    /// darker of the file's two levels. `None` when the sizes do not fit together.
    pub fn from_packed(
        mut rows: Vec<u8>,
        width: u32,
        height: u32,
        stride: usize,
        dark_is_one: bool,
    ) -> Option<Bilevel> {
        let used = (width as usize).div_ceil(8);
        if width == 0 || height == 0 || stride < used {
            return None;
        }
        rows.truncate(stride.checked_mul(height as usize)?);
        if rows.len() != stride * height as usize {
            return None;
        }
        if !dark_is_one {
            rows.iter_mut().for_each(|byte| *byte = !*byte);
        }
        let last_byte_mask = 0xffu8 << (used * 8 - width as usize);
        for row in rows.chunks_exact_mut(stride) {
            row[used - 1] &= last_byte_mask;
            row[used..].fill(0);
        }
        Some(Bilevel {
            width,
            height,
            stride,
            rows,
        })
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.stride;
        &self.rows[start..start + self.stride]
    }

    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        self.row(y)[x as usize / 8] & (0x80 >> (x % 8)) != 0
    }

    /// rxing's binary matrix of the same pixels.
    pub fn to_matrix(&self) -> Option<BitMatrix> {
        const WORD_BYTES: usize = BIT_FIELD_BASE_BITS / 8;
        let mut matrix = BitMatrix::new(self.width, self.height).ok()?;
        let used = (self.width as usize).div_ceil(8);
        let mut packed = BitArray::with_size(self.width as usize);
        for y in 0..self.height {
            for (index, bytes) in self.row(y)[..used].chunks(WORD_BYTES).enumerate() {
                // Big-endian, the first pixel is the word's top bit; reversed, its low bit.
                let mut be = [0u8; WORD_BYTES];
                be[..bytes.len()].copy_from_slice(bytes);
                packed.setBulk(
                    index * BIT_FIELD_BASE_BITS,
                    usize::from_be_bytes(be).reverse_bits(),
                );
            }
            matrix.setRow(y, &packed);
        }
        Some(matrix)
    }

    /// Grey levels: dark 0, light 255.
    pub fn to_grey(&self) -> GrayImage {
        GrayImage::from_fn(self.width, self.height, |x, y| {
            image::Luma([if self.is_dark(x, y) { 0 } else { 255 }])
        })
    }

    /// The pixels at the centres of `step`×`step` blocks, as rxing's binary matrix.
    pub fn every_nth_pixel(&self, step: u32) -> Option<BitMatrix> {
        let (width, height) = (self.width / step, self.height / step);
        let mut reduced = BitMatrix::new(width, height).ok()?;
        for y in 0..height {
            let row = self.row(y * step + step / 2);
            for x in 0..width {
                let at = (x * step + step / 2) as usize;
                if row[at / 8] & (0x80 >> (at % 8)) != 0 {
                    reduced.set(x, y);
                }
            }
        }
        Some(reduced)
    }

    /// The shortest run of one colour in the sampled rows (see [`SAMPLED_ROWS`]), runs touching
    /// the left or right edge aside; 0 when they hold no such run.
    pub fn narrowest_run(&self) -> usize {
        let rows = SAMPLED_ROWS.min(self.height.div_ceil(4));
        (0..rows)
            // In u64: a 40 MP image can be millions of rows tall.
            .map(|i| (u64::from(i) * u64::from(self.height) / u64::from(rows)) as u32)
            .filter_map(|y| narrowest_inner_run(self.row(y), self.width as usize))
            .min()
            .unwrap_or(0)
    }
}

/// The shortest distance between two neighbouring colour changes of a packed row: its
/// narrowest run not touching either end. Eight bytes at a time: a change at pixel `i` is bit
/// `i` of the row XOR the row moved one pixel on.
fn narrowest_inner_run(row: &[u8], width: usize) -> Option<usize> {
    let mut narrowest: Option<usize> = None;
    let mut last_change: Option<usize> = None;
    let mut previous_pixel = 0u64;
    for (chunk_index, chunk) in row[..width.div_ceil(8)].chunks(8).enumerate() {
        let first = chunk_index * 64;
        let mut be = [0u8; 8];
        be[..chunk.len()].copy_from_slice(chunk);
        let pixels = u64::from_be_bytes(be);
        let mut changes = pixels ^ (pixels >> 1 | previous_pixel << 63);
        if first == 0 {
            // Pixel 0 has no left neighbour.
            changes &= !(1 << 63);
        }
        if width - first < 64 {
            // Only changes at pixels before `width` (the padding is light).
            changes &= !(u64::MAX >> (width - first));
        }
        previous_pixel = pixels & 1;
        while changes != 0 {
            let at = first + changes.leading_zeros() as usize;
            if let Some(last) = last_change {
                narrowest = Some(narrowest.map_or(at - last, |n| n.min(at - last)));
            }
            last_change = Some(at);
            changes &= !(1u64 << 63 >> (at - first));
        }
    }
    narrowest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random packed rows (runs of 1–12 pixels), dark set.
    fn random_image(width: u32, height: u32, stride: usize, seed: u64) -> Bilevel {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let mut rows = vec![0u8; stride * height as usize];
        for row in rows.chunks_exact_mut(stride) {
            let mut x = 0;
            let mut dark = next() % 2 == 0;
            while x < width as usize {
                let run = 1 + next() as usize % 12;
                for i in x..(x + run).min(width as usize) {
                    if dark {
                        row[i / 8] |= 0x80 >> (i % 8);
                    }
                }
                x += run;
                dark = !dark;
            }
        }
        Bilevel::from_packed(rows, width, height, stride, true).unwrap()
    }

    /// The narrowest inner run, pixel by pixel.
    fn naive_narrowest(image: &Bilevel, y: u32) -> Option<usize> {
        let changes: Vec<usize> = (1..image.width)
            .filter(|&x| image.is_dark(x, y) != image.is_dark(x - 1, y))
            .map(|x| x as usize)
            .collect();
        changes.windows(2).map(|w| w[1] - w[0]).min()
    }

    #[test]
    fn runs_are_measured_across_words_as_pixel_by_pixel() {
        for (width, stride) in [(13, 2), (64, 8), (70, 9), (130, 20), (257, 33)] {
            for seed in 0..20 {
                let image = random_image(width, 1, stride, seed);
                assert_eq!(
                    narrowest_inner_run(image.row(0), width as usize),
                    naive_narrowest(&image, 0),
                    "width {width} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn narrowest_run_is_measured_inside_rows_and_in_very_tall_images() {
        // Light 5, dark 7, light 3, dark 25: the inner runs are 7 and 3.
        let mut row = vec![0u8; 5];
        for x in (5..12).chain(15..40) {
            row[x / 8] |= 0x80 >> (x % 8);
        }
        let mut rows = row.clone();
        rows.extend(vec![0; 5 * 7]);
        let image = Bilevel::from_packed(rows, 40, 8, 5, true).unwrap();
        assert_eq!(image.narrowest_run(), 3);
        let blank = Bilevel::from_packed(vec![0; 40], 40, 8, 5, true).unwrap();
        assert_eq!(blank.narrowest_run(), 0);
        // Within the pixel limit, 4 px wide and 10 million rows: the samples reach the bottom
        // half, where the only runs are.
        let mut rows = vec![0u8; 10_000_000];
        for y in (5_000_000..10_000_000).step_by(7) {
            rows[y] = 0b0100_0000;
        }
        let tall = Bilevel::from_packed(rows, 4, 10_000_000, 1, true).unwrap();
        assert_eq!(tall.narrowest_run(), 1);
    }

    #[test]
    fn the_matrix_holds_the_same_pixels_and_clear_padding() {
        for (width, stride) in [(13, 2), (31, 4), (32, 4), (64, 9), (70, 9), (97, 13)] {
            let image = random_image(width, 5, stride, u64::from(width));
            let matrix = image.to_matrix().unwrap();
            assert_eq!((matrix.width(), matrix.height()), (width, 5));
            for y in 0..5 {
                for x in 0..width {
                    assert_eq!(matrix.get(x, y), image.is_dark(x, y), "({x}, {y})");
                }
                let used = width as usize % BIT_FIELD_BASE_BITS;
                let last = *matrix.getRow(y).getBitArray().last().unwrap();
                assert!(used == 0 || last >> used == 0, "padding set in row {y}");
            }
        }
    }

    #[test]
    fn light_ones_are_flipped_and_padding_cleared() {
        // 10 px wide in 3-byte rows, a set bit is light: the padding bits and the spare byte,
        // clear in the file, must not read as dark.
        let image =
            Bilevel::from_packed(vec![0b0111_1111, 0b1110_0000, 0], 10, 1, 3, false).unwrap();
        let dark: Vec<u32> = (0..10).filter(|&x| image.is_dark(x, 0)).collect();
        assert_eq!(dark, vec![0]);
        assert_eq!(image.rows, vec![0b1000_0000, 0, 0]);
    }

    #[test]
    fn the_reduced_copy_keeps_block_centres() {
        let image = random_image(70, 40, 9, 7);
        let reduced = image.every_nth_pixel(3).unwrap();
        assert_eq!((reduced.width(), reduced.height()), (23, 13));
        for y in 0..13 {
            for x in 0..23 {
                assert_eq!(reduced.get(x, y), image.is_dark(3 * x + 1, 3 * y + 1));
            }
        }
    }
}
