//! `identity-os`: the command line. Every subcommand is a thin call into
//! the library; `serve` is the default.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use identity_os::accounts;
use identity_os::config::{CliOverrides, Config};
use identity_os::store::{self, Store};
use identity_os::time::format_timestamp;

/// mimalloc hands memory freed by passivated instance actors back to the
/// OS; glibc's allocator keeps it, so idle servers would stay at their peak
/// RSS (BENCHMARKS.md, "Memory and instance creation").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often an idle runtime thread hands its freed memory back.
const COLLECT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    static LAST_COLLECT: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// Runs when a runtime thread goes idle: at most once per
/// [`COLLECT_INTERVAL`] per thread, asks mimalloc to return this thread's
/// free pages to the OS. Memory freed by another thread (a passivated
/// actor's state dropped elsewhere) waits on its owner's lists until the
/// owner allocates again, which an idle server never does: without this
/// the RSS after a passivation sweep stayed near its peak.
fn collect_freed_memory() {
    let now = std::time::Instant::now();
    let due = LAST_COLLECT.with(|last| {
        let due = last
            .get()
            .is_none_or(|t| now.duration_since(t) >= COLLECT_INTERVAL);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        // SAFETY: mi_collect only walks and releases the calling thread's
        // own heap; it is valid at any point outside an allocation.
        unsafe { libmimalloc_sys::mi_collect(true) }
    }
}

#[derive(Parser)]
#[command(
    name = "identity-os",
    version,
    about = "Identity OS server: a personality operating system for AI agents"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options every subcommand understands.
#[derive(Args, Clone, Default)]
struct GlobalArgs {
    /// Config file (default: config/default.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Storage backend: sqlite, memory or postgres.
    #[arg(long, global = true, value_name = "BACKEND")]
    db_backend: Option<String>,
    /// SQLite database file.
    #[arg(long, global = true, value_name = "PATH")]
    sqlite_path: Option<PathBuf>,
    /// Commit durability: full or normal.
    #[arg(long, global = true)]
    durability: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8000 (port 0 picks a free port).
        #[arg(long)]
        bind: Option<String>,
        /// Dev mode: no API keys; every request acts as a local unlimited account.
        #[arg(long)]
        no_auth: bool,
    },
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the effective configuration (secrets masked).
    Config,
    /// Copy the SQLite database to FILE (safe while the server runs).
    Backup { file: PathBuf },
    /// Load-test a running server through its API (see docs/operations.md).
    Loadtest(identity_os::loadtest::LoadtestArgs),
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        tier: String,
    },
    /// List accounts.
    List,
    /// Change an account's tier.
    SetTier {
        #[arg(long)]
        account: String,
        #[arg(long)]
        tier: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key for an account (shown once).
    Create {
        #[arg(long)]
        account: String,
    },
    /// List keys (prefixes only).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a key by its id.
    Revoke { key_id: String },
}

fn overrides(global: &GlobalArgs, bind: Option<String>, no_auth: bool) -> CliOverrides {
    CliOverrides {
        config_file: global.config.clone(),
        bind,
        backend: global.db_backend.clone(),
        sqlite_path: global.sqlite_path.clone(),
        durability: global.durability.clone(),
        no_auth,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match &cli.command {
        // A client of a (possibly remote) server: no local config needed.
        Some(Command::Loadtest(_)) => None,
        command => {
            let (bind, no_auth) = match command {
                Some(Command::Serve { bind, no_auth }) => (bind.clone(), *no_auth),
                _ => (None, false),
            };
            match Config::load(&overrides(&cli.global, bind, no_auth)) {
                Ok(config) => Some(config),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.on_thread_park(collect_freed_memory);
    if let Some(threads) = config.as_ref().and_then(|c| c.server.worker_threads()) {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match config {
        Some(config) => runtime.block_on(run(cli, config)),
        None => match cli.command {
            Some(Command::Loadtest(args)) => runtime
                .block_on(identity_os::loadtest::cli::main(args))
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve {
        bind: None,
        no_auth: false,
    }) {
        Command::Serve { .. } => {
            let _flush_logs_on_exit = identity_os::logging::init(config.log.format);
            identity_os::server::run(config)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Config => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        Command::Accounts(command) => {
            with_store(&config, |store| accounts_command(store, &config, command)).await
        }
        Command::Keys(command) => with_store(&config, |store| keys_command(store, command)).await,
        Command::Loadtest(_) => Ok(()),
        Command::Backup { file } => {
            with_store(&config, |store| async move {
                store.backup(&file).await.map_err(|e| e.to_string())?;
                println!("backup written to {}", file.display());
                Ok(())
            })
            .await
        }
    }
}

async fn with_store<F, Fut>(config: &Config, body: F) -> Result<(), String>
where
    F: FnOnce(std::sync::Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let store = store::open(&config.store_config())
        .await
        .map_err(|e| e.to_string())?;
    let result = body(store.clone()).await;
    store.close().await.map_err(|e| e.to_string())?;
    result
}

async fn accounts_command(
    store: std::sync::Arc<dyn Store>,
    config: &Config,
    command: AccountsCommand,
) -> Result<(), String> {
    let check_tier = |tier: &str| {
        if config.tiers.contains_key(tier) {
            Ok(())
        } else {
            Err(format!("unknown tier {tier:?}"))
        }
    };
    match command {
        AccountsCommand::Create { name, tier } => {
            check_tier(&tier)?;
            let account = accounts::create_account(store.as_ref(), &name, &tier)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}\t{}\t{}", account.id, account.tier, account.name);
        }
        AccountsCommand::List => {
            // Billing columns (Stripe customer, subscription status) come
            // after the name; `-` when billing never touched the account.
            let billing = store.list_billing_info().await.map_err(|e| e.to_string())?;
            for account in store.list_accounts().await.map_err(|e| e.to_string())? {
                let link = billing.iter().find(|b| b.account_id == account.id);
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    account.id,
                    account.tier,
                    format_timestamp(account.created_at),
                    account.name,
                    link.and_then(|b| b.stripe_customer_id.as_deref())
                        .unwrap_or("-"),
                    link.and_then(|b| b.subscription_status.as_deref())
                        .unwrap_or("-"),
                );
            }
        }
        AccountsCommand::SetTier { account, tier } => {
            check_tier(&tier)?;
            store
                .set_account_tier(&account, &tier)
                .await
                .map_err(|e| format!("{account}: {e}"))?;
            println!("{account}\t{tier}");
        }
    }
    Ok(())
}

async fn keys_command(
    store: std::sync::Arc<dyn Store>,
    command: KeysCommand,
) -> Result<(), String> {
    match command {
        KeysCommand::Create { account } => {
            let created = accounts::create_key(store.as_ref(), &account)
                .await
                .map_err(|e| format!("{account}: {e}"))?;
            println!("{}", created.key);
            eprintln!(
                "key id {} (the key above is shown only once)",
                created.record.id
            );
        }
        KeysCommand::List { account } => {
            for key in store
                .list_api_keys(account.as_deref())
                .await
                .map_err(|e| e.to_string())?
            {
                let status = key.revoked_at.map_or("active".to_string(), |t| {
                    format!("revoked {}", format_timestamp(t))
                });
                println!(
                    "{}\t{}\t{}…\t{}",
                    key.id, key.account_id, key.prefix, status
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            store
                .revoke_api_key(&key_id, identity_os::time::now_micros())
                .await
                .map_err(|e| format!("{key_id}: {e}"))?;
            println!("{key_id}\trevoked");
        }
    }
    Ok(())
}
