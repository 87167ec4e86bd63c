//! Request routing: path + method + headers -> which handler, and which protocol speaks.
//!
//! Pure: no I/O. The protocol decides the shape of every error the request can get, so it
//! is settled here first, even for routes that do not exist.

use crate::error::GatewayError;
use crate::protocol::gemini::validate_model_id;
use crate::protocol::Protocol;

/// A native Gemini API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiMethod {
    /// `GET models`: the model list.
    ListModels,
    /// `GET models/{model}`: one model.
    GetModel,
    /// `:generateContent`: a whole reply.
    GenerateContent,
    /// `:streamGenerateContent`: a stream (SSE with `alt=sse`, else a JSON array).
    StreamGenerateContent,
    /// `:countTokens`.
    CountTokens,
    /// `:embedContent`: one embedding.
    EmbedContent,
    /// `:batchEmbedContents`: several embeddings.
    BatchEmbedContents,
    /// `:predict`: Imagen images (passed through).
    Predict,
}

impl GeminiMethod {
    /// The `:verb` suffix of the upstream path, for model operations.
    pub fn verb(self) -> Option<&'static str> {
        match self {
            GeminiMethod::GenerateContent => Some("generateContent"),
            GeminiMethod::StreamGenerateContent => Some("streamGenerateContent"),
            GeminiMethod::CountTokens => Some("countTokens"),
            GeminiMethod::EmbedContent => Some("embedContent"),
            GeminiMethod::BatchEmbedContents => Some("batchEmbedContents"),
            GeminiMethod::Predict => Some("predict"),
            GeminiMethod::ListModels | GeminiMethod::GetModel => None,
        }
    }
}

/// A kind of upstream resource, held by the Google project of the key that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `files/{id}`: uploaded (or generated) files.
    Files,
    /// `cachedContents/{id}`: context caches.
    CachedContents,
    /// `batches/{id}`: batch jobs.
    Batches,
    /// `models/{m}/operations/{id}`: long-running operations (video generation).
    Operations,
    /// `uploads/{gempool id}`: a resumable upload in progress (gempool's own name).
    Uploads,
}

impl ResourceKind {
    /// The collection's name: the first segment of a resource name, and the `kind` column.
    pub fn collection(self) -> &'static str {
        match self {
            ResourceKind::Files => "files",
            ResourceKind::CachedContents => "cachedContents",
            ResourceKind::Batches => "batches",
            ResourceKind::Operations => "operations",
            ResourceKind::Uploads => "uploads",
        }
    }

    /// The kind of a resource name (`files/abc` is a file; `models/m/operations/x` an operation).
    pub fn of_name(name: &str) -> Option<ResourceKind> {
        let (collection, _) = name.split_once('/')?;
        Some(match collection {
            "files" => ResourceKind::Files,
            "cachedContents" => ResourceKind::CachedContents,
            "batches" => ResourceKind::Batches,
            "models" if name.contains("/operations/") => ResourceKind::Operations,
            "uploads" => ResourceKind::Uploads,
            _ => return None,
        })
    }
}

/// What is done to one named resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedAction {
    /// `GET {name}`.
    Get,
    /// `PATCH {name}` (a cache's TTL).
    Patch,
    /// `DELETE {name}`.
    Delete,
    /// `POST {name}:cancel` (a batch).
    Cancel,
    /// `GET {name}:download` (a generated file's bytes).
    Download,
}

/// A model operation that starts a job held by the key it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobVerb {
    /// `:batchGenerateContent`: a batch of generateContent requests.
    BatchGenerateContent,
    /// `:asyncBatchEmbedContent`: a batch of embeddings.
    AsyncBatchEmbedContent,
    /// `:predictLongRunning`: a long-running prediction (Veo video).
    PredictLongRunning,
}

impl JobVerb {
    /// The upstream `:verb`.
    pub fn verb(self) -> &'static str {
        match self {
            JobVerb::BatchGenerateContent => "batchGenerateContent",
            JobVerb::AsyncBatchEmbedContent => "asyncBatchEmbedContent",
            JobVerb::PredictLongRunning => "predictLongRunning",
        }
    }
}

