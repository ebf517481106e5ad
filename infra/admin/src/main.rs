//! `thanotopolis-admin`: the operator's tool. It reads the same store configuration as
//! `thanotopolis-local` and the functions, and is safe to run while the local gateway runs
//! (the embedded store is shared through SQLite's locking).
//!
//! ```text
//! thanotopolis-admin set-role --user-id 3f0c… --role super_admin
//! thanotopolis-admin set-role --tenant acme --email ada@acme.org --role admin
//! thanotopolis-admin set-password --tenant acme --email ada@acme.org < new-password.txt
//! thanotopolis-admin import-postgres --url postgres://old@db.internal/thanotopolis --dry-run
//! thanotopolis-admin export-organization --tenant acme --out acme.jsonl
//! thanotopolis-admin import-organization --in acme.jsonl
//! thanotopolis-admin delete-organization --tenant acme --yes
//! ```

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use thanotopolis_service::config::{AuthSettings, StoreArgs};
use thanotopolis_service::{AppState, Stores};
use thanotopolis_tenant_auth::operator::{self, UserRef};
use thanotopolis_tenant_auth::records::AiBudget;
use thanotopolis_tenant_auth::validate::{EmailAddress, Password, Subdomain};
use thanotopolis_tenant_auth::{tenants, Role};

#[derive(Parser)]
#[command(
    name = "thanotopolis-admin",
    version,
    about = "Thanotopolis operator tool"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set a user's role (user, org_admin, admin, super_admin). This is how a deployment gets
    /// its first super_admin.
    SetRole(SetRole),
    /// Set a user's password, read from the first line of stdin (accounts imported from an
    /// archive have none that works). The audit trail records that it was set.
    SetPassword(SetPassword),
    /// Set an organization's monthly AI budget (tokens and/or US cents), or remove it with
    /// --unlimited; prints the budget as stored. The audit trail records the change.
    SetBudget(SetBudget),
    /// Import the old backend's PostgreSQL database: organizations, users (their bcrypt
    /// passwords work, and become argon2id at first login), conversations with members,
    /// agents and participants, messages. A second run imports nothing twice.
    ImportPostgres(ImportPostgres),
    /// Write an organization's data to one JSON-lines archive: the organization, its users
    /// (without password hashes), agents, conversations with members and messages, usage
    /// records and audit trail, ending with a count of each.
    ExportOrganization(ExportOrganization),
    /// Import an archive of `export-organization` into a store that does not hold that
    /// organization (a second run imports nothing twice). Users get no usable password.
    ImportOrganization(ImportOrganization),
    /// Erase an organization and everything it owns, everywhere (its partitions, global
    /// claims, tokens, counters, usage in the all-organization figures, live sockets).
    /// Interrupted, it can be run again and finishes the erasure.
    DeleteOrganization(DeleteOrganization),
}

#[derive(Args)]
struct ExportOrganization {
    /// The organization's subdomain.
    #[arg(long)]
    tenant: String,
    /// The archive to write (`FILE.partial` until it is whole).
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Args)]
struct ImportOrganization {
    /// The archive to read.
    #[arg(long = "in", value_name = "FILE")]
    input: std::path::PathBuf,
}

#[derive(Args)]
struct DeleteOrganization {
    /// The organization's subdomain.
    #[arg(long)]
    tenant: String,
    /// Erase without asking (otherwise the subdomain must be typed again).
    #[arg(long)]
    yes: bool,
    /// Seconds to wait after deactivating the organization before deleting, for requests
    /// already running to end (an agent's reply runs for up to the realtime function's 300 s
    /// timeout). A run that resumes an erasure counts from its start. 0 when the backend is
    /// stopped.
    #[arg(long, default_value_t = thanotopolis_admin::erase::DRAIN.as_secs())]
    drain: u64,
}

