//! Gemini's per-project resources as they appear in requests and answers: which resources a
//! request refers to (a `fileData.fileUri`, a `cachedContent`, a batch's input file), the name
//! and expiry of one an answer created, and the generated files an answer points at.
//!
//! Pure: the handler asks the store which key holds each name found here.

use serde_json::Value;

use crate::pool::clock::parse_rfc3339_utc_ms;
use crate::route::{resource_name, ResourceKind};

/// How long Google keeps an uploaded file.
pub const FILE_LIFETIME_MS: i64 = 48 * 3_600_000;
/// A cache's lifetime when neither its answer nor its request says (Google's default TTL).
pub const DEFAULT_CACHE_TTL_MS: i64 = 3_600_000;
/// How long gempool keeps an upload session it started (Google's sessions last about a week).
pub const UPLOAD_SESSION_MS: i64 = 7 * 24 * 3_600_000;

/// Fields whose value names a resource a request uses.
const REFERENCE_FIELDS: &[&str] = &[
    "fileUri",
    "file_uri",
    "fileName",
    "file_name",
    "cachedContent",
    "cached_content",
];

/// Fields of an answer that can point at a file the job generated (a batch's `responsesFile`,
/// a video's `uri`).
const GENERATED_FILE_FIELDS: &[&str] = &["responsesFile", "responses_file", "uri", "fileUri", "fileName"];

/// The resource name in a reference: `files/abc` from `files/abc`,
/// `https://host/v1beta/files/abc` or `.../files/abc:download?alt=media`; likewise for
/// `cachedContents/`. `None` when the text names no resource of those kinds.
pub fn name_in_reference(text: &str) -> Option<String> {
    ["files/", "cachedContents/"].iter().find_map(|prefix| {
        let start = text.rfind(prefix)?;
        // `.../files/x` or a bare name; never a longer word ending in the prefix.
        if start > 0 && !text[..start].ends_with('/') {
            return None;
        }
        let id: String = text[start + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        resource_name(&format!("{prefix}{id}"))
    })
}

fn walk<'a>(value: &'a Value, fields: &[&str], out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(text) if fields.contains(&key.as_str()) => out.push(text),
                    _ => walk(value, fields, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, fields, out)),
        _ => {}
    }
}

fn names_in(value: &Value, fields: &[&str]) -> Vec<String> {
    let mut texts = Vec::new();
    walk(value, fields, &mut texts);
    let mut names: Vec<String> = texts.into_iter().filter_map(name_in_reference).collect();
    crate::sort::sort_by(&mut names, String::cmp);
    names.dedup();
    names
}

/// Where Google's Files API URIs point; a file named by a client protocol (an OpenAI `file_id`,
/// an Anthropic file source) becomes a `fileData` with this URI, as Google's own `file.uri`.
const GOOGLE_FILES_ORIGIN: &str = "https://generativelanguage.googleapis.com/v1beta";

/// The `fileData` part for a Gemini Files API file named in a client protocol's file
/// reference (`files/abc`, or its URI); `None` for anything else (an OpenAI or Anthropic file
/// id, which Gemini cannot read). The request is then sent to the key holding the file.
pub fn files_api_part(reference: &str, mime_type: Option<&str>) -> Option<super::Part> {
    let name = name_in_reference(reference.trim())?;
    (ResourceKind::of_name(&name) == Some(ResourceKind::Files)).then(|| super::Part {
        file_data: Some(super::FileData {
            mime_type: mime_type.map(str::to_owned),
            file_uri: format!("{GOOGLE_FILES_ORIGIN}/{name}"),
        }),
        ..Default::default()
    })
}

/// Every file and cached content a request body refers to (sorted, once each). Bodies that
/// cannot name one are not parsed.
pub fn referenced_names(body: &[u8]) -> Vec<String> {
    let mentions = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !mentions(b"files/") && !mentions(b"cachedContents/") {
        return Vec::new();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => names_in(&value, REFERENCE_FIELDS),
        Err(_) => Vec::new(),
    }
}

/// The files an answer points at (a finished batch's results, a generated video).
pub fn generated_files(answer: &Value) -> Vec<String> {
    names_in(answer, GENERATED_FILE_FIELDS)
        .into_iter()
        .filter(|name| ResourceKind::of_name(name) == Some(ResourceKind::Files))
        .collect()
}

/// A resource an answer created: its name and when Google drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The upstream name (`files/x`, `cachedContents/x`, `batches/x`, `models/m/operations/x`).
    pub name: String,
    /// Its kind.
    pub kind: ResourceKind,
    /// When Google drops it (Unix ms), when known.
    pub expires_ms: Option<i64>,
}