/// A native call about resources held by one key's project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceCall {
    /// `POST /upload/{v}/files`: the start of a resumable upload, or a whole multipart upload.
    UploadStart,
    /// `POST|PUT /upload/{v}/files?upload_id=...`: bytes (and the finalize) of a resumable
    /// upload that gempool started; the body is streamed through, never held whole.
    UploadBytes {
        /// gempool's id of the upload session (not Google's).
        upload_id: String,
    },
    /// `GET /{v}/files | cachedContents | batches`: merged across the keys holding them.
    List(ResourceKind),
    /// `POST /{v}/cachedContents`.
    CreateCache,
    /// `POST /{v}/models/{m}:batchGenerateContent | :asyncBatchEmbedContent | :predictLongRunning`.
    StartJob {
        /// The model (validated).
        model: String,
        /// Which job.
        verb: JobVerb,
    },
    /// One named resource.
    Named {
        /// Its upstream name (validated: known collection, safe id characters).
        name: String,
        /// What is done to it.
        action: NamedAction,
    },
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`: liveness, no SQL.
    Health,
    /// `GET /metrics`: the pool's figures for Prometheus (admin key or metrics token).
    Metrics,
    /// `OPTIONS` anywhere: CORS preflight.
    Preflight,
    /// `GET /admin`: the admin page.
    AdminPage,
    /// `/admin/api/<rest>`; the admin module routes further.
    AdminApi {
        /// The path after `/admin/api/`.
        rest: String,
    },
    /// Native Gemini: `/{v1beta|v1}/models[/{model}[:{verb}]]`.
    Gemini {
        /// `v1beta` or `v1`, passed on upstream.
        version: String,
        /// The model id, for model operations (validated).
        model: Option<String>,
        /// Which operation.
        method: GeminiMethod,
    },
    /// Native Gemini resources (files, caches, batches, operations), each kept on its key.
    Resource {
        /// `v1beta` or `v1`, passed on upstream.
        version: String,
        /// Which call.
        call: ResourceCall,
    },
    /// `POST /v1/chat/completions`: OpenAI chat.
    OpenAiChat,
    /// `POST /v1/responses`: the OpenAI Responses API.
    OpenAiResponses,
    /// `POST /v1/embeddings`: OpenAI embeddings.
    OpenAiEmbeddings,
    /// `POST /v1/images/generations`: OpenAI images on Gemini's image models.
    OpenAiImages,
    /// `POST /v1/audio/speech`: OpenAI speech on Gemini's text-to-speech models.
    OpenAiSpeech,
    /// `GET /v1/models` in OpenAI's shape.
    OpenAiModels,
    /// `GET /v1/models/{id}` in OpenAI's shape.
    OpenAiModel(String),
    /// `POST /v1/messages`: Anthropic Messages.
    AnthropicMessages,
    /// `POST /v1/messages/count_tokens`: Anthropic token counting.
    AnthropicCountTokens,
    /// `GET /v1/models` in Anthropic's shape.
    AnthropicModels,
    /// `GET /v1/models/{id}` in Anthropic's shape.
    AnthropicModel(String),
}

impl Route {
    /// A short fixed name for logs (never a path, which may carry anything a client sent).
    pub fn name(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Preflight => "preflight",
            Route::AdminPage => "admin.page",
            Route::AdminApi { .. } => "admin.api",
            Route::Gemini { method, .. } => match method {
                GeminiMethod::ListModels => "gemini.models",
                GeminiMethod::GetModel => "gemini.model",
                GeminiMethod::GenerateContent => "gemini.generateContent",
                GeminiMethod::StreamGenerateContent => "gemini.streamGenerateContent",
                GeminiMethod::CountTokens => "gemini.countTokens",
                GeminiMethod::EmbedContent => "gemini.embedContent",
                GeminiMethod::BatchEmbedContents => "gemini.batchEmbedContents",
                GeminiMethod::Predict => "gemini.predict",
            },
            Route::Resource { call, .. } => match call {
                ResourceCall::UploadStart => "gemini.files.upload",
                ResourceCall::UploadBytes { .. } => "gemini.files.uploadBytes",
                ResourceCall::List(ResourceKind::Files) => "gemini.files.list",
                ResourceCall::List(ResourceKind::CachedContents) => "gemini.cachedContents.list",
                ResourceCall::List(_) => "gemini.batches.list",
                ResourceCall::CreateCache => "gemini.cachedContents.create",
                ResourceCall::StartJob { verb, .. } => match verb {
                    JobVerb::BatchGenerateContent => "gemini.batchGenerateContent",
                    JobVerb::AsyncBatchEmbedContent => "gemini.asyncBatchEmbedContent",
                    JobVerb::PredictLongRunning => "gemini.predictLongRunning",
                },
                ResourceCall::Named { action, .. } => match action {
                    NamedAction::Get => "gemini.resource.get",
                    NamedAction::Patch => "gemini.resource.patch",
                    NamedAction::Delete => "gemini.resource.delete",
                    NamedAction::Cancel => "gemini.resource.cancel",
                    NamedAction::Download => "gemini.resource.download",
                },
            },
            Route::OpenAiChat => "openai.chat",
            Route::OpenAiResponses => "openai.responses",
            Route::OpenAiEmbeddings => "openai.embeddings",
            Route::OpenAiImages => "openai.images",
            Route::OpenAiSpeech => "openai.speech",
            Route::OpenAiModels | Route::OpenAiModel(_) => "openai.models",
            Route::AnthropicMessages => "anthropic.messages",
            Route::AnthropicCountTokens => "anthropic.count_tokens",
            Route::AnthropicModels | Route::AnthropicModel(_) => "anthropic.models",
        }
    }

    /// Whether the route is served with a pool key (and so needs a client credential).
    pub fn is_proxied(&self) -> bool {
        !matches!(
            self,
            Route::Health | Route::Metrics | Route::Preflight | Route::AdminPage | Route::AdminApi { .. }
        )
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The protocol a request speaks, judged from its path and headers alone.
pub fn protocol_of(path: &str, headers: &[(String, String)], query: &str) -> Protocol {
    if path.starts_with("/admin") || path == "/metrics" {
        return Protocol::Admin;
    }
    if path.starts_with("/v1beta/openai/") {
        return Protocol::OpenAi;
    }
    if path.starts_with("/v1beta/")
        || path.starts_with("/upload/")
        || path.contains(':')
        || path.contains("%3A")
        || path.contains("%3a")
    {
        return Protocol::Gemini;
    }
    if path.starts_with("/v1/messages") || header(headers, "anthropic-version").is_some() {
        return Protocol::Anthropic;
    }
    if header(headers, "x-goog-api-key").is_some() || crate::auth::query_param(query, "key").is_some() {
        return Protocol::Gemini;
    }
    Protocol::OpenAi
}

/// Resolves a request to a route, or the error to answer with.
pub fn route(method: &str, path: &str, headers: &[(String, String)], query: &str) -> Result<Route, GatewayError> {
    if method == "OPTIONS" {
        return Ok(Route::Preflight);
    }
    let not_allowed = || GatewayError::MethodNotAllowed {
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let expect = |wanted: &str, route: Route| {
        if method == wanted || (wanted == "GET" && method == "HEAD") {
            Ok(route)
        } else {
            Err(not_allowed())
        }
    };
    let protocol = protocol_of(path, headers, query);

    match path {
        "/health" | "/healthz" => return expect("GET", Route::Health),
        "/metrics" => return expect("GET", Route::Metrics),
        "/admin" | "/admin/" | "/" => return expect("GET", Route::AdminPage),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/admin/api/") {
        return Ok(Route::AdminApi { rest: rest.to_owned() });
    }
    // OpenAI-compatible paths, with and without `/v1`, and Gemini's own compat prefix.
    let openai_path = path
        .strip_prefix("/v1beta/openai")
        .or_else(|| path.strip_prefix("/openai/v1"))
        .or_else(|| path.strip_prefix("/v1"))
        .unwrap_or(path);
    match openai_path {
        "/chat/completions" => return expect("POST", Route::OpenAiChat),
        "/responses" => return expect("POST", Route::OpenAiResponses),
        "/embeddings" => return expect("POST", Route::OpenAiEmbeddings),
        "/images/generations" => return expect("POST", Route::OpenAiImages),
        "/audio/speech" => return expect("POST", Route::OpenAiSpeech),
        "/messages" if path == "/v1/messages" => return expect("POST", Route::AnthropicMessages),
        "/messages/count_tokens" if path == "/v1/messages/count_tokens" => {
            return expect("POST", Route::AnthropicCountTokens)
        }
        _ => {}
    }
    if let Some(resource) = resource_route(method, path, query, protocol)? {
        return Ok(resource);
    }
    if let Some(gemini) = gemini_route(method, path, protocol)? {
        return Ok(gemini);
    }
    if openai_path == "/models" {
        return expect(
            "GET",
            if protocol == Protocol::Anthropic {
                Route::AnthropicModels
            } else {
                Route::OpenAiModels
            },
        );
    }
    if let Some(id) = openai_path.strip_prefix("/models/").filter(|id| !id.is_empty()) {
        let id = id.to_owned();
        return expect(
            "GET",
            if protocol == Protocol::Anthropic {
                Route::AnthropicModel(id)
            } else {
                Route::OpenAiModel(id)
            },
        );
    }
    Err(GatewayError::NotFound(format!("no route for {method} {path}")))
}

/// Native Gemini routes. `/v1/models` is shared with OpenAI and Anthropic, so it is Gemini
/// only when the request speaks Gemini (a `:verb`, `/v1beta`, or a Google-style key).
fn gemini_route(method: &str, path: &str, protocol: Protocol) -> Result<Option<Route>, GatewayError> {
    let (version, rest) = if let Some(rest) = path.strip_prefix("/v1beta/") {
        ("v1beta", rest)
    } else if let Some(rest) = path.strip_prefix("/v1/").filter(|_| protocol == Protocol::Gemini) {
        ("v1", rest)
    } else {
        return Ok(None);
    };
    let Some(rest) = rest.strip_prefix("models") else {
        return Ok(None);
    };
    let not_allowed = || GatewayError::MethodNotAllowed {
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let is_get = method == "GET" || method == "HEAD";
    let route = |model: Option<String>, m: GeminiMethod| Route::Gemini {
        version: version.to_owned(),
        model,
        method: m,
    };
    if rest.is_empty() || rest == "/" {
        return if is_get {
            Ok(Some(route(None, GeminiMethod::ListModels)))
        } else {
            Err(not_allowed())
        };
    }
    let Some(name) = rest.strip_prefix('/') else {
        return Ok(None);
    };
    let name = name.replace("%3A", ":").replace("%3a", ":");
    let Some((model, verb)) = name.split_once(':') else {
        if name.contains('/') || name.is_empty() {
            return Ok(None);
        }
        validate_model_id(&name).map_err(|e| GatewayError::invalid(e.to_string()))?;
        return if is_get {
            Ok(Some(route(Some(name), GeminiMethod::GetModel)))
        } else {
            Err(not_allowed())
        };
    };
    let m = match verb {
        "generateContent" => GeminiMethod::GenerateContent,
        "streamGenerateContent" => GeminiMethod::StreamGenerateContent,
        "countTokens" => GeminiMethod::CountTokens,
        "embedContent" => GeminiMethod::EmbedContent,
        "batchEmbedContents" => GeminiMethod::BatchEmbedContents,
        "predict" => GeminiMethod::Predict,
        _ => return Err(GatewayError::NotFound(format!("unknown method :{verb}"))),
    };
    if model.is_empty() || model.contains('/') {
        return Err(GatewayError::NotFound(format!("invalid model name {model:?}")));
    }
    validate_model_id(model).map_err(|e| GatewayError::invalid(e.to_string()))?;
    if method != "POST" {
        return Err(not_allowed());
    }
    Ok(Some(route(Some(model.to_owned()), m)))
}

/// The longest id gempool accepts in a resource name.
const MAX_RESOURCE_ID_LEN: usize = 128;

/// Whether `id` can be one segment of a resource name: Google's ids are short and made of
/// letters, digits, `-` and `_`; anything else would reshape the upstream path.
fn valid_resource_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_RESOURCE_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// A resource name as a client may send it (`files/abc`, `models/m/operations/x`), validated;
/// `None` when it is not one.
pub fn resource_name(name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('/').collect();
    let ok = match segments.as_slice() {
        ["files" | "cachedContents" | "batches", id] => valid_resource_id(id),
        ["models", model, "operations", id] => validate_model_id(model).is_ok() && valid_resource_id(id),
        _ => false,
    };
    ok.then(|| name.to_owned())
}

/// The value of query parameter `name`, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    crate::auth::query_param(query, name)
}

/// Native routes of resources held per key (see [`ResourceCall`]).
fn resource_route(method: &str, path: &str, query: &str, protocol: Protocol) -> Result<Option<Route>, GatewayError> {
    let not_allowed = || GatewayError::MethodNotAllowed {
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let resource = |version: &str, call: ResourceCall| {
        Some(Route::Resource {
            version: version.to_owned(),
            call,
        })
    };
    let path = path.replace("%3A", ":").replace("%3a", ":");
    // Uploads: `/upload/v1beta/files`.
    for version in ["v1beta", "v1"] {
        if path.trim_end_matches('/') == format!("/upload/{version}/files") {
            return match (method, query_value(query, "upload_id")) {
                ("POST" | "PUT", Some(id)) if valid_resource_id(&id) => {
                    Ok(resource(version, ResourceCall::UploadBytes { upload_id: id }))
                }
                ("POST" | "PUT", Some(_)) => Err(GatewayError::NotFound("unknown upload session".into())),
                ("POST", None) => Ok(resource(version, ResourceCall::UploadStart)),
                _ => Err(not_allowed()),
            };
        }
    }
    let (version, rest) = if let Some(rest) = path.strip_prefix("/v1beta/") {
        ("v1beta", rest)
    } else if let Some(rest) = path.strip_prefix("/v1/").filter(|_| protocol == Protocol::Gemini) {
        ("v1", rest)
    } else {
        return Ok(None);
    };
    let rest = rest.trim_end_matches('/');
    let is_get = method == "GET" || method == "HEAD";
    // The collections.
    let collection = match rest {
        "files" => Some(ResourceKind::Files),
        "cachedContents" => Some(ResourceKind::CachedContents),
        "batches" => Some(ResourceKind::Batches),
        _ => None,
    };
    if let Some(kind) = collection {
        return match method {
            _ if is_get => Ok(resource(version, ResourceCall::List(kind))),
            "POST" if kind == ResourceKind::CachedContents => Ok(resource(version, ResourceCall::CreateCache)),
            _ => Err(not_allowed()),
        };
    }
    // Jobs started on a model.
    if let Some(name) = rest.strip_prefix("models/") {
        if let Some((model, verb)) = name.split_once(':') {
            let verb = match verb {
                "batchGenerateContent" => JobVerb::BatchGenerateContent,
                "asyncBatchEmbedContent" => JobVerb::AsyncBatchEmbedContent,
                "predictLongRunning" => JobVerb::PredictLongRunning,
                _ => return Ok(None),
            };
            if model.is_empty() || model.contains('/') {
                return Err(GatewayError::NotFound(format!("invalid model name {model:?}")));
            }
            validate_model_id(model).map_err(|e| GatewayError::invalid(e.to_string()))?;
            return if method == "POST" {
                Ok(resource(
                    version,
                    ResourceCall::StartJob {
                        model: model.to_owned(),
                        verb,
                    },
                ))
            } else {
                Err(not_allowed())
            };
        }
        if !name.contains("/operations/") {
            return Ok(None);
        }
    }
    // One named resource, maybe with a `:verb`.
    let (name, verb) = match rest.split_once(':') {
        Some((name, verb)) => (name, Some(verb)),
        None => (rest, None),
    };
    let Some(kind) = ResourceKind::of_name(name) else {
        return Ok(None);
    };
    let Some(name) = resource_name(name) else {
        return Err(GatewayError::NotFound(format!(
            "{} is not a valid {} name",
            name.chars().take(160).collect::<String>(),
            kind.collection()
        )));
    };
    let action = match (verb, method, kind) {
        (None, _, _) if is_get => NamedAction::Get,
        (None, "DELETE", ResourceKind::Files | ResourceKind::CachedContents | ResourceKind::Batches) => {
            NamedAction::Delete
        }
        (None, "PATCH", ResourceKind::CachedContents) => NamedAction::Patch,
        (Some("cancel"), "POST", ResourceKind::Batches) => NamedAction::Cancel,
        (Some("download"), _, ResourceKind::Files) if is_get => NamedAction::Download,
        (Some(verb), _, _) if !matches!(verb, "cancel" | "download") => {
            return Err(GatewayError::NotFound(format!("unknown method :{verb}")))
        }
        _ => return Err(not_allowed()),
    };
    Ok(resource(version, ResourceCall::Named { name, action }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, path: &str) -> Result<Route, GatewayError> {
        route(method, path, &[], "")
    }

    fn gemini(model: Option<&str>, method: GeminiMethod) -> Route {
        Route::Gemini {
            version: "v1beta".into(),
            model: model.map(str::to_owned),
            method,
        }
    }

    #[test]
    fn native_gemini_routes() {
        assert_eq!(
            r("GET", "/v1beta/models").unwrap(),
            gemini(None, GeminiMethod::ListModels)
        );
        assert_eq!(
            r("GET", "/v1beta/models/gemini-2.5-flash").unwrap(),
            gemini(Some("gemini-2.5-flash"), GeminiMethod::GetModel)
        );
        assert_eq!(
            r("POST", "/v1beta/models/gemini-2.5-flash:generateContent").unwrap(),
            gemini(Some("gemini-2.5-flash"), GeminiMethod::GenerateContent)
        );
        assert_eq!(
            r("POST", "/v1beta/models/m%3AstreamGenerateContent").unwrap(),
            gemini(Some("m"), GeminiMethod::StreamGenerateContent)
        );
        for (verb, m) in [
            ("countTokens", GeminiMethod::CountTokens),
            ("embedContent", GeminiMethod::EmbedContent),
            ("batchEmbedContents", GeminiMethod::BatchEmbedContents),
            ("predict", GeminiMethod::Predict),
        ] {
            assert_eq!(
                r("POST", &format!("/v1beta/models/x:{verb}")).unwrap(),
                gemini(Some("x"), m)
            );
        }
        assert_eq!(
            r("POST", "/v1/models/gemini-2.5-pro:generateContent").unwrap(),
            Route::Gemini {
                version: "v1".into(),
                model: Some("gemini-2.5-pro".into()),
                method: GeminiMethod::GenerateContent
            }
        );
    }

    #[test]
    fn wrong_method_and_unknown_verbs_are_errors() {
        assert!(matches!(
            r("GET", "/v1beta/models/x:generateContent"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            r("POST", "/v1beta/models"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            r("POST", "/v1beta/models/x:explode"),
            Err(GatewayError::NotFound(_))
        ));
        assert!(matches!(r("GET", "/nope"), Err(GatewayError::NotFound(_))));
        assert!(matches!(
            r("DELETE", "/v1/chat/completions"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn v1_models_depends_on_who_asks() {
        assert_eq!(r("GET", "/v1/models").unwrap(), Route::OpenAiModels);
        let anthropic = vec![("anthropic-version".to_string(), "2023-06-01".to_string())];
        assert_eq!(
            route("GET", "/v1/models", &anthropic, "").unwrap(),
            Route::AnthropicModels
        );
        let google = vec![("x-goog-api-key".to_string(), "k".to_string())];
        assert_eq!(
            route("GET", "/v1/models", &google, "").unwrap(),
            Route::Gemini {
                version: "v1".into(),
                model: None,
                method: GeminiMethod::ListModels
            }
        );
        assert_eq!(
            r("GET", "/v1/models/gpt-4o").unwrap(),
            Route::OpenAiModel("gpt-4o".into())
        );
    }

    #[test]
    fn client_protocol_routes() {
        assert_eq!(r("POST", "/v1/chat/completions").unwrap(), Route::OpenAiChat);
        assert_eq!(r("POST", "/chat/completions").unwrap(), Route::OpenAiChat);
        assert_eq!(r("POST", "/v1beta/openai/chat/completions").unwrap(), Route::OpenAiChat);
        assert_eq!(r("POST", "/v1/embeddings").unwrap(), Route::OpenAiEmbeddings);
        assert_eq!(r("POST", "/v1/images/generations").unwrap(), Route::OpenAiImages);
        assert_eq!(
            r("POST", "/v1beta/openai/images/generations").unwrap(),
            Route::OpenAiImages
        );
        assert_eq!(r("POST", "/v1/messages").unwrap(), Route::AnthropicMessages);
        assert_eq!(
            r("POST", "/v1/messages/count_tokens").unwrap(),
            Route::AnthropicCountTokens
        );
        assert_eq!(r("GET", "/health").unwrap(), Route::Health);
        assert_eq!(r("GET", "/metrics").unwrap(), Route::Metrics);
        assert_eq!(protocol_of("/metrics", &[], ""), Protocol::Admin);
        assert!(matches!(
            r("POST", "/metrics"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert_eq!(r("OPTIONS", "/v1/chat/completions").unwrap(), Route::Preflight);
        assert_eq!(
            r("DELETE", "/admin/api/keys/3").unwrap(),
            Route::AdminApi { rest: "keys/3".into() }
        );
    }

    #[test]
    fn responses_routes() {
        for path in [
            "/v1/responses",
            "/responses",
            "/v1beta/openai/responses",
            "/openai/v1/responses",
        ] {
            assert_eq!(r("POST", path).unwrap(), Route::OpenAiResponses, "{path}");
            assert_eq!(protocol_of(path, &[], ""), Protocol::OpenAi, "{path}");
        }
        assert!(matches!(
            r("GET", "/v1/responses"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert_eq!(r("OPTIONS", "/v1/responses").unwrap(), Route::Preflight);
    }

    fn resource(call: ResourceCall) -> Route {
        Route::Resource {
            version: "v1beta".into(),
            call,
        }
    }

    fn named(name: &str, action: NamedAction) -> Route {
        resource(ResourceCall::Named {
            name: name.into(),
            action,
        })
    }

    #[test]
    fn resource_routes() {
        assert_eq!(
            r("POST", "/upload/v1beta/files").unwrap(),
            resource(ResourceCall::UploadStart)
        );
        assert_eq!(
            route(
                "POST",
                "/upload/v1beta/files",
                &[],
                "upload_id=abc-1&upload_protocol=resumable"
            )
            .unwrap(),
            resource(ResourceCall::UploadBytes {
                upload_id: "abc-1".into()
            })
        );
        assert_eq!(protocol_of("/upload/v1beta/files", &[], ""), Protocol::Gemini);
        assert_eq!(
            r("GET", "/v1beta/files").unwrap(),
            resource(ResourceCall::List(ResourceKind::Files))
        );
        assert_eq!(
            r("POST", "/v1beta/cachedContents").unwrap(),
            resource(ResourceCall::CreateCache)
        );
        assert_eq!(
            r("GET", "/v1beta/files/abc").unwrap(),
            named("files/abc", NamedAction::Get)
        );
        assert_eq!(
            r("DELETE", "/v1beta/cachedContents/c1").unwrap(),
            named("cachedContents/c1", NamedAction::Delete)
        );
        assert_eq!(
            r("PATCH", "/v1beta/cachedContents/c1").unwrap(),
            named("cachedContents/c1", NamedAction::Patch)
        );
        assert_eq!(
            r("POST", "/v1beta/batches/b1:cancel").unwrap(),
            named("batches/b1", NamedAction::Cancel)
        );
        assert_eq!(
            r("GET", "/v1beta/files/f1:download").unwrap(),
            named("files/f1", NamedAction::Download)
        );
        assert_eq!(
            r("GET", "/v1beta/models/veo-3.0-generate-001/operations/op1").unwrap(),
            named("models/veo-3.0-generate-001/operations/op1", NamedAction::Get)
        );
        assert_eq!(
            r("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent").unwrap(),
            resource(ResourceCall::StartJob {
                model: "gemini-2.5-flash".into(),
                verb: JobVerb::BatchGenerateContent
            })
        );
        // Names that would reshape the upstream path, and methods a resource does not have.
        assert!(matches!(r("GET", "/v1beta/files/a.b"), Err(GatewayError::NotFound(_))));
        assert!(matches!(
            route("POST", "/upload/v1beta/files", &[], "upload_id=../x"),
            Err(GatewayError::NotFound(_))
        ));
        assert!(matches!(
            r("DELETE", "/v1beta/models/m/operations/op1"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            r("PATCH", "/v1beta/files/abc"),
            Err(GatewayError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            r("POST", "/v1beta/files/abc:explode"),
            Err(GatewayError::NotFound(_))
        ));
        // `/v1/files` is OpenAI's unless the request speaks Gemini.
        assert!(r("GET", "/v1/files").is_err());
        let google = vec![("x-goog-api-key".to_string(), "k".to_string())];
        assert_eq!(
            route("GET", "/v1/files", &google, "").unwrap(),
            Route::Resource {
                version: "v1".into(),
                call: ResourceCall::List(ResourceKind::Files)
            }
        );
    }

    #[test]
    fn protocol_detection() {
        assert_eq!(protocol_of("/v1beta/models", &[], ""), Protocol::Gemini);
        assert_eq!(protocol_of("/v1/messages", &[], ""), Protocol::Anthropic);
        assert_eq!(protocol_of("/v1/chat/completions", &[], ""), Protocol::OpenAi);
        assert_eq!(
            protocol_of("/v1beta/openai/chat/completions", &[], ""),
            Protocol::OpenAi
        );
        assert_eq!(protocol_of("/admin/api/keys", &[], ""), Protocol::Admin);
        assert_eq!(protocol_of("/v1/models", &[], "key=x"), Protocol::Gemini);
    }
}
