//! The command line (`gempool serve` and its flags, each with an environment variable) and its
//! validation into a [`Config`], plus the variables handed to the guest.
//!
//! Contract with the guest (`fermyon:spin/variables`): `upstream_url` is the upstream origin
//! without a trailing slash; `open_access` is `"true"` or `"false"`; `admin_key` is defined only
//! when the operator passed `--admin-key` (otherwise the guest checks the key against the
//! `admin_key_sha256` setting, see [`crate::bootstrap`]); `access_log_header` is `"true"` when
//! the access log is on (the guest then adds `x-gempool-access` for [`crate::access`]);
//! `sql_ticket_function` is always `"true"`: the database has `gempool_next_ticket()`
//! ([`crate::spin::sqlite`]).

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

use crate::server::{ConnectionLimits, RequestLimits};
use crate::spin::variables::Variables;

/// The variable that asks the guest for its access-log header (`true`).
pub const ACCESS_LOG_VARIABLE: &str = "access_log_header";
/// The variable telling the guest that its SQL has `gempool_next_ticket()`.
pub const SQL_TICKET_VARIABLE: &str = "sql_ticket_function";

/// Where requests go when `--upstream-url` is not given.
pub const DEFAULT_UPSTREAM_URL: &str = "https://generativelanguage.googleapis.com";

/// `gempool`: a gateway that pools Gemini API keys.
#[derive(Parser)]
#[command(name = "gempool", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Serve the gateway over HTTP.
    Serve(ServeArgs),
}

/// Flags of `gempool serve`, as typed; [`Config::from_args`] validates them.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "GEMPOOL_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,

    /// SQLite database file (created with its directory if missing).
    #[arg(long, env = "GEMPOOL_DATA", default_value = "./gempool.db", value_name = "FILE")]
    pub data: PathBuf,

    /// Origin of the Gemini API (scheme://host[:port], no path).
    #[arg(long, env = "GEMPOOL_UPSTREAM_URL", default_value = DEFAULT_UPSTREAM_URL, value_name = "URL")]
    pub upstream_url: String,

    /// Admin key for /admin/ [default: generated on first start and stored as a hash].
    #[arg(long, env = "GEMPOOL_ADMIN_KEY", hide_env_values = true, value_name = "KEY")]
    pub admin_key: Option<String>,

    /// Gemini API keys to add to the pool (comma-separated; existing ones are kept).
    #[arg(
        long,
        env = "GEMPOOL_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub keys: Vec<String>,

    /// Serve proxied requests without a client key (GEMPOOL_OPEN=1).
    #[arg(long, env = "GEMPOOL_OPEN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub open: bool,

    /// Where the compiled component is cached [default: <dir of --data>/.gempool-cache].
    #[arg(long, env = "GEMPOOL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Seconds a client has to send a complete request head, counted from the connection's
    /// start or from the first byte after an idle keep-alive wait (0: no limit).
    #[arg(long, env = "GEMPOOL_CLIENT_HEADER_TIMEOUT", default_value = "30", value_name = "SECS", value_parser = parse_secs)]
    pub client_header_timeout: Secs,

    /// Seconds a keep-alive connection may wait for its next request before it is closed
    /// (0: no limit).
    #[arg(long, env = "GEMPOOL_CLIENT_IDLE_TIMEOUT", default_value = "75", value_name = "SECS", value_parser = parse_secs)]
    pub client_idle_timeout: Secs,

    /// Seconds a request body may pause between two reads; also the grace period of
    /// --client-body-min-rate (0: no limit). A stalled body is answered 408.
    #[arg(long, env = "GEMPOOL_CLIENT_BODY_TIMEOUT", default_value = "60", value_name = "SECS", value_parser = parse_secs)]
    pub client_body_timeout: Secs,

    /// Slowest average rate (bytes per second) a request body may arrive at once it has
    /// been arriving for --client-body-timeout (0: no minimum). A slower body is answered 408.
    #[arg(
        long,
        env = "GEMPOOL_CLIENT_BODY_MIN_RATE",
        default_value = "1024",
        value_name = "BYTES"
    )]
    pub client_body_min_rate: u64,

    /// Seconds a response may wait for the client to read it before the connection is
    /// closed (0: no limit).
    #[arg(long, env = "GEMPOOL_CLIENT_SEND_TIMEOUT", default_value = "60", value_name = "SECS", value_parser = parse_secs)]
    pub client_send_timeout: Secs,

    /// Open client connections; further clients wait in the listen backlog.
    #[arg(long, env = "GEMPOOL_MAX_CONNECTIONS", default_value = "10000", value_name = "N")]
    pub max_connections: usize,

    /// Requests served at once (one gateway instance each); further requests are answered
    /// 503 with Retry-After.
    #[arg(long, env = "GEMPOOL_MAX_INSTANCES", default_value = "1000", value_name = "N")]
    pub max_instances: u32,

    /// Seconds of CPU time the gateway may spend on one request before it is stopped with
    /// a 500 (waiting for the client or the upstream does not count; 0: no limit).
    #[arg(long, env = "GEMPOOL_REQUEST_CPU_LIMIT", default_value = "10", value_name = "SECS", value_parser = parse_secs)]
    pub request_cpu_limit: Secs,

    /// Log lines (the access log included) as plain text or one JSON object per line.
    #[arg(long, env = "GEMPOOL_LOG_FORMAT", default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// No access log (one line per request) (GEMPOOL_QUIET=1).
    #[arg(long, env = "GEMPOOL_QUIET", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub quiet: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `timestamp LEVEL target: message key=value ...`
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

