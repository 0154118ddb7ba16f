//! A real rate-limiting photo host: nginx (Debian's `nginx-light`, installed by
//! scripts/setup.sh) serving JPEGs on a loopback address with `limit_req` per client and
//! 429 for what comes faster, as a CDN does (no `Retry-After`). Its access log is what
//! the tests assert on. Started in its own process group, stopped by pid when dropped.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::image_server::jpeg;

pub struct Nginx {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// Serves `photos` distinct JPEGs as `/img/<i>.jpg` on `ip` (a loopback address),
    /// allowing each client `rate` requests per second.
    pub fn start(ip: &str, rate: &str, photos: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run unprivileged: everything they serve must be readable by all.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let www = dir.path().join("www/img");
        std::fs::create_dir_all(&www).unwrap();
        for i in 0..photos {
            std::fs::write(
                www.join(format!("{i}.jpg")),
                jpeg([(i * 7 % 256) as u8, 90, (i * 13 % 256) as u8], i as u32),
            )
            .unwrap();
        }
        let port = std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               log_format timed '$msec $status $request_uri';\n\
               access_log {d}/access.log timed;\n\
               limit_req_zone $binary_remote_addr zone=photos:1m rate={rate};\n\
               limit_req_status 429;\n\
               server {{ listen {ip}:{port}; root {d}/www; location / {{ limit_req zone=photos; }} }}\n\
             }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_program())
            .args(["-c", conf_path.to_str().unwrap(), "-p", dir.path().to_str().unwrap()])
            .process_group(0)
            .spawn()
            .expect("nginx runs (scripts/setup.sh installs nginx-light)");
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { addr, dir, child }
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://{}/img/{i}.jpg", self.addr)
    }

    /// `(seconds since the epoch, status)` of every request, in order.
    pub fn requests(&self) -> Vec<(f64, u16)> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
            })
            .collect()
    }

    /// The most requests that reached nginx in any window of one second.
    pub fn peak_per_second(&self) -> usize {
        let times: Vec<f64> = self.requests().iter().map(|(t, _)| *t).collect();
        times
            .iter()
            .enumerate()
            .map(|(i, t)| times[i..].iter().take_while(|u| **u < t + 1.0).count())
            .max()
            .unwrap_or(0)
    }
}

fn nginx_program() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| Path::new("nginx").to_owned())
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: signalling the process group of our own child.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
