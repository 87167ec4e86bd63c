//! Media types Gemini accepts, by file extension: the one MIME table every translator uses for
//! URLs and file names that come without a type.

/// The path of a URL, without scheme, host, query or fragment (`https://h/a/b.png?x` ->
/// `/a/b.png`).
pub fn url_path(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme.find('/').map_or("", |i| &without_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// Whether a (lowercased) URL points at YouTube, which Gemini takes without a MIME type.
pub fn is_youtube(lower_url: &str) -> bool {
    let host = lower_url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    matches!(host, "youtube.com" | "www.youtube.com" | "m.youtube.com" | "youtu.be")
}

/// The MIME type of the file a URL names, by its extension.
pub fn mime_from_url(url: &str) -> Option<&'static str> {
    mime_from_path(url_path(url))
}

/// The MIME type Gemini expects for a file name's (or path's) extension, for the types it
/// accepts; `None` for anything else.
pub fn mime_from_path(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        "aiff" => "audio/aiff",
        "mp4" => "video/mp4",
        "mpeg" | "mpg" => "video/mpeg",
        "mov" => "video/mov",
        "avi" => "video/avi",
        "webm" => "video/webm",
        "wmv" => "video/wmv",
        "flv" => "video/x-flv",
        "3gp" | "3gpp" => "video/3gpp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_table() {
        for (url, mime) in [
            ("https://h/a.png", Some("image/png")),
            ("https://h/a.JPG?x=1", Some("image/jpeg")),
            ("https://h/a.jpeg#f", Some("image/jpeg")),
            ("https://h/a.gif", Some("image/gif")),
            ("https://h/a.webp", Some("image/webp")),
            ("https://h/a.heic", Some("image/heic")),
            ("https://h/a.heif", Some("image/heif")),
            ("https://h/doc.pdf", Some("application/pdf")),
            ("https://h/a.txt", Some("text/plain")),
            ("https://h/a.md", Some("text/markdown")),
            ("https://h/a.csv", Some("text/csv")),
            ("https://h/a.htm", Some("text/html")),
            ("https://h/a.mp3", Some("audio/mp3")),
            ("https://h/a.wav", Some("audio/wav")),
            ("https://h/a.ogg", Some("audio/ogg")),
            ("https://h/a.flac", Some("audio/flac")),
            ("https://h/a.aac", Some("audio/aac")),
            ("https://h/a.aiff", Some("audio/aiff")),
            ("https://h/a.mp4", Some("video/mp4")),
            ("https://h/a.mpg", Some("video/mpeg")),
            ("https://h/a.mov", Some("video/mov")),
            ("https://h/a.avi", Some("video/avi")),
            ("https://h/a.webm", Some("video/webm")),
            ("https://h/a.wmv", Some("video/wmv")),
            ("https://h/a.flv", Some("video/x-flv")),
            ("https://h/a.3gp", Some("video/3gpp")),
            ("https://h/a.exe", None),
            ("https://example.com/img", None),
            ("https://example.com", None),
        ] {
            assert_eq!(mime_from_url(url), mime, "{url}");
        }
        assert_eq!(mime_from_path("report.PDF"), Some("application/pdf"));
        assert_eq!(url_path("https://h/a/b.png?x#y"), "/a/b.png");
        assert!(is_youtube("https://www.youtube.com/watch?v=x"));
        assert!(!is_youtube("https://notyoutube.com/x"));
    }
}
