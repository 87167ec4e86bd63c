//! A small gzip reader (RFC 1951/1952), only for the admin page: the component carries the page
//! gzipped (build.rs) and sends those bytes as they are to every client that accepts gzip (all
//! browsers); this unpacks them for the few that do not. Small rather than fast (after zlib's
//! `puff.c`): a general-purpose decompressor would cost the component more than the page saves.

/// The bytes inside a one-member gzip file, or `None` when it is not one (or is damaged).
pub fn gunzip(gz: &[u8]) -> Option<Vec<u8>> {
    // Header (RFC 1952 §2.3): magic, method 8 (deflate), flags; optional fields by flag.
    let (&[0x1f, 0x8b, 8, flags], rest) = gz.split_first_chunk::<4>()? else {
        return None;
    };
    let mut at = 10;
    if flags & 4 != 0 {
        let extra = u16::from_le_bytes(*rest.get(6..)?.first_chunk::<2>()?) as usize;
        at += 2 + extra;
    }
    for flag in [8, 16] {
        // File name, comment: zero-terminated.
        if flags & flag != 0 {
            at += gz.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    let mut input = Bits {
        bytes: gz.get(at..)?,
        at: 0,
        bit: 0,
    };
    let mut out = Vec::new();
    loop {
        let last = input.bits(1)? == 1;
        match input.bits(2)? {
            0 => stored(&mut input, &mut out)?,
            1 => {
                let (lengths, distances) = fixed();
                codes(&mut input, &mut out, &lengths, &distances)?;
            }
            2 => {
                let (lengths, distances) = dynamic(&mut input)?;
                codes(&mut input, &mut out, &lengths, &distances)?;
            }
            _ => return None,
        }
        if last {
            break;
        }
    }
    // Trailer: CRC-32 (not checked: the bytes are the component's own) and the length.
    let trailer = input.bytes.get(input.at + usize::from(input.bit > 0)..)?;
    let size = u32::from_le_bytes(*trailer.get(4..)?.first_chunk::<4>()?);
    (size == out.len() as u32).then_some(out)
}

/// The compressed bits, least significant first.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
    bit: u32,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut value = 0;
        for i in 0..n {
            let byte = *self.bytes.get(self.at)?;
            value |= u32::from((byte >> self.bit) & 1) << i;
            self.bit += 1;
            if self.bit == 8 {
                self.bit = 0;
                self.at += 1;
            }
        }
        Some(value)
    }

    /// One symbol of a canonical Huffman code.
    fn decode(&mut self, h: &Huffman) -> Option<usize> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= self.bits(1)? as i32;
            let count = i32::from(h.count[len]);
            if code - first < count {
                return h.symbol.get((index + code - first) as usize).map(|&s| usize::from(s));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        let mut offset = [0u16; 16];
        for len in 1..15 {
            offset[len + 1] = offset[len] + count[len];
        }
        let mut symbol = vec![0; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[usize::from(offset[usize::from(l)])] = s as u16;
                offset[usize::from(l)] += 1;
            }
        }
        count[0] = 0;
        Huffman { count, symbol }
    }
}

fn stored(input: &mut Bits, out: &mut Vec<u8>) -> Option<()> {
    if input.bit > 0 {
        input.bit = 0;
        input.at += 1;
    }
    let header = input.bytes.get(input.at..)?.first_chunk::<4>()?;
    let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
    if u16::from_le_bytes([header[2], header[3]]) != !(len as u16) {
        return None;
    }
    input.at += 4;
    out.extend_from_slice(input.bytes.get(input.at..input.at + len)?);
    input.at += len;
    Some(())
}

fn fixed() -> (Huffman, Huffman) {
    let mut lengths = [8u8; 288];
    lengths[144..256].fill(9);
    lengths[256..280].fill(7);
    (Huffman::new(&lengths), Huffman::new(&[5; 30]))
}

fn dynamic(input: &mut Bits) -> Option<(Huffman, Huffman)> {
    const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    let nlen = input.bits(5)? as usize + 257;
    let ndist = input.bits(5)? as usize + 1;
    let ncode = input.bits(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return None;
    }
    let mut lengths = [0u8; 320];
    for &i in &ORDER[..ncode] {
        lengths[i] = input.bits(3)? as u8;
    }
    let code_lengths = Huffman::new(&lengths[..19]);
    let mut i = 0;
    while i < nlen + ndist {
        let symbol = input.decode(&code_lengths)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => (*lengths.get(i.checked_sub(1)?)?, 3 + input.bits(2)? as usize),
            17 => (0, 3 + input.bits(3)? as usize),
            _ => (0, 11 + input.bits(7)? as usize),
        };
        lengths.get_mut(i..i + repeat)?.fill(value);
        i += repeat;
    }
    if i != nlen + ndist {
        return None;
    }
    Some((
        Huffman::new(&lengths[..nlen]),
        Huffman::new(&lengths[nlen..nlen + ndist]),
    ))
}

fn codes(input: &mut Bits, out: &mut Vec<u8>, lengths: &Huffman, distances: &Huffman) -> Option<()> {
    const LEN_BASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ];
    const LEN_EXTRA: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DIST_BASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ];
    const DIST_EXTRA: [u8; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    ];
    loop {
        let symbol = input.decode(lengths)?;
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Some(()),
            _ => {
                let s = symbol - 257;
                let len = usize::from(*LEN_BASE.get(s)?) + input.bits(u32::from(LEN_EXTRA[s]))? as usize;
                let d = input.decode(distances)?;
                let dist = usize::from(*DIST_BASE.get(d)?) + input.bits(u32::from(DIST_EXTRA[d]))? as usize;
                let start = out.len().checked_sub(dist)?;
                for k in 0..len {
                    out.push(out[start + k]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_page_unpacks_to_the_source() {
        let page = gunzip(super::super::PAGE_GZ).expect("the page unpacks");
        assert_eq!(page, include_bytes!("page.html"));
    }

    #[test]
    fn damaged_input_is_refused_not_a_panic() {
        let gz = super::super::PAGE_GZ;
        assert!(gunzip(&gz[..gz.len() - 3]).is_none());
        assert!(gunzip(&gz[..gz.len() / 2]).is_none());
        assert!(gunzip(b"not gzip").is_none());
        let mut flipped = gz.to_vec();
        for at in [12, 40, 400, gz.len() / 2] {
            flipped[at] ^= 0x55;
            let _ = gunzip(&flipped);
        }
    }
}
