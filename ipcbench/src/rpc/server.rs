//! The server process: `ipcbench __rpc-server <json>`, re-executed from the
//! parent's own binary. It pins itself, binds, prints `ready <address>` on
//! stdout, serves on a current-thread runtime, and exits when its stdin
//! closes (the parent ends it that way, so the listener's name or socket
//! file is removed), or with the parent.

use super::via::{Listening, Place};
use super::Framework;
use crate::affinity;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything the server needs, passed as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServerSpec {
    pub(crate) framework: Framework,
    pub(crate) place: Place,
    pub(crate) cpu: usize,
}

/// Entry point of `ipcbench __rpc-server`. Returns the process exit code.
pub(crate) fn main(spec_json: &str) -> i32 {
    let spec: ServerSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ipcbench __rpc-server: bad spec: {e} (this subcommand is internal)");
            return 2;
        }
    };
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    match serve(&spec) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ipcbench __rpc-server: {e:#}");
            1
        }
    }
}

fn serve(spec: &ServerSpec) -> anyhow::Result<()> {
    affinity::pin_to(spec.cpu).with_context(|| format!("pin to cpu {}", spec.cpu))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    // Stdin closes when the parent is done with us (or gone).
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });
    runtime.block_on(async {
        let listening = Listening::bind(&spec.place)
            .await
            .with_context(|| format!("bind {} {:?}", spec.place.via.name(), spec.place.at))?;
        let address = listening.address(&spec.place)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {address}")?;
        out.flush()?;
        drop(out);
        let served = async {
            match spec.framework {
                Framework::Grpc => super::grpc::serve(listening).await,
                Framework::Http1 => super::http::serve(listening).await,
            }
        };
        tokio::select! {
            result = served => result,
            _ = closed_rx => Ok(()),
        }
    })
}

/// A running server process and the address its clients connect to.
pub(crate) struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(crate) address: String,
}

impl ServerProcess {
    /// Starts a server for `spec` and waits for its `ready` line.
    pub(crate) fn start(spec: &ServerSpec) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("locate the ipcbench executable")?;
        let mut child = Command::new(exe)
            .arg("__rpc-server")
            .arg(serde_json::to_string(spec)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start the server process")?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            // One line only: the server writes nothing after it.
            let _ = BufReader::new(stdout.take(4096)).read_line(&mut line);
        }
        let mut server = ServerProcess {
            child,
            stdin,
            address: String::new(),
        };
        match line.trim().strip_prefix("ready ") {
            Some(address) => server.address = address.to_string(),
            None => bail!(
                "the {} {} server did not start (it said {:?})",
                spec.framework.name(),
                spec.place.via.name(),
                line.trim()
            ),
        }
        Ok(server)
    }
}

impl Drop for ServerProcess {
    /// Closes the server's stdin and waits for it to exit (killing it after 5 s).
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
