//! Loading: which layer sets which key, and what a valid value is.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::render::toml_string;
use super::{invalid, Config, ConfigError, LimiterBackend, DEFAULT_CONFIG_FILE};
use crate::store::{Backend, StoreConfig};

/// More runtime threads than this is a typo, not a configuration.
const MAX_WORKER_THREADS: usize = 1024;

/// Environment variables and the keys they set (docs/operations.md).
const ENV_KEYS: [(&str, &str); 21] = [
    ("IDENTITY_OS_BIND", "server.bind"),
    ("IDENTITY_OS_NODE_ID", "server.node_id"),
    ("IDENTITY_OS_WORKER_THREADS", "server.worker_threads"),
    ("IDENTITY_OS_DB_BACKEND", "storage.backend"),
    ("IDENTITY_OS_SQLITE_PATH", "storage.sqlite_path"),
    ("IDENTITY_OS_DATABASE_URL", "storage.database_url"),
    ("IDENTITY_OS_SUPABASE_URL", "storage.database_url"),
    ("IDENTITY_OS_DURABILITY", "storage.durability"),
    (
        "IDENTITY_OS_MIN_CYCLE_INTERVAL",
        "engine.min_cycle_interval_secs",
    ),
    ("IDENTITY_OS_ADMIN_TOKEN", "auth.admin_token"),
    ("IDENTITY_OS_DOCS_ENABLED", "docs.enabled"),
    ("IDENTITY_OS_LIMITER_BACKEND", "limiter.backend"),
    ("IDENTITY_OS_REDIS_URL", "limiter.redis_url"),
    ("IDENTITY_OS_LIMITER_FAIL_MODE", "limiter.fail_mode"),
    ("IDENTITY_OS_LOG_FORMAT", "log.format"),
    ("STRIPE_SECRET_KEY", "billing.stripe_secret_key"),
    ("STRIPE_WEBHOOK_SECRET", "billing.stripe_webhook_secret"),
    ("STRIPE_PRICE_INDIE", "billing.stripe_price_indie"),
    ("STRIPE_PRICE_PRO", "billing.stripe_price_pro"),
    ("STRIPE_API_BASE", "billing.stripe_api_base"),
    (
        "IDENTITY_OS_MAX_LIVE_INSTANCES",
        "actors.max_live_instances",
    ),
];

/// Overrides given on the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub config_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub backend: Option<String>,
    pub sqlite_path: Option<PathBuf>,
    pub durability: Option<String>,
    pub no_auth: bool,
}

