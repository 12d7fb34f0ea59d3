//! The etcd name service: a name is the key `PREFIX/NAME` (prefix
//! `/mempipe/names` unless set), its value the registration's text, attached
//! to a lease of a few seconds that a keeper task renews. A clean drop revokes
//! the lease (the key goes at once); a killed process stops renewing and the
//! key expires with its lease. Claiming is one transaction: put only if the
//! key does not exist, else read the holder. Resolving a name that is not
//! there yet watches the key from the revision just read, so nothing between
//! the read and the watch is missed and nothing polls.
//!
//! The API is blocking: calls run on a small runtime this value owns (one
//! worker thread, which also runs the keepers). Call it from threads that are
//! not themselves inside an async runtime (in async code, `spawn_blocking`).

use super::record::{decode, encode, Registration};
use super::{check_name, under, EventSink, NameEvent, NameHold, NameService, NameServiceError};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, LeaseKeepAliveStream,
    LeaseKeeper, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Names in an etcd cluster.
pub struct EtcdNames {
    endpoints: Vec<String>,
    prefix: String,
    ttl: i64,
    timeout: Duration,
    client: Arc<Connection>,
    events: Option<EventSink>,
    runtime: Arc<Runtime>,
}

/// The client, replaced by a fresh one after a failure: the client's
/// channel does not always come back by itself once an endpoint that went
/// away returns.
struct Connection {
    endpoints: Vec<String>,
    options: ConnectOptions,
    client: Mutex<Client>,
}

impl Connection {
    fn get(&self) -> Client {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Dials again (bounded by the options' connect timeout); keeps the old
    /// client when that fails too.
    async fn redial(&self) {
        if let Ok(fresh) = Client::connect(&self.endpoints, Some(self.options.clone())).await {
            *self.client.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }
}

impl std::fmt::Debug for EtcdNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdNames({:?})", self.endpoints)
    }
}

/// A transient failure, kept for the `Unreachable` error if time runs out.
type Failure = Mutex<Option<String>>;

/// Pause between retries of a failed call.
const RETRY: Duration = Duration::from_millis(100);

impl EtcdNames {
    /// Connects to the cluster at `endpoints` (`http://host:port`), giving up
    /// after `timeout`, which also bounds each later call that has no timeout
    /// of its own. The lease TTL is 5 s.
    ///
    /// # Errors
    /// [`NameServiceError::Unreachable`] naming the endpoints when none answers in
    /// time (or an endpoint is malformed); [`NameServiceError::Os`] when the runtime
    /// cannot start.
    ///
    /// # Examples
    /// ```no_run
    /// use mempipe::conn::names::{EtcdNames, NameService, Registration};
    /// use std::time::Duration;
    /// let names = EtcdNames::connect(&["http://127.0.0.1:2379"], Duration::from_secs(2))?;
    /// let _hold = names.register("app/db/primary", &Registration::this_process())?;
    /// let found = names.resolve("app/db/primary", Duration::from_secs(1))?;
    /// assert_eq!(found.pid, std::process::id());
    /// # Ok::<(), mempipe::conn::names::NameServiceError>(())
    /// ```
    pub fn connect(
        endpoints: &[impl AsRef<str>],
        timeout: Duration,
    ) -> Result<Self, NameServiceError> {
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_owned()).collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mempipe-etcd")
            .enable_all()
            .build()
            .map_err(|source| NameServiceError::Os {
                op: "start the etcd client's runtime",
                source,
            })?;
        let options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2));
        let start = Instant::now();
        let unreachable = |why: String| NameServiceError::Unreachable {
            endpoints: endpoints.clone(),
            waited: start.elapsed(),
            why,
        };
        let client = runtime
            .block_on(async {
                tokio::time::timeout(timeout, Client::connect(&endpoints, Some(options.clone())))
                    .await
            })
            .map_err(|_| unreachable("no answer".to_owned()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let names = EtcdNames {
            endpoints: endpoints.clone(),
            prefix: "/mempipe/names".to_owned(),
            ttl: 5,
            timeout,
            client: Arc::new(Connection {
                endpoints: endpoints.clone(),
                options,
                client: Mutex::new(client),
            }),
            events: None,
            runtime: Arc::new(runtime),
        };
        // The connection is made lazily: ask once, so a dead cluster is seen now.
        let deadline = start + timeout;
        names.retrying(deadline, |mut c| async move {
            c.get("/", Some(GetOptions::new().with_count_only())).await
        })?;
        Ok(names)
    }

    /// The lease's time to live in seconds (at least 2; default 5): how long a
    /// killed listener's name outlives it.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = i64::from(seconds.max(2));
        self
    }

    /// The key prefix names live under (default `/mempipe/names`), to keep
    /// separate sets of names in one cluster.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Where to report what happens to held names ([`NameEvent`]).
    pub fn on_event(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    fn unreachable(&self, waited: Duration, why: String) -> NameServiceError {
        NameServiceError::Unreachable {
            endpoints: self.endpoints.clone(),
            waited,
            why,
        }
    }

    /// Runs `call` until it succeeds or `deadline`, retrying failures (a
    /// member down, no leader yet).
    fn retrying<T, F, Fut>(&self, deadline: Instant, call: F) -> Result<T, NameServiceError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let start = Instant::now();
        let failure: Failure = Mutex::new(None);
        let attempts = async {
            loop {
                match call(self.client.get()).await {
                    Ok(v) => return v,
                    Err(e) => {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        tokio::time::sleep(RETRY).await;
                        self.client.redial().await;
                    }
                }
            }
        };
        let left = deadline.saturating_duration_since(start);
        match self
            .runtime
            .block_on(async { tokio::time::timeout(left, attempts).await })
        {
            Ok(v) => Ok(v),
            Err(_) => {
                let why = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(self.unreachable(start.elapsed(), why.unwrap_or_else(|| "no answer".into())))
            }
        }
    }
}