/// A flag's number of seconds; `None` for `0`, which means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secs(pub Option<Duration>);

/// Parses seconds (`30`, `1.5`); `0` means no limit.
fn parse_secs(value: &str) -> Result<Secs, String> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds such as 30 or 1.5, got {value:?}"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("expected a number of seconds >= 0, got {value:?}"));
    }
    if secs == 0.0 {
        return Ok(Secs(None));
    }
    Duration::try_from_secs_f64(secs)
        .map(|d| Secs(Some(d)))
        .map_err(|_| format!("{value:?} seconds is too long"))
}

/// A validated `gempool serve` configuration.
pub struct Config {
    /// Socket address to bind.
    pub listen: SocketAddr,
    /// The SQLite file.
    pub data: PathBuf,
    /// Upstream origin, e.g. `https://generativelanguage.googleapis.com` (no trailing slash).
    pub upstream_url: String,
    /// The operator's admin key, if given.
    pub admin_key: Option<String>,
    /// Upstream keys to add at startup.
    pub keys: Vec<String>,
    /// Whether proxied requests need no client key.
    pub open: bool,
    /// Directory for the compiled-component cache.
    pub cache_dir: PathBuf,
    /// Timeouts and limits of client connections.
    pub connections: ConnectionLimits,
    /// Limits of each request's gateway instance.
    pub requests: RequestLimits,
    /// Whether every request gets an access-log line.
    pub access_log: bool,
}

// Keys are secrets: show how many there are, never their values.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("upstream_url", &self.upstream_url)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<set>"))
            .field("keys", &self.keys.len())
            .field("open", &self.open)
            .field("cache_dir", &self.cache_dir)
            .field("connections", &self.connections)
            .field("requests", &self.requests)
            .field("access_log", &self.access_log)
            .finish()
    }
}

/// A bad flag value: printed as `error: --flag: message`, exit code 2.
#[derive(Debug)]
pub struct ConfigError {
    /// The flag at fault, e.g. `--upstream-url`.
    pub flag: &'static str,
    /// What is wrong, in one line.
    pub message: String,
}

