//! `akidb`: the AkiDB vector database server (REST on :8080, gRPC on :9090).

use std::path::PathBuf;

use akidb_server::config::{Config, KEYS};
use clap::Parser;

/// AkiDB vector database server.
#[derive(Parser, Debug)]
#[command(
    name = "akidb",
    version,
    about = "AkiDB vector database server: REST (default 127.0.0.1:8080) and gRPC (default 127.0.0.1:9090)",
    after_help = "Every setting can also be given as an AKIDB_* environment variable (e.g. AKIDB_REST_ADDR, \
                  AKIDB_DATA_DIR, AKIDB_API_KEY); see docs/configuration.md. Run `akidb --print-config-keys` \
                  for the full list."
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "AKIDB_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print every configuration key with its environment variable and default, then exit.
    #[arg(long)]
    print_config_keys: bool,
    /// Load and check the configuration, print it (secrets redacted), then exit.
    #[arg(long)]
    check_config: bool,
}

fn main() {
    let cli = Cli::parse();
    if cli.print_config_keys {
        for k in KEYS {
            println!("{:<36} {:<34} {}", k.path(), k.env, k.default);
        }
        return;
    }
    let loaded = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("akidb: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    if cli.check_config {
        println!("{:#?}", loaded.config);
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("akidb: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async move {
        let telemetry = match akidb_server::telemetry::init(&loaded.config.telemetry) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("akidb: {e}");
                return 2;
            }
        };
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        let code = match akidb_server::run(loaded.config).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("{e:#}");
                1
            }
        };
        telemetry.shutdown();
        code
    });
    // Do not wait for a recovery still running on the blocking pool.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
