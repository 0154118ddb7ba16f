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
    /// Every site's address, in the order given to [`Nginx::start_sites`].
    pub sites: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    child: Child,
}

/// One site of an nginx: its files, and nginx directives for its `server` block.
pub struct NginxSite {
    /// Path under the site's root, and contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Directives inside `server { }` (its `location`s), `{root}` standing for its root.
    pub config: String,
}

impl Nginx {
    /// Serves `photos` distinct JPEGs as `/img/<i>.jpg` on `ip` (a loopback address),
    /// allowing each client `rate` requests per second.
    pub fn start(ip: &str, rate: &str, photos: usize) -> Self {
        let files = (0..photos)
            .map(|i| (format!("img/{i}.jpg"), jpeg([(i * 7 % 256) as u8, 90, (i * 13 % 256) as u8], i as u32)))
            .collect();
        let site = NginxSite { files, config: "location / { limit_req zone=photos; }".into() };
        Self::start_sites(ip, rate, vec![site])
    }

    /// Serves each site on a port of its own on `ip`; `limit_req zone=photos` allows
    /// `rate` requests per second per client where a site's config uses it.
    pub fn start_sites(ip: &str, rate: &str, sites: Vec<NginxSite>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run unprivileged: everything they serve must be readable by all.
        let readable =
            |path: &Path| std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        readable(dir.path());
        let d = dir.path().display();
        let mut servers = String::new();
        let mut addrs = Vec::new();
        for (n, site) in sites.into_iter().enumerate() {
            let root = dir.path().join(format!("www{n}"));
            for (path, bytes) in &site.files {
                let file = root.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, bytes).unwrap();
            }
            std::fs::create_dir_all(&root).unwrap();
            for entry in walk(&root) {
                readable(&entry);
            }
            let port = std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port();
            let config = site.config.replace("{root}", &root.display().to_string());
            servers.push_str(&format!("server {{ listen {ip}:{port}; root {}; {config} }}\n", root.display()));
            addrs.push(format!("{ip}:{port}").parse::<SocketAddr>().unwrap());
        }
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               default_type application/octet-stream;\n\
               types {{ image/jpeg jpg; image/png png; application/json json; text/plain txt; }}\n\
               log_format timed '$msec $status $request_uri $server_port';\n\
               access_log {d}/access.log timed;\n\
               limit_req_zone $binary_remote_addr zone=photos:1m rate={rate};\n\
               limit_req_status 429;\n\
               {servers}\
             }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_program())
            .args(["-c", conf_path.to_str().unwrap(), "-p", dir.path().to_str().unwrap()])
            .process_group(0)
            .spawn()
            .expect("nginx runs (scripts/setup.sh installs nginx-light)");
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in &addrs {
            while std::net::TcpStream::connect(addr).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "nginx did not start: {}",
                    std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Self { addr: addrs[0], sites: addrs, dir, child }
    }

    /// `(seconds since the epoch, status, path and query)` of every request to the site
    /// on `port`, in order.
    pub fn requests_on(&self, port: u16) -> Vec<(f64, u16, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [time, status, uri, on] = fields[..] else { return None };
                (on.parse() == Ok(port)).then(|| Some((time.parse().ok()?, status.parse().ok()?, uri.to_owned())))?
            })
            .collect()
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

/// Every folder and file under `root`, `root` included.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.to_owned()];
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            found.extend(walk(&entry.path()));
        }
    }
    found
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
