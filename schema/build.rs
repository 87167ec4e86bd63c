//! Build script of `gempool-schema`: lists `migrations/*.sql` in version order.
//!
//! Writes `$OUT_DIR/migrations.rs`, `const MIGRATIONS: &[Migration]`, one entry per file
//! `NNNN_name.sql`: version `NNNN`, name `NNNN_name` (the file name without `.sql`, the name
//! every file records for itself), the SQL embedded with `include_str!`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::exit;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| fail("CARGO_MANIFEST_DIR unset")));
    let dir = manifest_dir.join("..").join("migrations");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR unset"))).join("migrations.rs");
    println!("cargo:rerun-if-changed={}", dir.display());
    write_migrations(&dir, &out);
}

fn write_migrations(dir: &Path, out: &Path) {
    let mut found: Vec<(i64, String, PathBuf)> = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display())));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display())))
            .path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Some(name) = file.strip_suffix(".sql") else {
            continue;
        };
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let Ok(version) = digits.parse::<i64>() else {
            fail(&format!(
                "migration {file} must start with its version number, e.g. 0001_init.sql"
            ));
        };
        // The name is written into SQL text by the runner: keep it to a safe alphabet.
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            fail(&format!("migration {file}: use only a-z, 0-9 and _ in the name"));
        }
        if let Some((_, other, _)) = found.iter().find(|(v, _, _)| *v == version) {
            fail(&format!("migrations {other} and {file} share version {version}"));
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let path = path.canonicalize().unwrap_or(path);
        found.push((version, name.to_owned(), path));
    }
    found.sort_by_key(|(version, _, _)| *version);

    let mut code = String::from("/// Every `migrations/*.sql` file, in version order.\n");
    code.push_str("pub const MIGRATIONS: &[Migration] = &[\n");
    for (version, name, path) in &found {
        let path = path
            .to_str()
            .unwrap_or_else(|| fail(&format!("migration path {} is not valid UTF-8", path.display())));
        if writeln!(
            code,
            "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({path:?}) }},"
        )
        .is_err()
        {
            fail("formatting the migration list");
        }
    }
    code.push_str("];\n");
    fs::write(out, code).unwrap_or_else(|e| fail(&format!("writing {}: {e}", out.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}