impl ConfigError {
    /// An error about `flag`.
    pub fn new(flag: &'static str, message: impl Into<String>) -> Self {
        Self {
            flag,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Validates the flags. Has no side effects; the data directory is created by the caller.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let listen = parse_listen(&args.listen)?;
        let upstream_url = parse_upstream_url(&args.upstream_url)?;
        if args.data.as_os_str().is_empty() {
            return Err(ConfigError::new("--data", "must not be empty"));
        }
        if args.data.is_dir() {
            return Err(ConfigError::new(
                "--data",
                format!("{} is a directory; give a file path", args.data.display()),
            ));
        }
        let admin_key = match args.admin_key {
            Some(key) if key.trim().is_empty() => return Err(ConfigError::new("--admin-key", "must not be empty")),
            Some(key) if key.trim() != key => {
                return Err(ConfigError::new("--admin-key", "must not start or end with whitespace"))
            }
            other => other,
        };
        let keys = args
            .keys
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        let cache_dir = args
            .cache_dir
            .unwrap_or_else(|| data_dir(&args.data).join(".gempool-cache"));
        if args.max_connections == 0 {
            return Err(ConfigError::new("--max-connections", "must be at least 1"));
        }
        if args.max_instances == 0 {
            return Err(ConfigError::new("--max-instances", "must be at least 1"));
        }
        let connections = ConnectionLimits {
            header_timeout: args.client_header_timeout.0,
            idle_timeout: args.client_idle_timeout.0,
            body_timeout: args.client_body_timeout.0,
            body_min_rate: args.client_body_min_rate,
            send_timeout: args.client_send_timeout.0,
            max_connections: args.max_connections,
        };
        let requests = RequestLimits {
            max_instances: args.max_instances,
            cpu_limit: args.request_cpu_limit.0,
        };
        Ok(Self {
            listen,
            data: args.data,
            upstream_url,
            admin_key,
            keys,
            open: args.open,
            cache_dir,
            connections,
            requests,
            access_log: !args.quiet,
        })
    }

    /// The application variables the guest reads (names fixed by the guest).
    pub fn variables(&self) -> Variables {
        let mut vars = HashMap::from([
            ("upstream_url".to_owned(), self.upstream_url.clone()),
            ("open_access".to_owned(), self.open.to_string()),
        ]);
        if let Some(key) = &self.admin_key {
            vars.insert("admin_key".to_owned(), key.clone());
        }
        // The database has `gempool_next_ticket()` (crate::spin::sqlite): round robin
        // without a write.
        vars.insert(SQL_TICKET_VARIABLE.to_owned(), "true".to_owned());
        if self.access_log {
            // The guest then tells the access log what only it knows (route, model, key id);
            // the server strips that header before the client sees it.
            vars.insert(ACCESS_LOG_VARIABLE.to_owned(), "true".to_owned());
        }
        Variables::new(vars)
    }
}

/// The directory holding the database file (`.` for a bare file name).
pub fn data_dir(data: &Path) -> PathBuf {
    match data.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn parse_listen(value: &str) -> Result<SocketAddr, ConfigError> {
    let bad = |why: String| ConfigError::new("--listen", why);
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // Names like `localhost:8080` are resolved once, at startup.
    match value.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| bad(format!("{value:?} resolves to no address"))),
        Err(e) => Err(bad(format!(
            "expected HOST:PORT such as 127.0.0.1:8080, got {value:?} ({e})"
        ))),
    }
}