/// What a claim found.
enum Claim {
    /// The name is ours under this lease.
    Ours(i64),
    /// A live holder has it; this is its registration's text.
    Taken(Vec<u8>),
}

/// Grants a lease and puts `value` under `key` if no one holds it.
async fn claim(
    mut client: Client,
    key: String,
    value: String,
    ttl: i64,
) -> Result<Claim, etcd_client::Error> {
    let lease = client.lease_grant(ttl, None).await?.id();
    let txn = Txn::new()
        .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(
            key.clone(),
            value,
            Some(etcd_client::PutOptions::new().with_lease(lease)),
        )])
        .or_else([TxnOp::get(key, None)]);
    let reply = client.txn(txn).await?;
    if reply.succeeded() {
        return Ok(Claim::Ours(lease));
    }
    let _ = client.lease_revoke(lease).await;
    let holder = reply
        .op_responses()
        .into_iter()
        .find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value().to_vec()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(Claim::Taken(holder))
}

/// A held etcd name: stops its keeper and revokes its lease when dropped.
struct EtcdHold {
    stop: Option<oneshot::Sender<()>>,
    lease: Arc<AtomicI64>,
    client: Arc<Connection>,
    runtime: Arc<Runtime>,
    timeout: Duration,
}

impl Drop for EtcdHold {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let lease = self.lease.load(Ordering::Acquire);
        let mut client = self.client.get();
        // Bounded: with etcd away the key simply expires with its lease.
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, client.lease_revoke(lease)).await
        });
    }
}

/// Renews the lease every third of its TTL; re-claims the name when the lease
/// was lost while the cluster was away; reports what happened to `events`.
struct Keeper {
    client: Arc<Connection>,
    name: String,
    key: String,
    value: String,
    ttl: i64,
    lease: Arc<AtomicI64>,
    events: Option<EventSink>,
}

impl Keeper {
    fn emit(&self, event: NameEvent) {
        if let Some(sink) = &self.events {
            sink(&event);
        }
    }

