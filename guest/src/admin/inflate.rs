//! Unpacks the admin page for the few clients that refuse gzip: the component carries the page
//! gzipped (build.rs) and sends those bytes as they are to every client that accepts gzip (all
//! browsers). miniz_oxide inflates the deflate stream; the page's gzip wrapper is the plain
//! one build.rs writes (a 10-byte header without optional fields), and its recorded length is
//! checked. (flate2's reader, which also checks the CRC, cost the component ~40 KB; the page is
//! our own build output, and the unit test below compares it with the source.)

/// The bytes inside the gzip member build.rs writes, or `None` when it is not one (or is
/// damaged).
pub fn gunzip(gz: &[u8]) -> Option<Vec<u8>> {
    // RFC 1952: magic, method 8 (deflate), no flags, mtime, xfl, os; then deflate, CRC, size.
    let (&[0x1f, 0x8b, 8, 0], _) = gz.split_first_chunk::<4>()? else {
        return None;
    };
    let (body, trailer) = gz.get(10..)?.split_last_chunk::<8>()?;
    let out = miniz_oxide::inflate::decompress_to_vec(body).ok()?;
    let size = u32::from_le_bytes(trailer[4..].try_into().ok()?);
    (out.len() as u64 % (1 << 32) == u64::from(size)).then_some(out)
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