#[derive(Args)]
struct ImportPostgres {
    /// The old database, e.g. postgres://user:password@host:5432/dbname; TLS with
    /// `?sslmode=require` (the server's certificate is verified).
    #[arg(long, env = "THANOTOPOLIS_IMPORT_POSTGRES_URL")]
    url: String,
    /// PEM certificates of the CA that signed the server's certificate, besides the
    /// system's trusted roots (e.g. Amazon RDS's global bundle); with `sslmode=require`.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// Report what would be imported, writing nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct SetRole {
    #[command(flatten)]
    user: UserArgs,
    /// The new role.
    #[arg(long)]
    role: String,
}

#[derive(Args)]
struct SetBudget {
    /// The organization's subdomain.
    #[arg(long)]
    tenant: String,
    /// Tokens (prompt + completion) a month.
    #[arg(long, conflicts_with = "unlimited")]
    monthly_tokens: Option<u64>,
    /// US cents a month, of the model calls whose price is known.
    #[arg(long, conflicts_with = "unlimited")]
    monthly_cost_cents: Option<u64>,
    /// Remove the budget: agents answer without limit.
    #[arg(long)]
    unlimited: bool,
}

#[derive(Args)]
struct SetPassword {
    #[command(flatten)]
    user: UserArgs,
}

/// How a command names one user.
#[derive(Args)]
struct UserArgs {
    /// The user's id.
    #[arg(long, conflicts_with_all = ["tenant", "email"], required_unless_present = "email")]
    user_id: Option<uuid::Uuid>,
    /// The user's organization (subdomain), with --email.
    #[arg(long, requires = "email")]
    tenant: Option<String>,
    /// The user's e-mail, with --tenant.
    #[arg(long, requires = "tenant")]
    email: Option<String>,
}

impl UserArgs {
    fn target(self) -> anyhow::Result<UserRef> {
        Ok(match (self.user_id, self.tenant, self.email) {
            (Some(id), _, _) => UserRef::Id(id),
            (None, Some(tenant), Some(email)) => UserRef::Email {
                subdomain: Subdomain::parse(&tenant).map_err(anyhow::Error::msg)?,
                email: EmailAddress::parse(&email).map_err(anyhow::Error::msg)?,
            },
            _ => bail!("name the user with --user-id, or with --tenant and --email"),
        })
    }
}