/// Accepts `http(s)://host[:port]` with an optional trailing `/`; returns it without the slash.
fn parse_upstream_url(value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| {
        ConfigError::new(
            "--upstream-url",
            format!("{why}: expected an origin such as https://generativelanguage.googleapis.com, got {value:?}"),
        )
    };
    let uri: http::Uri = value.parse().map_err(|_| bad("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(_) => return Err(bad("the scheme must be http or https")),
        None => return Err(bad("missing http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    if authority.host().is_empty() {
        return Err(bad("missing host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("must not have a path or query"));
    }
    Ok(format!("{scheme}://{}", authority.as_str().to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from([&["gempool", "serve"], args].concat()).unwrap();
        let Command::Serve(args) = cli.command;
        Config::from_args(args)
    }

    #[test]
    fn defaults_are_local_and_point_at_gemini() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.upstream_url, DEFAULT_UPSTREAM_URL);
        assert_eq!(c.data, PathBuf::from("./gempool.db"));
        assert_eq!(c.cache_dir, PathBuf::from("./.gempool-cache"));
        assert!(!c.open && c.admin_key.is_none() && c.keys.is_empty());
    }

    #[test]
    fn upstream_url_must_be_an_http_origin() {
        for bad in [
            "foo",
            "ftp://x",
            "http://",
            "http://h/v1beta",
            "https://h?x=1",
            "//h",
            "http://u:p@h",
        ] {
            let err = parse(&["--upstream-url", bad]).unwrap_err();
            assert_eq!(err.flag, "--upstream-url", "{bad}");
            assert!(!err.to_string().contains('\n'));
        }
        let c = parse(&["--upstream-url", "HTTP://127.0.0.1:9000/"]).unwrap();
        assert_eq!(c.upstream_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn listen_must_be_an_address() {
        assert_eq!(parse(&["--listen", "nonsense"]).unwrap_err().flag, "--listen");
        assert_eq!(parse(&["--listen", "127.0.0.1:0"]).unwrap().listen.port(), 0);
        assert!(parse(&["--listen", "[::1]:8080"]).is_ok());
    }

    #[test]
    fn data_must_be_a_file_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse(&["--data", dir.path().to_str().unwrap()]).unwrap_err();
        assert_eq!(err.flag, "--data");
        let c = parse(&["--data", "/srv/g/x.db"]).unwrap();
        assert_eq!(c.cache_dir, PathBuf::from("/srv/g/.gempool-cache"));
    }

    #[test]
    fn keys_are_split_and_trimmed() {
        let c = parse(&["--keys", "a, b,,c "]).unwrap();
        assert_eq!(c.keys, ["a", "b", "c"]);
    }

    #[test]
    fn an_empty_admin_key_is_refused() {
        assert_eq!(parse(&["--admin-key", " "]).unwrap_err().flag, "--admin-key");
    }

    #[test]
    fn variables_follow_the_guest_contract() {
        let c = parse(&["--open", "--upstream-url", "http://h:1"]).unwrap();
        let vars = c.variables();
        assert_eq!(vars.get("upstream_url").unwrap(), "http://h:1");
        assert_eq!(vars.get("open_access").unwrap(), "true");
        assert!(vars.get("admin_key").is_err());
        let c = parse(&["--admin-key", "s3cret"]).unwrap();
        assert_eq!(c.variables().get("admin_key").unwrap(), "s3cret");
        assert_eq!(c.variables().get("open_access").unwrap(), "false");
        assert_eq!(c.variables().get(ACCESS_LOG_VARIABLE).unwrap(), "true");
        let quiet = parse(&["--quiet"]).unwrap();
        assert!(!quiet.access_log);
        assert!(quiet.variables().get(ACCESS_LOG_VARIABLE).is_err());
    }

    #[test]
    fn client_limits_default_like_nginx_and_zero_disables() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.connections, ConnectionLimits::default());
        assert_eq!(c.connections.header_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.connections.idle_timeout, Some(Duration::from_secs(75)));
        assert_eq!(c.connections.body_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.requests, RequestLimits::default());
        let c = parse(&[
            "--client-header-timeout",
            "1.5",
            "--client-idle-timeout",
            "0",
            "--max-instances",
            "2",
            "--request-cpu-limit",
            "0.25",
        ])
        .unwrap();
        assert_eq!(c.connections.header_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.connections.idle_timeout, None);
        assert_eq!(c.requests.max_instances, 2);
        assert_eq!(c.requests.cpu_limit, Some(Duration::from_millis(250)));
        for bad in ["-1", "soon", "inf"] {
            assert!(
                Cli::try_parse_from(["gempool", "serve", "--client-body-timeout", bad]).is_err(),
                "{bad}"
            );
        }
        assert_eq!(parse(&["--max-instances", "0"]).unwrap_err().flag, "--max-instances");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