    /// One keep-alive round trip: the lease's remaining TTL (0: gone).
    async fn renew(
        &mut self,
        stream: &mut Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    ) -> Result<i64, etcd_client::Error> {
        if stream.is_none() {
            let lease = self.lease.load(Ordering::Acquire);
            let mut client = self.client.get();
            match client.lease_keep_alive(lease).await {
                Ok(opened) => *stream = Some(opened),
                Err(e) => {
                    // Opening fails for an expired lease too: ask which it is.
                    return match client.lease_time_to_live(lease, None).await {
                        Ok(left) if left.ttl() <= 0 => Ok(0),
                        _ => Err(e),
                    };
                }
            }
        }
        let Some((keeper, replies)) = stream.as_mut() else {
            unreachable!("set above")
        };
        keeper.keep_alive().await?;
        match replies.message().await? {
            Some(reply) => Ok(reply.ttl()),
            None => Err(etcd_client::Error::LeaseKeepAliveError(
                "keep-alive stream ended".into(),
            )),
        }
    }

    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let period = Duration::from_secs(self.ttl as u64) / 3;
        let mut stream = None;
        let mut away = false;
        loop {
            let round = tokio::time::timeout(period, self.renew(&mut stream));
            let result = tokio::select! {
                _ = &mut stop => return,
                r = round => r,
            };
            let pause = match result {
                Ok(Ok(ttl)) if ttl > 0 => {
                    away = false;
                    period
                }
                Ok(Ok(_)) => {
                    // The lease expired while we could not renew it.
                    stream = None;
                    let claimed = claim(
                        self.client.get(),
                        self.key.clone(),
                        self.value.clone(),
                        self.ttl,
                    )
                    .await;
                    match claimed {
                        Ok(Claim::Ours(lease)) => {
                            self.lease.store(lease, Ordering::Release);
                            away = false;
                            self.emit(NameEvent::Reregistered {
                                name: self.name.clone(),
                            });
                            period
                        }
                        Ok(Claim::Taken(holder)) => {
                            let pid = decode(&self.name, &holder).map_or(0, |r| r.pid);
                            self.emit(NameEvent::Lost {
                                name: self.name.clone(),
                                pid,
                            });
                            return;
                        }
                        Err(_) => {
                            self.client.redial().await;
                            RETRY
                        }
                    }
                }
                failed => {
                    stream = None;
                    self.client.redial().await;
                    if !away {
                        away = true;
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no keep-alive reply within {period:?}"),
                        };
                        self.emit(NameEvent::Unreachable {
                            name: self.name.clone(),
                            why,
                        });
                    }
                    RETRY
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

impl NameService for EtcdNames {
    fn register(
        &self,
        name: &str,
        registration: &Registration,
    ) -> Result<NameHold, NameServiceError> {
        check_name(name, false)?;
        let key = self.key(name);
        let value = encode(registration);
        let deadline = Instant::now() + self.timeout;
        let claimed =
            self.retrying(deadline, |c| claim(c, key.clone(), value.clone(), self.ttl))?;
        let lease = match claimed {
            Claim::Ours(lease) => lease,
            Claim::Taken(holder) => {
                let holder = decode(name, &holder)?;
                return Err(NameServiceError::Taken {
                    name: name.to_owned(),
                    pid: holder.pid,
                    host: holder.host,
                });
            }
        };
        let lease = Arc::new(AtomicI64::new(lease));
        let (stop, stopped) = oneshot::channel();
        let keeper = Keeper {
            client: self.client.clone(),
            name: name.to_owned(),
            key,
            value,
            ttl: self.ttl,
            lease: lease.clone(),
            events: self.events.clone(),
        };
        self.runtime.spawn(keeper.run(stopped));
        Ok(NameHold::new(EtcdHold {
            stop: Some(stop),
            lease,
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            timeout: self.timeout,
        }))
    }

    fn resolve(&self, name: &str, timeout: Duration) -> Result<Registration, NameServiceError> {
        check_name(name, false)?;
        let key = self.key(name);
        let start = Instant::now();
        let failure: Failure = Mutex::new(None);
        let answered = std::sync::atomic::AtomicBool::new(false);
        let note = |e: etcd_client::Error| {
            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        };
        let search = async {
            loop {
                let mut client = self.client.get();
                let found = match client.get(key.as_str(), None).await {
                    Ok(found) => found,
                    Err(e) => {
                        note(e);
                        tokio::time::sleep(RETRY).await;
                        self.client.redial().await;
                        continue;
                    }
                };
                if let Some(kv) = found.kvs().first() {
                    return kv.value().to_vec();
                }
                // Answered: from now on, running out of time means "not there".
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                answered.store(true, Ordering::Release);
                let from = found.header().map_or(0, |h| h.revision()) + 1;
                let options = WatchOptions::new().with_start_revision(from);
                let mut watch = match client.watch(key.as_str(), Some(options)).await {
                    Ok(watch) => watch,
                    Err(e) => {
                        note(e);
                        continue;
                    }
                };
                loop {
                    match watch.message().await {
                        Ok(Some(reply)) => {
                            let put = reply.events().iter().find_map(|ev| {
                                (ev.event_type() == EventType::Put)
                                    .then(|| ev.kv().map(|kv| kv.value().to_vec()))
                                    .flatten()
                            });
                            if let Some(value) = put {
                                return value;
                            }
                            if reply.canceled() {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            note(e);
                            break;
                        }
                    }
                }
            }
        };
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, search).await })
        {
            Ok(value) => decode(name, &value),
            Err(_) => Err(
                match failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(why) => self.unreachable(start.elapsed(), why),
                    None if !answered.load(Ordering::Acquire) => {
                        self.unreachable(start.elapsed(), "no answer".to_owned())
                    }
                    None => NameServiceError::NotFound {
                        name: name.to_owned(),
                        waited: start.elapsed(),
                        service: self.describe(),
                    },
                },
            ),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Registration)>, NameServiceError> {
        check_name(prefix, true)?;
        let key = if prefix.is_empty() {
            format!("{}/", self.prefix)
        } else {
            self.key(prefix)
        };
        let deadline = Instant::now() + self.timeout;
        let found = self.retrying(deadline, |mut c| {
            let key = key.clone();
            async move { c.get(key, Some(GetOptions::new().with_prefix())).await }
        })?;
        let mut names = Vec::new();
        for kv in found.kvs() {
            let Some(name) = std::str::from_utf8(kv.key())
                .ok()
                .and_then(|k| k.strip_prefix(&self.prefix))
                .and_then(|k| k.strip_prefix('/'))
            else {
                continue;
            };
            if check_name(name, false).is_ok() && under(name, prefix) {
                names.push((name.to_owned(), decode(name, kv.value())?));
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names)
    }

    fn describe(&self) -> String {
        format!("etcd {}", self.endpoints.join(","))
    }
}