fn user_line(user: &thanotopolis_tenant_auth::UserRecord) -> serde_json::Value {
    serde_json::json!({ "id": user.id, "email": user.email, "tenant_id": user.tenant_id, "role": user.role })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::SetBudget(args) => {
            let subdomain = Subdomain::parse(&args.tenant).map_err(anyhow::Error::msg)?;
            let budget = match (args.monthly_tokens, args.monthly_cost_cents, args.unlimited) {
                (None, None, false) => {
                    bail!("give --monthly-tokens and/or --monthly-cost-cents, or --unlimited")
                }
                (_, _, true) => None,
                (monthly_tokens, monthly_cost_cents, false) => Some(AiBudget {
                    monthly_tokens,
                    monthly_cost_cents,
                }),
            };
            for limit in budget
                .iter()
                .flat_map(|b| [b.monthly_tokens, b.monthly_cost_cents])
            {
                if limit.is_some_and(|l| l > AiBudget::MAX) {
                    bail!("a limit is at most {}; --unlimited for none", AiBudget::MAX);
                }
            }
            let stores = open(&cli.store).await?;
            let store = stores.main.as_ref();
            let Some((scope, _)) = tenants::by_subdomain(store, &subdomain).await? else {
                bail!("no organization {:?}", args.tenant);
            };
            let Some(tenant) = tenants::set_ai_budget(store, None, &scope, budget).await? else {
                bail!("no organization {:?}", args.tenant);
            };
            println!(
                "{}",
                serde_json::json!({ "tenant_id": tenant.id, "subdomain": tenant.subdomain, "ai_budget": tenant.ai_budget })
            );
        }
        Command::ImportPostgres(args) => {
            let (client, connection) =
                thanotopolis_admin::import_postgres::connect(&args.url, args.ca_file.as_deref())
                    .await?;
            let stores = open(&cli.store).await?;
            let report = thanotopolis_admin::import_postgres::run(
                &client,
                stores.main.as_ref(),
                args.dry_run,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .await?;
            drop(client);
            let _ = connection.await;
            print!("{}", report.summary());
        }
        Command::ExportOrganization(args) => {
            let subdomain = Subdomain::parse(&args.tenant).map_err(anyhow::Error::msg)?;
            let stores = open(&cli.store).await?;
            let Some(counts) = thanotopolis_admin::archive::export(
                stores.main.as_ref(),
                &subdomain,
                &args.out,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .await?
            else {
                bail!("no organization {:?}", args.tenant);
            };
            print!("exported to {}\n{}", args.out.display(), counts.summary());
        }
        Command::ImportOrganization(args) => {
            let stores = open(&cli.store).await?;
            let report = thanotopolis_admin::archive::import(
                stores.main.as_ref(),
                &args.input,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .await?;
            print!("{}", report.summary());
        }
        Command::DeleteOrganization(args) => {
            let subdomain = Subdomain::parse(&args.tenant).map_err(anyhow::Error::msg)?;
            if !args.yes {
                confirm(&args.tenant)?;
            }
            let stores = open(&cli.store).await?;
            // The tool issues and verifies no tokens: the state only carries the stores and
            // the socket closer.
            let auth = AuthSettings::with_secret(
                format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).into_bytes(),
            )
            .map_err(anyhow::Error::msg)?;
            let mut app = AppState::new(stores, auth);
            match thanotopolis_sockets::closer_from_env().map_err(anyhow::Error::msg)? {
                Some(closer) => app.sockets = Some(closer),
                None => eprintln!(
                    "WEBSOCKET_MANAGEMENT_ENDPOINT is not set: live sockets of the organization \
                     lose their rows (so every frame on them is refused) but stay open until \
                     they close"
                ),
            }
            if args.drain > 0 {
                eprintln!(
                    "deactivating {}; deleting {} s later, once requests already running have ended",
                    args.tenant, args.drain
                );
            }
            let drain = std::time::Duration::from_secs(args.drain);
            let Some(erased) = thanotopolis_admin::erase::run(&app, &subdomain, drain).await?
            else {
                bail!("no organization {:?}", args.tenant);
            };
            print!("{}", erased.summary());
        }
        Command::SetRole(args) => {
            let Some(role) = Role::parse(&args.role) else {
                bail!(
                    "unknown role {:?}: use user, org_admin, admin or super_admin",
                    args.role
                );
            };
            let target = args.user.target()?;
            let stores = open(&cli.store).await?;
            let user = operator::set_role(stores.main.as_ref(), &target, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", user_line(&user));
        }
        Command::SetPassword(args) => {
            let target = args.user.target()?;
            // From stdin, never an argument: arguments show in `ps` and shell history.
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = Password::parse(line.trim_end_matches(['\r', '\n']))
                .map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let stores = open(&cli.store).await?;
            let user = operator::set_password(stores.main.as_ref(), &target, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", user_line(&user));
        }
    }
    Ok(())
}

async fn open(store: &StoreArgs) -> anyhow::Result<Stores> {
    Stores::open(&store.settings())
        .await
        .context("cannot open the store")
}

/// Asks for the subdomain again before an erasure (which cannot be undone).
fn confirm(subdomain: &str) -> anyhow::Result<()> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!(
            "delete-organization erases for good: pass --yes, or run it in a terminal to confirm"
        );
    }
    eprint!("This erases the organization {subdomain:?} and all its data for good. Type its subdomain to go on: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != subdomain {
        bail!("not confirmed; nothing was erased");
    }
    Ok(())
}