impl Config {
    /// Loads the layered configuration and validates it.
    pub fn load(cli: &CliOverrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match &cli.config_file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.clone())),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        figment = figment.merge(Env::raw().filter_map(|name| {
            ENV_KEYS
                .iter()
                .find(|(var, _)| name.as_str().eq_ignore_ascii_case(var))
                .map(|(_, key)| (*key).into())
        }));
        if std::env::var("IDENTITY_OS_AUTH").is_ok_and(|v| v.eq_ignore_ascii_case("disabled")) {
            figment = figment.merge(Serialized::default("auth.disabled", true));
        }
        if let Some(bind) = &cli.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(backend) = &cli.backend {
            figment = figment.merge(Serialized::default("storage.backend", backend));
        }
        if let Some(path) = &cli.sqlite_path {
            figment = figment.merge(Serialized::default("storage.sqlite_path", path));
        }
        if let Some(durability) = &cli.durability {
            figment = figment.merge(Serialized::default("storage.durability", durability));
        }
        if cli.no_auth {
            figment = figment.merge(Serialized::default("auth.disabled", true));
        }
        Self::extract(figment)
    }

    /// A TOML text over the built-in defaults, without environment or CLI
    /// layers: how tests configure a server they run in-process.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::extract(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.normalise();
        config.validate()?;
        Ok(config)
    }

    /// Accepts the spellings of hosted deployments (`postgresql+asyncpg://`).
    fn normalise(&mut self) {
        if let Some(rest) = self
            .storage
            .database_url
            .strip_prefix("postgresql+asyncpg://")
        {
            self.storage.database_url = format!("postgresql://{rest}");
        }
    }

    /// Checks what serde cannot: ranges, addresses, required tiers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bind = self.bind_addr()?;
        for (key, value) in [
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
            ("server.max_connections", self.server.max_connections as u64),
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            ("server.write_timeout_secs", self.server.write_timeout_secs),
            ("server.max_page_bytes", self.server.max_page_bytes as u64),
            (
                "server.event_heartbeat_secs",
                self.server.event_heartbeat_secs,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        crate::http::cors::validate_origins(&self.server.cors_allowed_origins)
            .map_err(|reason| invalid("server.cors_allowed_origins", reason))?;
        if self.server.worker_threads > MAX_WORKER_THREADS {
            return Err(invalid(
                "server.worker_threads",
                format!("must be at most {MAX_WORKER_THREADS} (0 = one per CPU core)"),
            ));
        }
        let interval = self.engine.min_cycle_interval_secs;
        if !interval.is_finite() || !(0.0..=86_400.0).contains(&interval) {
            return Err(invalid(
                "engine.min_cycle_interval_secs",
                "must be a finite number of seconds between 0 and 86400",
            ));
        }
        self.engine
            .params
            .validate()
            .map_err(|e| invalid("engine", e.to_string()))?;
        let connect = self.storage.connect_timeout_secs;
        if !connect.is_finite() || !(0.1..=600.0).contains(&connect) {
            return Err(invalid(
                "storage.connect_timeout_secs",
                "must be between 0.1 and 600 seconds",
            ));
        }
        if !(1..=1000).contains(&self.storage.pool_size) {
            return Err(invalid("storage.pool_size", "must be between 1 and 1000"));
        }
        if self.actors.max_live_instances == 0 {
            return Err(invalid("actors.max_live_instances", "must be at least 1"));
        }
        if self.actors.idle_timeout_secs == 0 {
            return Err(invalid("actors.idle_timeout_secs", "must be at least 1"));
        }
        for tier in ["free", "indie", "pro", "unlimited"] {
            if !self.tiers.contains_key(tier) {
                return Err(invalid(
                    &format!("tiers.{tier}"),
                    "this tier must be configured",
                ));
            }
        }
        if self.limiter.backend == LimiterBackend::Redis && self.limiter.redis_url.is_empty() {
            return Err(invalid(
                "limiter.redis_url",
                "required when limiter.backend = \"redis\"",
            ));
        }
        if self.storage.backend == Backend::Postgres && self.storage.database_url.is_empty() {
            return Err(invalid(
                "storage.database_url",
                "required when storage.backend = \"postgres\"",
            ));
        }
        if self.auth.disabled
            && !bind.ip().is_loopback()
            && !self.auth.allow_disabled_on_public_bind
        {
            return Err(invalid(
                "auth.disabled",
                format!(
                    "authentication may only be disabled on a loopback address, not {bind} \
                     (set auth.allow_disabled_on_public_bind = true to force it)"
                ),
            ));
        }
        Ok(())
    }

    /// The parsed listening address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|e| {
            invalid(
                "server.bind",
                format!("{:?} is not an address:port ({e})", self.server.bind),
            )
        })
    }

    /// The slice of configuration the store needs.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            backend: self.storage.backend,
            sqlite_path: self.storage.sqlite_path.clone(),
            durability: self.storage.durability,
            database_url: self.storage.database_url.clone(),
            pool_size: self.storage.pool_size,
            connect_timeout: std::time::Duration::from_secs_f64(self.storage.connect_timeout_secs),
        }
    }

    /// The effective configuration as TOML with every secret masked.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        let mask = |s: &mut String| {
            if !s.is_empty() {
                *s = "********".into();
            }
        };
        mask(&mut masked.auth.admin_token);
        mask(&mut masked.billing.stripe_secret_key);
        mask(&mut masked.billing.stripe_webhook_secret);
        mask(&mut masked.storage.database_url);
        mask(&mut masked.limiter.redis_url);
        toml_string(&masked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Durability;
    use std::io::Write;

    fn load_file(contents: &str) -> Result<Config, ConfigError> {
        let mut file =
            tempfile::NamedTempFile::new().map_err(|e| invalid("test", e.to_string()))?;
        file.write_all(contents.as_bytes())
            .map_err(|e| invalid("test", e.to_string()))?;
        Config::load(&CliOverrides {
            config_file: Some(file.path().to_path_buf()),
            ..CliOverrides::default()
        })
    }

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let config = Config::default();
        config.validate().expect("defaults are valid");
        assert_eq!(config.server.bind, "127.0.0.1:8000");
        assert_eq!(config.server.worker_threads(), None);
        assert_eq!(config.server.write_timeout_secs, 30);
        assert_eq!(config.server.max_connections_per_ip, 256);
        assert_eq!(config.server.max_page_bytes, 4 * 1024 * 1024);
        assert_eq!(config.tiers["free"].rate_per_minute, 10);
        assert_eq!(config.tiers["pro"].max_instances, 0);
        assert_eq!(config.engine.min_cycle_interval_secs, 1.0);
    }

    #[test]
    fn file_values_override_defaults_and_keep_the_rest() {
        let config = load_file(
            "[server]\nbind = \"127.0.0.1:9001\"\nworker_threads = 1\n[tiers.free]\nmonthly_cycles = 5\n[engine]\nalpha = 0.2\n",
        )
        .expect("valid file");
        assert_eq!(config.server.bind, "127.0.0.1:9001");
        assert_eq!(config.server.worker_threads(), Some(1));
        assert_eq!(config.tiers["free"].monthly_cycles, 5);
        assert_eq!(config.tiers["free"].rate_per_minute, 10);
        assert_eq!(config.engine.params.alpha, 0.2);
        assert_eq!(config.storage.durability, Durability::Full);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = load_file("[server]\nbody_limit_bytes = \"lots\"\n").expect_err("invalid type");
        assert!(err.to_string().contains("body_limit_bytes"), "{err}");
        let err = load_file("[storage]\ndurability = \"sometimes\"\n").expect_err("bad enum");
        assert!(err.to_string().contains("durability"), "{err}");
        let err = load_file("[server]\nbind = \"nowhere\"\n").expect_err("bad address");
        assert!(err.to_string().contains("server.bind"), "{err}");
        let err = load_file("[engine]\nmin_cycle_interval_secs = -1.0\n").expect_err("negative");
        assert!(err.to_string().contains("min_cycle_interval_secs"), "{err}");
        let err = load_file("[server]\nworker_threads = 100000\n").expect_err("too many");
        assert!(err.to_string().contains("server.worker_threads"), "{err}");
        let err = load_file("[server]\nbnid = \"x\"\n").expect_err("unknown key");
        assert!(err.to_string().contains("bnid"), "{err}");
    }

    #[test]
    fn connection_and_page_bounds_are_validated() {
        let config = load_file(
            "[server]\nwrite_timeout_secs = 5\nmax_connections_per_ip = 0\nmax_page_bytes = 1\n",
        )
        .expect("0 = no per-address limit; a 1-byte page still holds one item");
        assert_eq!(config.server.write_timeout_secs, 5);
        assert_eq!(config.server.max_connections_per_ip, 0);
        assert_eq!(config.server.max_page_bytes, 1);
        for key in ["write_timeout_secs", "max_page_bytes"] {
            let err = load_file(&format!("[server]\n{key} = 0\n")).expect_err("zero");
            assert!(err.to_string().contains(&format!("server.{key}")), "{err}");
        }
        let err = load_file("[server]\nmax_connections_per_ip = -1\n").expect_err("negative");
        assert!(err.to_string().contains("max_connections_per_ip"), "{err}");
    }

    #[test]
    fn backends_without_their_url_are_refused_by_name() {
        let err = load_file("[limiter]\nbackend = \"redis\"\n").expect_err("no redis url");
        assert!(err.to_string().contains("limiter.redis_url"), "{err}");
        let err = load_file("[storage]\nbackend = \"postgres\"\n").expect_err("no url");
        assert!(err.to_string().contains("storage.database_url"), "{err}");
    }

    #[test]
    fn dev_mode_refuses_a_public_address() {
        let err = load_file("[server]\nbind = \"0.0.0.0:8000\"\n[auth]\ndisabled = true\n")
            .expect_err("public");
        assert!(err.to_string().contains("auth.disabled"), "{err}");
    }

    #[test]
    fn masked_output_hides_secrets() {
        let mut config = Config::default();
        config.auth.admin_token = "super-secret".into();
        let text = config.to_masked_toml();
        assert!(!text.contains("super-secret"));
        assert!(text.contains("admin_token = \"********\""), "{text}");
        assert!(text.contains("[tiers.free]"), "{text}");
    }
}
