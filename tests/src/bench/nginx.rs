//! nginx as the floor (`--nginx`).

use super::*;

/// nginx `proxy_pass` to the mock, on a generated configuration in a temporary directory.
pub(super) struct Nginx {
    pub(super) child: Option<Child>,
    pub(super) addr: SocketAddr,
    pub(super) _dir: tempfile::TempDir,
}

impl Nginx {
    pub(super) fn start(bin: &Path, upstream: SocketAddr) -> anyhow::Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("gempool-bench-nginx-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let d = dir.path().display();
        let config = format!(
            "worker_processes auto;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 client_body_temp_path {d}/body;\n\
             \x20 proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 upstream mock {{ server {upstream}; keepalive 128; keepalive_requests 1000000; }}\n\
             \x20 server {{\n\
             \x20   listen {addr};\n\
             \x20   location / {{\n\
             \x20     proxy_pass http://mock;\n\
             \x20     proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n\
             \x20     proxy_buffering off;\n\
             \x20   }}\n\
             \x20 }}\n\
             }}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {} (install nginx or drop --nginx)", bin.display()))?;
        let mut nginx = Nginx {
            child: Some(child),
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(nginx);
            }
            if let Some(Ok(Some(status))) = nginx.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
                bail!("nginx exited ({status}): {log}");
            }
            if Instant::now() >= deadline {
                bail!("nginx did not listen on {addr} in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SIGQUIT lets the master stop its workers (a SIGKILLed master would orphan them).
        signal(child.id(), "QUIT");
        if exited_within(&mut child, Duration::from_secs(5)) {
            return;
        }
        crate::best_effort(child.kill());
        crate::best_effort(child.wait());
    }
}