/// The resource a create call's answer describes: an upload's `{"file": {...}}`, a cache, or
/// an operation (`batches/x`, `models/m/operations/x`). `now_ms` dates a file whose answer
/// has no `expirationTime` and a cache without `expireTime`.
pub fn created(answer: &Value, now_ms: i64) -> Option<Created> {
    let resource = answer.get("file").unwrap_or(answer);
    let name = resource_name(resource.get("name")?.as_str()?)?;
    let kind = ResourceKind::of_name(&name)?;
    let stated = ["expirationTime", "expireTime"]
        .iter()
        .find_map(|field| resource.get(*field)?.as_str().and_then(parse_rfc3339_utc_ms));
    let expires_ms = match kind {
        ResourceKind::Files => Some(stated.unwrap_or(now_ms + FILE_LIFETIME_MS)),
        ResourceKind::CachedContents => Some(stated.unwrap_or(now_ms + DEFAULT_CACHE_TTL_MS)),
        _ => stated,
    };
    Some(Created { name, kind, expires_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_name_files_and_caches_in_any_form() {
        let table = [
            ("files/abc-1", Some("files/abc-1")),
            (
                "https://generativelanguage.googleapis.com/v1beta/files/abc",
                Some("files/abc"),
            ),
            (
                "http://127.0.0.1:8080/v1beta/files/x1:download?alt=media",
                Some("files/x1"),
            ),
            ("cachedContents/c9", Some("cachedContents/c9")),
            ("https://www.youtube.com/watch?v=x", None),
            ("gs://bucket/profiles/a", None),
            ("myfiles/abc", None),
            ("files/", None),
        ];
        for (text, want) in table {
            assert_eq!(name_in_reference(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn a_request_body_yields_every_file_and_cache_once() {
        let body = json!({
            "contents": [{"role": "user", "parts": [
                {"text": "see files/fake in the text (not a reference)"},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://g/v1beta/files/a"}},
                {"file_data": {"file_uri": "files/a"}},
            ]}],
            "cachedContent": "cachedContents/c",
        });
        assert_eq!(
            referenced_names(body.to_string().as_bytes()),
            ["cachedContents/c", "files/a"]
        );
        let batch = json!({"batch": {"inputConfig": {"fileName": "files/input1"}}});
        assert_eq!(referenced_names(batch.to_string().as_bytes()), ["files/input1"]);
        assert!(referenced_names(b"{\"contents\": []}").is_empty());
        assert!(referenced_names(b"not json files/a").is_empty());
    }

    #[test]
    fn a_files_api_name_becomes_file_data_and_other_ids_do_not() {
        let part = files_api_part("files/abc123", Some("application/pdf")).unwrap();
        let data = part.file_data.unwrap();
        assert_eq!(
            data.file_uri,
            "https://generativelanguage.googleapis.com/v1beta/files/abc123"
        );
        assert_eq!(data.mime_type.as_deref(), Some("application/pdf"));
        assert!(files_api_part("https://generativelanguage.googleapis.com/v1beta/files/x9", None).is_some());
        for other in ["file-AbC123", "file_011CNha8iCJcU1wXNR6q4V8w", "cachedContents/c1", ""] {
            assert!(files_api_part(other, None).is_none(), "{other}");
        }
    }

    #[test]
    fn created_resources_carry_their_expiry() {
        let upload = json!({"file": {"name": "files/f1", "expirationTime": "2026-12-05T10:00:00.5Z"}});
        assert_eq!(
            created(&upload, 0),
            Some(Created {
                name: "files/f1".into(),
                kind: ResourceKind::Files,
                expires_ms: Some(1_796_464_800_500)
            })
        );
        let cache = json!({"name": "cachedContents/c1", "model": "models/m"});
        assert_eq!(created(&cache, 10).unwrap().expires_ms, Some(10 + DEFAULT_CACHE_TTL_MS));
        let video = json!({"name": "models/veo-3.0-generate-001/operations/op1"});
        let op = created(&video, 0).unwrap();
        assert_eq!((op.kind, op.expires_ms), (ResourceKind::Operations, None));
        assert_eq!(created(&json!({"name": "files/../../x"}), 0), None);
        assert_eq!(created(&json!({"done": true}), 0), None);
    }

    #[test]
    fn generated_files_are_found_in_finished_jobs() {
        let batch = json!({"name": "batches/b", "done": true, "response": {"responsesFile": "files/out-1"}});
        assert_eq!(generated_files(&batch), ["files/out-1"]);
        let video = json!({"response": {"generateVideoResponse": {"generatedSamples": [
            {"video": {"uri": "https://g/v1beta/files/v1:download?alt=media"}}
        ]}}});
        assert_eq!(generated_files(&video), ["files/v1"]);
    }
}
