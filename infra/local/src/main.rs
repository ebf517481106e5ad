use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use thanotopolis_local::{
    local_auth_settings, start_with_limits, GatewayConfig, Limits, OPENAPI_PATH,
};
use thanotopolis_service::config::StoreArgs;

/// Runs every Thanotopolis function locally behind one emulated API Gateway: REST routes and
/// WebSocket connections on one port, the `@connections` management API on a loopback-only
/// port of its own.
#[derive(Parser)]
#[command(name = "thanotopolis-local", version)]
struct Args {
    /// Port for REST and WebSocket (the frontend's default backend is localhost:8000).
    #[arg(long, env = "THANOTOPOLIS_PORT", default_value_t = 8000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "THANOTOPOLIS_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Loopback port of the `@connections` management API (0: any free port).
    #[arg(long, env = "THANOTOPOLIS_MANAGEMENT_PORT", default_value_t = 0)]
    management_port: u16,
    #[command(flatten)]
    store: StoreArgs,
    /// Seconds between runs of the scheduled tasks (the usage rollup: all-organization usage
    /// figures); 0 runs them only on `POST /_scheduled/{task}` to the management port.
    #[arg(long, env = "THANOTOPOLIS_SCHEDULE_SECONDS", default_value_t = 60)]
    schedule_seconds: u64,
    /// Seconds a WebSocket may stay without a message either way before the gateway closes it
    /// (API Gateway: 600). The keep-alive task keeps sockets open past it.
    #[arg(long, env = "THANOTOPOLIS_IDLE_TIMEOUT", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Print the OpenAPI document (what `/api/openapi.json` serves) and exit.
    #[arg(long)]
    print_openapi: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    thanotopolis_service::telemetry::init();
    let args = Args::parse();
    if args.print_openapi {
        println!(
            "{}",
            serde_json::to_string_pretty(&thanotopolis_local::openapi())?
        );
        return Ok(());
    }
    let settings = args.store.settings();
    let auth = local_auth_settings(&args.store.data_dir.join("jwt-secret"))?;
    let limits = Limits {
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        ..Limits::API_GATEWAY
    };
    let gateway = start_with_limits(
        GatewayConfig {
            bind: SocketAddr::new(args.host, args.port),
            management_port: args.management_port,
            store: settings,
            auth,
            llm: thanotopolis_llm::LlmSettings::from_env(),
            agents: thanotopolis_agent_runtime::AgentSettings::from_env(),
            deepgram: thanotopolis_fn_voice::DeepgramSettings::from_env(),
            live_stt: thanotopolis_usage::live_stt::DeepgramProject::from_env(),
            schedule_every: (args.schedule_seconds > 0)
                .then(|| std::time::Duration::from_secs(args.schedule_seconds)),
        },
        limits,
    )
    .await?;
    println!("thanotopolis-local is running");
    println!("  REST          {}", gateway.rest_url());
    println!(
        "  WebSocket     {}/?conversation_id=ID&token=JWT",
        gateway.ws_url()
    );
    println!(
        "                {}/api/ws/conversations/ID?token=JWT",
        gateway.ws_url()
    );
    println!(
        "  @connections  {}/@connections/CONNECTION_ID (loopback only)",
        gateway.management_url()
    );
    println!(
        "  scheduled     {}/_scheduled/usage-rollup (POST; loopback only)",
        gateway.management_url()
    );
    println!("  health        {}/health", gateway.rest_url());
    println!("  OpenAPI       {}{OPENAPI_PATH}", gateway.rest_url());
    println!("  store         {}", gateway.store_description());
    println!(
        "  agents        {}",
        match thanotopolis_llm::LlmSettings::from_env() {
            Some(s) => format!("model {} at {}", s.model, s.base_url),
            None =>
                "no language model (set OPENAI_API_KEY; agent replies answer with an error)".into(),
        }
    );
    println!(
        "  speech        {}",
        if thanotopolis_fn_voice::DeepgramSettings::from_env().is_some() {
            "Deepgram configured"
        } else {
            "no Deepgram key (set DEEPGRAM_API_KEY; speech-to-text answers 503)"
        }
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    gateway.stop().await;
    Ok(())
}
