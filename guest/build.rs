//! Packs the admin page for the component: `page.html` gzipped (served as is to clients that
//! accept gzip, unpacked by `admin::inflate` for the rest), and the SHA-256 of its one inline
//! script for the page's content security policy (so the component needs the plain page for
//! neither).

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use sha2::{Digest, Sha256};

fn main() {
    const PAGE: &str = "src/admin/page.html";
    println!("cargo:rerun-if-changed={PAGE}");
    println!("cargo:rerun-if-changed=build.rs");
    let page = std::fs::read_to_string(PAGE).expect("read src/admin/page.html");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let script = page
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(script, _)| script);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    std::fs::write(out.join("page-script.sha256"), hash).expect("write the script hash");

    // No file name and a zero mtime in the header: the same page gives the same bytes.
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    gz.write_all(page.as_bytes()).expect("gzip the page");
    let gz = gz.finish().expect("gzip the page");
    std::fs::write(out.join("page.html.gz"), gz).expect("write the gzipped page");
}
