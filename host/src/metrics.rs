//! Host-level figures for `GET /metrics`, in the Prometheus text exposition format (0.0.4).
//!
//! The guest answers `/metrics` with the pool's figures (keys, models, clients; behind the admin
//! key or the metrics token); the server appends these to a 200 answer
//! ([`append_host_figures`]). Only what the host sees: requests handed to the guest, instances
//! alive, response classes, instantiation and time-to-response-head. Plain atomics: a handful of
//! relaxed increments per request, no registry dependency.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::spin::sqlite::SqlStats;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Counters shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    requests_total: AtomicU64,
    in_flight: AtomicI64,
    /// The most requests in flight at once since [`Metrics::take_peak_in_flight`] last ran.
    peak_in_flight: AtomicI64,
    /// Responses by status class: index 0 is 1xx, ..., 4 is 5xx.
    responses: [AtomicU64; 5],
    instantiate_nanos: AtomicU64,
    instantiate_count: AtomicU64,
    request_nanos: AtomicU64,
    request_count: AtomicU64,
    busy_total: AtomicU64,
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    /// The guests' SQL, when the metrics know the database.
    sql: Option<Arc<SqlStats>>,
}

/// Counts one client connection as open until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

/// Counts one request as in flight until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// Metrics that also report the guests' SQL statements and writes.
    pub fn with_sql(sql: Arc<SqlStats>) -> Self {
        Self {
            sql: Some(sql),
            ..Self::default()
        }
    }

    /// Counts a request handed to the guest; it stays in flight while the guard lives (the guest
    /// instance's lifetime, which for a streamed response is until the last byte is written).
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.requests_total.fetch_add(1, Relaxed);
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }

    /// The most requests in flight at once since the last call, and starts the next period at
    /// the current count.
    pub fn take_peak_in_flight(&self) -> i64 {
        self.peak_in_flight.swap(self.in_flight.load(Relaxed), Relaxed)
    }

    /// Counts an accepted client connection; it stays open while the guard lives.
    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
        OpenConnection(Arc::clone(self))
    }

    /// Counts a request turned away because every instance was busy.
    pub fn record_busy(&self) {
        self.busy_total.fetch_add(1, Relaxed);
    }

    /// Records how long `instantiate_pre -> instance` took.
    pub fn record_instantiate(&self, took: Duration) {
        self.instantiate_nanos.fetch_add(nanos(took), Relaxed);
        self.instantiate_count.fetch_add(1, Relaxed);
    }

    /// Records a response head: its status and the time from request to head.
    pub fn record_response(&self, status: u16, took: Duration) {
        if let Some(class) = usize::from(status / 100).checked_sub(1).filter(|c| *c < 5) {
            self.responses[class].fetch_add(1, Relaxed);
        }
        self.request_nanos.fetch_add(nanos(took), Relaxed);
        self.request_count.fetch_add(1, Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (suffix_and_labels, value) in samples {
                out.push_str(&format!("{name}{suffix_and_labels} {value}\n"));
            }
        };
        metric(
            "gempool_requests_total",
            "counter",
            "Requests handed to the gateway component.",
            &[("", self.requests_total.load(Relaxed).to_string())],
        );
        metric(
            "gempool_requests_in_flight",
            "gauge",
            "Gateway component instances currently handling a request.",
            &[("", self.in_flight.load(Relaxed).to_string())],
        );
        metric(
            "gempool_requests_rejected_busy_total",
            "counter",
            "Requests answered 503 because the instance limit was reached.",
            &[("", self.busy_total.load(Relaxed).to_string())],
        );
        metric(
            "gempool_connections_open",
            "gauge",
            "Client connections currently open.",
            &[("", self.connections_open.load(Relaxed).to_string())],
        );
        metric(
            "gempool_connections_total",
            "counter",
            "Client connections accepted.",
            &[("", self.connections_total.load(Relaxed).to_string())],
        );
        let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        let labels: Vec<String> = classes.iter().map(|c| format!("{{status=\"{c}\"}}")).collect();
        let samples: Vec<(&str, String)> = labels
            .iter()
            .zip(&self.responses)
            .map(|(l, n)| (l.as_str(), n.load(Relaxed).to_string()))
            .collect();
        metric(
            "gempool_responses_total",
            "counter",
            "Responses from the gateway component by status class.",
            &samples,
        );
        metric(
            "gempool_instantiate_seconds",
            "summary",
            "Time to instantiate the gateway component for a request.",
            &[
                ("_sum", seconds(self.instantiate_nanos.load(Relaxed))),
                ("_count", self.instantiate_count.load(Relaxed).to_string()),
            ],
        );
        metric(
            "gempool_request_seconds",
            "summary",
            "Time from receiving a request to sending the response head.",
            &[
                ("_sum", seconds(self.request_nanos.load(Relaxed))),
                ("_count", self.request_count.load(Relaxed).to_string()),
            ],
        );
        if let Some(sql) = &self.sql {
            metric(
                "gempool_sql_statements_total",
                "counter",
                "SQL statements run for the gateway component.",
                &[("", sql.statements().to_string())],
            );
            metric(
                "gempool_sql_writes_total",
                "counter",
                "SQL statements run for the gateway component that could write (each one write transaction).",
                &[("", sql.writes().to_string())],
            );
        }
        out
    }
}

/// The guest's `/metrics` answer with the host's figures ([`Metrics::render`]) appended. The
/// guest's part is a few kilobytes to a few hundred (bounded label cardinality), so it is read
/// whole.
pub async fn append_host_figures(
    response: Response<HyperOutgoingBody>,
    figures: String,
) -> Response<HyperOutgoingBody> {
    let (mut parts, body) = response.into_parts();
    let mut text = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => {
            tracing::warn!("reading the component's /metrics failed: {e}");
            parts.status = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            Vec::new()
        }
    };
    if parts.status.is_success() {
        text.extend_from_slice(figures.as_bytes());
    }
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    let body = Full::new(Bytes::from(text))
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync();
    Response::from_parts(parts, body)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn seconds(nanos: u64) -> String {
    format!("{:.9}", nanos as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let m = Arc::new(Metrics::default());
        let guard = m.request_started();
        m.record_instantiate(Duration::from_millis(2));
        m.record_response(200, Duration::from_millis(5));
        m.record_response(503, Duration::from_millis(5));
        let text = m.render();
        assert!(text.contains("gempool_requests_total 1\n"));
        assert!(text.contains("gempool_requests_in_flight 1\n"));
        assert!(text.contains("gempool_responses_total{status=\"2xx\"} 1\n"));
        assert!(text.contains("gempool_responses_total{status=\"5xx\"} 1\n"));
        assert!(text.contains("gempool_instantiate_seconds_sum 0.002000000\n"));
        assert!(text.contains("gempool_instantiate_seconds_count 1\n"));
        assert!(text.contains("gempool_request_seconds_count 2\n"));
        let open = m.connection_opened();
        m.record_busy();
        let text = m.render();
        assert!(text.contains("gempool_connections_open 1\n"));
        assert!(text.contains("gempool_connections_total 1\n"));
        assert!(text.contains("gempool_requests_rejected_busy_total 1\n"));
        drop(open);
        assert!(m.render().contains("gempool_connections_open 0\n"));
        drop(guard);
        assert!(m.render().contains("gempool_requests_in_flight 0\n"));
        assert!(!m.render().contains("gempool_sql_"));
        let with_sql = Metrics::with_sql(Arc::default());
        let text = with_sql.render();
        assert!(text.contains("gempool_sql_statements_total 0\n"));
        assert!(text.contains("gempool_sql_writes_total 0\n"));
    }
}
