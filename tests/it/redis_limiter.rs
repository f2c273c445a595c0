//! The Redis limiter backend (`limiter.backend = "redis"`): budgets and
//! quotas shared by server processes, the same decisions as governor,
//! Redis failing and coming back, keys that went missing.
//!
//! Every test uses PostgreSQL (a fresh database, shared by the test's
//! servers) and Redis whatever the run's backend, so scripts/test runs
//! them once. The shared Redis of the run (IDENTITY_OS_TEST_REDIS_URL,
//! started by scripts/services/redis.sh) is safe to share between tests:
//! keys are per account and every test has accounts of its own. The test
//! that kills Redis starts a Redis of its own (IDENTITY_OS_TEST_REDIS_SERVER).

use crate::common::{
    eventually, fresh_postgres_database, ts, Answer, Options, ProcessServer, TestServer,
};
use futures_util::future::join_all;
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use identity_os::actors::limiter::redis::{
    budget_key, counter_key, ChargeArgs, ChargeOutcome, RedisLimiter,
};
use identity_os::time::{month_of, now_micros};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The run's shared Redis.
fn redis_url() -> String {
    std::env::var("IDENTITY_OS_TEST_REDIS_URL").expect(
        "IDENTITY_OS_TEST_REDIS_URL is not set: run scripts/test, which starts Redis \
         (scripts/services/redis.sh)",
    )
}

/// Server options: PostgreSQL database `pg`, the admin API, the Redis
/// limiter at `redis` in `fail_mode`, plus `extra` TOML.
fn shared(pg: &str, redis: &str, fail_mode: &str, extra: &str) -> Options {
    let mut options = Options::admin(&format!(
        "[limiter]\nbackend = \"redis\"\nredis_url = \"{redis}\"\nfail_mode = \"{fail_mode}\"\n{extra}"
    ));
    options.storage = Some(format!(
        "[storage]\nbackend = \"postgres\"\ndatabase_url = \"{pg}\"\ndurability = \"full\"\n\
         connect_timeout_secs = 1.0\n"
    ));
    options
}

/// Two server processes on one fresh database and the shared Redis.
fn two_nodes(extra: &str) -> (ProcessServer, ProcessServer) {
    let (pg, redis) = (fresh_postgres_database(), redis_url());
    // The first creates the schema, the second finds it.
    let a = TestServer::start_process(shared(&pg, &redis, "closed", extra));
    let b = TestServer::start_process(shared(&pg, &redis, "closed", extra));
    (a, b)
}

fn header_u64(answer: &Answer, name: &str) -> u64 {
    answer
        .header(name)
        .unwrap_or_else(|| panic!("{name} missing on {} {}", answer.status, answer.text))
        .parse()
        .expect("integer header")
}

/// The value of the first sample starting with `prefix` (0 when absent).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(server: &TestServer) -> String {
    server
        .send(Method::GET, "/metrics", None, None, &[])
        .await
        .text
}

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis")
}

/// Deletes an account's limiter keys (what a flush or an expiry does).
async fn forget(url: &str, account: &str) {
    let month = month_of(now_micros());
    let mut connection = redis_connection(url).await;
    let _: () = redis::cmd("DEL")
        .arg(budget_key(account))
        .arg(counter_key(account, &month))
        .query_async(&mut connection)
        .await
        .expect("DEL");
}

/// The account's month counter in Redis, if any.
async fn counter(url: &str, account: &str) -> Option<u64> {
    let month = month_of(now_micros());
    let mut connection = redis_connection(url).await;
    redis::cmd("GET")
        .arg(counter_key(account, &month))
        .query_async(&mut connection)
        .await
        .expect("GET")
}

fn observation(t: u64) -> Value {
    json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(t)})
}

fn batch(start: u64, n: u64) -> Value {
    json!({"observations": (0..n).map(|i| observation(start + i * 2)).collect::<Vec<_>>()})
}

async fn monthly_used(server: &TestServer, key: &str) -> u64 {
    let usage = server.get("/v1/usage", key).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    usage.body["monthly_used"].as_u64().expect("monthly_used")
}

