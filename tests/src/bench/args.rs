//! The command line.

use super::*;

/// Command line of `gempool-bench`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "gempool-bench",
    about = "Benchmark gempool against the mock Gemini (or a static upstream) on loopback, next to nginx and LiteLLM"
)]
pub(super) struct Args {
    /// Measured seconds of each saturation and open-loop phase.
    #[arg(long, default_value_t = 10.0)]
    pub(super) duration: f64,
    /// Warm-up seconds before each saturation phase (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub(super) warmup: f64,
    /// Requests per second of the open-loop phase.
    #[arg(long, default_value_t = 500)]
    pub(super) rate: u32,
    /// Keep-alive connections of the closed loop.
    #[arg(long, default_value_t = 32)]
    pub(super) connections: usize,
    /// Connections of the open loop (requests wait for a free one, on the clock).
    #[arg(long, default_value_t = 64)]
    pub(super) open_connections: usize,
    /// Sequential streaming requests for time to first byte.
    #[arg(long, default_value_t = 300)]
    pub(super) stream_requests: usize,
    /// Size of the generateContent body in bytes (approximately).
    #[arg(long, default_value_t = 1024)]
    pub(super) body_bytes: usize,
    /// Short run for CI smoke tests: 0.4 s phases, 0.2 s warm-up, 200 rps, 20 streams; LiteLLM
    /// only with an explicit --litellm-python.
    #[arg(long)]
    pub(super) quick: bool,
    /// What the proxies call: `mock` (the in-process mock Gemini, which checks and echoes every
    /// request) or `static` (a built-in server answering every call with the same bytes).
    #[arg(long, value_enum, default_value_t = UpstreamKind::Mock)]
    pub(super) upstream: UpstreamKind,
    /// Also measure nginx `proxy_pass` to the upstream as a floor.
    #[arg(long)]
    pub(super) nginx: bool,
    /// The Python that runs LiteLLM [default: the interpreter of `litellm` on PATH, else
    /// python3]; the LiteLLM column runs when `import litellm.proxy.proxy_cli` works there.
    #[arg(long)]
    pub(super) litellm_python: Option<PathBuf>,
    /// Skip the LiteLLM column even when LiteLLM is installed.
    #[arg(long)]
    pub(super) no_litellm: bool,
    /// Requests per second of LiteLLM's open-loop phase (it saturates at 45-100 req/s on these 2
    /// cores, so 500 would only measure its queue); direct gets a phase at the same rate.
    #[arg(long, default_value_t = 25)]
    pub(super) litellm_rate: u32,
    /// Seconds of closed-loop load on LiteLLM before its first phase, not counted (it imports
    /// code and fills caches on its first few hundred requests: ~25 req/s, then ~55).
    #[arg(long, default_value_t = 15.0)]
    pub(super) litellm_warmup: f64,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub(super) nginx_bin: PathBuf,
    /// The gempool binary [default: $GEMPOOL_BIN, else <workspace>/target/release/gempool].
    #[arg(long)]
    pub(super) gempool_bin: Option<PathBuf>,
    /// The guest component, for its size [default: $GEMPOOL_GUEST_WASM, else
    /// <workspace>/target/wasm/wasm32-wasip2/guest/gempool_guest.wasm].
    #[arg(long)]
    pub(super) component: Option<PathBuf>,
    /// Worker threads of the in-process mock (the static upstream always has one).
    #[arg(long, default_value_t = 1)]
    pub(super) mock_threads: usize,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    pub(super) client_threads: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
}

impl Args {
    pub(super) fn apply_quick(&mut self) {
        if self.quick {
            self.duration = self.duration.min(0.4);
            self.warmup = self.warmup.min(0.2);
            self.rate = self.rate.min(200);
            self.stream_requests = self.stream_requests.min(20);
            self.litellm_rate = self.litellm_rate.min(20);
            self.litellm_warmup = self.litellm_warmup.min(1.0);
        }
    }
}

/// What the proxies under test call.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpstreamKind {
    /// The in-process mock Gemini (checks keys and bodies, echoes the prompt).
    Mock,
    /// A built-in static Gemini-shaped server (fixed answers, no checks).
    Static,
}