async fn cycle_count(server: &TestServer, key: &str, id: &str) -> u64 {
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), key)
        .await;
    assert_eq!(snapshot.status, StatusCode::OK, "{}", snapshot.text);
    snapshot.body["cycle_count"].as_u64().expect("cycle_count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_burst_of_ten() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("free").await;
    // 16 requests at once, 8 on each node: the free tier's burst is 10 in
    // total, not per node.
    let answers = join_all((0..16u32).map(|i| {
        let node = if i.is_multiple_of(2) { &a } else { &b };
        node.get("/v1/instances", &key)
    }))
    .await;
    let mut remaining: Vec<u64> = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::OK)
        .map(|answer| header_u64(answer, "x-ratelimit-remaining"))
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..10).collect::<Vec<u64>>(),
        "exactly 10 through, each a different remaining count"
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        refused.assert_error(429, "rate_limited");
        assert!(header_u64(refused, "retry-after") >= 1);
    }
    for node in [&a, &b] {
        let eleventh = node.get("/v1/instances", &key).await;
        eleventh.assert_error(429, "rate_limited");
        assert_eq!(header_u64(&eleventh, "x-ratelimit-limit"), 10);
        assert_eq!(header_u64(&eleventh, "x-ratelimit-remaining"), 0);
    }
    // /ready names the backend; /metrics times the script.
    for node in [&a, &b] {
        let ready = node.send(Method::GET, "/ready", None, None, &[]).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        assert_eq!(ready.body["limiter"], "redis", "{}", ready.text);
        let text = metrics(node).await;
        assert!(
            sample(&text, "identity_os_limiter_script_seconds_count") >= 8.0,
            "{text}"
        );
        assert!(
            sample(
                &text,
                "identity_os_limiter_rejections_total{reason=\"rate_limited\"}"
            ) >= 1.0
        );
        assert_eq!(
            sample(&text, "identity_os_limiter_backend_errors_total"),
            0.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_spent_by_concurrent_batches_on_two_processes_is_never_exceeded() {
    const QUOTA: u64 = 40;
    let (a, b) = two_nodes(&format!(
        "[tiers.free]\nrate_per_minute = 100000\nmonthly_cycles = {QUOTA}\nmax_instances = 100\n"
    ));
    let (account, key) = a.account("free").await;
    let mut instances = Vec::new();
    for i in 0..8 {
        instances.push(a.create_instance(&key, &format!("q{i}")).await);
    }
    // 8 instances, half driven through each node, each with batches of 3
    // and single observations: 96 cycles asked for, 40 allowed.
    let node = |i: usize| if i.is_multiple_of(2) { &a } else { &b };
    let committed: Vec<u64> = join_all(instances.iter().enumerate().map(|(i, id)| {
        let (server, key) = (node(i), key.clone());
        async move {
            let path = format!("/v1/instances/{id}/process");
            let mut committed = 0;
            for j in 0..6u64 {
                let (answer, cycles) = if j.is_multiple_of(2) {
                    (
                        server
                            .post(&format!("{path}/batch"), &key, batch(j * 10, 3))
                            .await,
                        3,
                    )
                } else {
                    (server.post(&path, &key, observation(j * 10)).await, 1)
                };
                match answer.status {
                    StatusCode::OK => committed += cycles,
                    _ => answer.assert_error(429, "quota_exceeded"),
                }
            }
            committed
        }
    }))
    .await;
    let mut committed: u64 = committed.iter().sum();
    assert!(committed <= QUOTA, "{committed} cycles committed");
    // What is left goes one by one, alternately on each node.
    for t in 0.. {
        let i = t % instances.len();
        let answer = node(i)
            .post(
                &format!("/v1/instances/{}/process", instances[i]),
                &key,
                observation(1000 + t as u64 * 2),
            )
            .await;
        if answer.status != StatusCode::OK {
            answer.assert_error(429, "quota_exceeded");
            break;
        }
        committed += 1;
        assert!(committed <= QUOTA, "{committed} cycles committed");
    }
    assert_eq!(committed, QUOTA, "the whole quota was spent, not more");
    let mut counted = 0;
    for (i, id) in instances.iter().enumerate() {
        counted += cycle_count(node(i), &key, id).await;
    }
    assert_eq!(
        counted, committed,
        "the engine ran as many cycles as were billed"
    );
    // Refused requests gave their reservations back (asynchronously).
    let url = redis_url();
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(&url, &account).await != Some(committed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counter(&url, &account).await, Some(committed));
    assert_eq!(monthly_used(&a, &key).await, committed);
    assert_eq!(monthly_used(&b, &key).await, committed);
    // The store's usage ledger says the same: with the keys gone, the
    // counter is seeded from it.
    forget(&url, &account).await;
    assert_eq!(monthly_used(&b, &key).await, committed);
    let over = a
        .post(
            &format!("/v1/instances/{}/process", instances[0]),
            &key,
            observation(5000),
        )
        .await;
    over.assert_error(429, "quota_exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_survives_a_restart_of_the_server() {
    let (pg, redis) = (fresh_postgres_database(), redis_url());
    let options = shared(&pg, &redis, "closed", "");
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_process_in(dir.path(), &options);
    let (_, key) = server.account("free").await;
    for expected in (0..10).rev() {
        let answer = server.get("/v1/instances", &key).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(header_u64(&answer, "x-ratelimit-remaining"), expected);
    }
    server.stop();
    let server = TestServer::start_process_in(dir.path(), &options);
    let limited = server.get("/v1/instances", &key).await;
    limited.assert_error(429, "rate_limited");
    assert!(header_u64(&limited, "retry-after") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_keys_went_missing_gets_its_limit_and_quota_back_from_the_ledger() {
    let pg = fresh_postgres_database();
    let url = redis_url();
    let server = TestServer::start_process(shared(
        &pg,
        &url,
        "closed",
        "[tiers.free]\nrate_per_minute = 7\nmonthly_cycles = 5\n",
    ));
    let (account, key) = server.account("free").await;
    let id = server.create_instance(&key, "flushed").await;
    let path = format!("/v1/instances/{id}/process");
    for i in 0..3 {
        let answer = server.post(&path, &key, observation(i * 2)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // Requests that reserved their cycle with the rate charge and then did
    // not commit give it back: a retry of the last observation (replayed)
    // and an earlier timestamp (throttled).
    let replayed = server.post(&path, &key, observation(4)).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert_eq!(
        replayed.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let throttled = server.post(&path, &key, observation(3)).await;
    throttled.assert_error(429, "throttled");
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(&url, &account).await != Some(3) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counter(&url, &account).await, Some(3), "released");
    // 6 of 7 requests spent (instance, 5 observations), 3 of 5 cycles.
    forget(&url, &account).await;
    assert_eq!(counter(&url, &account).await, None);
    let usage = server.get("/v1/usage", &key).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    assert_eq!(usage.body["monthly_used"], 3, "seeded from the ledger");
    assert_eq!(usage.body["monthly_quota"], 5);
    // The budget is the tier's again: a full burst of 7 (1 spent above).
    assert_eq!(header_u64(&usage, "x-ratelimit-limit"), 7);
    assert_eq!(header_u64(&usage, "x-ratelimit-remaining"), 6);
    let crossing = server
        .post(&format!("{path}/batch"), &key, batch(100, 3))
        .await;
    crossing.assert_error(429, "quota_exceeded");
    assert_eq!(header_u64(&crossing, "x-monthly-remaining"), 2);
    let fitting = server
        .post(&format!("{path}/batch"), &key, batch(200, 2))
        .await;
    assert_eq!(fitting.status, StatusCode::OK, "{}", fitting.text);
    assert_eq!(header_u64(&fitting, "x-monthly-remaining"), 0);
    // 3 requests since the flush: 4 more pass, the eighth is refused.
    for _ in 0..4 {
        let answer = server.get("/v1/instances", &key).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    server
        .get("/v1/instances", &key)
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(counter(&url, &account).await, Some(5));
}

/// Decisions of governor and of charge.lua for the same request times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_decides_as_governor_does() {
    let redis = RedisLimiter::new(&redis_url()).unwrap();
    // Request times in µs from the first: bursts, a request just before
    // and just after a token comes back, idle gaps, and a gap of 12 days
    // (the script rebases its figures past 10^15 ns).
    let mut times: Vec<u64> = vec![0; 12];
    times.extend([
        1, 5_999_999, 6_000_000, 6_000_001, 8_000_000, 11_999_999, 12_000_000,
    ]);
    times.extend((0..30).map(|i| 20_000_000 + i * 700_000));
    times.extend([120_000_000, 120_000_000, 120_000_001, 179_999_999]);
    times.extend((0..15).map(|i| 12 * 86_400_000_000 + i * 100));
    times.extend([
        12 * 86_400_000_000 + 60_000_000,
        12 * 86_400_000_000 + 60_000_000,
    ]);
    let base = now_micros();
    for per_minute in [10u32, 7, 1, 1000] {
        let limit = NonZeroU32::new(per_minute).unwrap();
        let clock = FakeRelativeClock::default();
        let gcra = RateLimiter::direct_with_clock(
            Quota::per_minute(limit).allow_burst(limit),
            clock.clone(),
        )
        .with_middleware::<governor::middleware::StateInformationMiddleware>();
        let t = 60_000_000_000 / u64::from(per_minute);
        let args = ChargeArgs {
            t_nanos: t,
            tau_nanos: t * u64::from(per_minute - 1),
            seed: Some(0),
            ..ChargeArgs::default()
        };
        let account = format!("acct_equivalence_{per_minute}_{base}");
        // Past the burst at once, then the shared sequence.
        let times = [vec![0; per_minute as usize + 2], times.clone()].concat();
        let mut elapsed = 0;
        let mut denied = 0;
        for (step, &at) in times.iter().enumerate() {
            clock.advance(Duration::from_micros(at - elapsed));
            elapsed = at;
            let governor = match gcra.check() {
                Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
                Err(not_until) => Err(not_until
                    .wait_time_from(governor::clock::Clock::now(&clock))
                    .as_nanos() as u64),
            };
            let args = ChargeArgs {
                now_micros: Some(base + at as i64),
                ..args
            };
            let script = match redis.charge(&account, "2099-01", args).await.unwrap() {
                ChargeOutcome::Charged { remaining, .. } => Ok(remaining),
                ChargeOutcome::RateLimited { wait_nanos, .. } => Err(wait_nanos),
                ChargeOutcome::NeedsSeed => panic!("seeded"),
            };
            assert_eq!(
                script, governor,
                "{per_minute}/min, step {step} at {at} µs: script vs governor"
            );
            denied += usize::from(governor.is_err());
        }
        assert!(
            denied > 0,
            "{per_minute}/min: the sequence reaches the limit"
        );
    }
}

/// A Redis of the test's own, to kill and to start again on its port.
struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> PrivateRedis {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut redis = PrivateRedis {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server on the same port (empty: no persistence).
    fn restart(&mut self) {
        let bin = std::env::var("IDENTITY_OS_TEST_REDIS_SERVER").expect(
            "IDENTITY_OS_TEST_REDIS_SERVER is not set: run scripts/test, which installs Redis \
             (scripts/services/redis.sh)",
        );
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server answers PING");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut socket) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut pong = [0u8; 5];
        socket.write_all(b"PING\r\n").is_ok()
            && socket.read_exact(&mut pong).is_ok()
            && &pong == b"+PONG"
    }

    /// SIGKILL: no shutdown, connections reset.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How often the tests look again while waiting for Redis or the log.
const POLL: Duration = Duration::from_millis(100);

/// One observation at `t` on instance `id`.
async fn process(server: &TestServer, key: &str, id: &str, t: u64) -> Answer {
    server
        .post(&format!("/v1/instances/{id}/process"), key, observation(t))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_fails_closed_or_open_and_comes_back_by_itself() {
    let mut redis = PrivateRedis::start();
    let pg = fresh_postgres_database();
    let extra = "[tiers.free]\nrate_per_minute = 100000\nmonthly_cycles = 1000\n";
    let log = tempfile::tempdir().unwrap();
    let mut closed_options = shared(&pg, &redis.url(), "closed", extra);
    closed_options.log_file = Some(log.path().join("closed.log"));
    closed_options.env = vec![("RUST_LOG".into(), "identity_os=info".into())];
    let closed = TestServer::start_process(closed_options);
    // The fail-open node takes its Redis URL and fail mode from the
    // environment.
    let mut open_options = shared(&pg, "redis://127.0.0.1:1", "closed", extra);
    open_options.env = vec![
        ("IDENTITY_OS_REDIS_URL".into(), redis.url()),
        ("IDENTITY_OS_LIMITER_FAIL_MODE".into(), "open".into()),
    ];
    let open = TestServer::start_process(open_options);
    let (account, key) = closed.account("free").await;
    let closed_instance = closed.create_instance(&key, "closed").await;
    let open_instance = open.create_instance(&key, "open").await;
    for (server, id) in [(&closed, &closed_instance), (&open, &open_instance)] {
        let answer = process(server, &key, id, 0).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert!(answer.header("x-ratelimit-degraded").is_none());
    }

    redis.kill();
    // Fail-closed: 503 with Retry-After, nothing applied or billed.
    for t in 1..6 {
        let answer = process(&closed, &key, &closed_instance, t * 2).await;
        answer.assert_error(503, "service_unavailable");
        assert!(
            header_u64(&answer, "retry-after") >= 1,
            "{:?}",
            answer.headers
        );
    }
    let batch_refused = closed
        .post(
            &format!("/v1/instances/{closed_instance}/process/batch"),
            &key,
            batch(50, 3),
        )
        .await;
    batch_refused.assert_error(503, "service_unavailable");
    let ready = closed.send(Method::GET, "/ready", None, None, &[]).await;
    ready.assert_error(503, "service_unavailable");
    // Fail-open: served on the node's own limits, marked degraded.
    let mut degraded = 0;
    for t in 1..6 {
        let answer = process(&open, &key, &open_instance, t * 2).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.header("x-ratelimit-degraded").as_deref(),
            Some("true")
        );
        degraded += 1;
    }
    let listed = open.get("/v1/instances", &key).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        listed.header("x-ratelimit-degraded").as_deref(),
        Some("true")
    );
    // What the fail-closed node refused left no trace (read on the open node).
    assert_eq!(cycle_count(&open, &key, &closed_instance).await, 1);
    let ready = open.send(Method::GET, "/ready", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["limiter"], "redis-unreachable");
    let text = metrics(&open).await;
    assert!(
        sample(&text, "identity_os_limiter_degraded_responses_total") >= f64::from(degraded + 1)
    );
    assert!(
        sample(&text, "identity_os_limiter_backend_errors_total") >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &metrics(&closed).await,
            "identity_os_limiter_backend_errors_total"
        ) >= 1.0
    );

    // Redis comes back on the same port, empty: both nodes recover by
    // themselves within seconds, the counter is seeded from the ledger.
    redis.restart();
    // Readiness finds out by itself (a load balancer that stopped sending
    // requests to the node must see it come back).
    let ready_again = eventually(Duration::from_secs(10), POLL, || async {
        let ready = closed.send(Method::GET, "/ready", None, None, &[]).await;
        ready.status == StatusCode::OK
    })
    .await
    .is_some();
    assert!(
        ready_again,
        "/ready of the fail-closed node recovers without requests"
    );
    let recovered = eventually(Duration::from_secs(10), POLL, || {
        let request = process(&closed, &key, &closed_instance, 100);
        async move { request.await.status == StatusCode::OK }
    })
    .await
    .is_some();
    assert!(recovered, "the fail-closed node serves again");
    let answer = process(&open, &key, &open_instance, 100).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.header("x-ratelimit-degraded").is_none(),
        "no longer degraded"
    );
    for server in [&closed, &open] {
        let ready = server.send(Method::GET, "/ready", None, None, &[]).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        assert_eq!(ready.body["limiter"], "redis");
    }
    // 1 + 1 on the closed instance, 1 + 5 + 1 on the open one.
    assert_eq!(cycle_count(&closed, &key, &closed_instance).await, 2);
    assert_eq!(cycle_count(&open, &key, &open_instance).await, 7);
    assert_eq!(monthly_used(&closed, &key).await, 9);
    assert_eq!(counter(&redis.url(), &account).await, Some(9));
    // Each transition logged once (an `info` line reaches the file within
    // the log's flush interval).
    let read_log = || std::fs::read_to_string(log.path().join("closed.log")).unwrap();
    eventually(Duration::from_secs(2), POLL, || {
        let text = read_log();
        async move { text.contains("limiter backend redis is reachable again") }
    })
    .await;
    let text = read_log();
    assert_eq!(
        text.matches("limiter backend redis is unreachable").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("limiter backend redis is reachable again")
            .count(),
        1,
        "{text}"
    );
}
