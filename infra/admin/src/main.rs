//! `thanotopolis-admin`: the operator's tool. It reads the same store configuration as
//! `thanotopolis-local` and the functions, and is safe to run while the local gateway runs
//! (the embedded store is shared through SQLite's locking).
//!
//! ```text
//! thanotopolis-admin set-role --user-id 3f0c… --role super_admin
//! thanotopolis-admin set-role --tenant acme --email ada@acme.org --role admin
//! thanotopolis-admin import-postgres --url postgres://old@db.internal/thanotopolis --dry-run
//! ```

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use thanotopolis_service::config::StoreArgs;
use thanotopolis_service::Stores;
use thanotopolis_tenant_auth::operator::{self, UserRef};
use thanotopolis_tenant_auth::validate::{EmailAddress, Subdomain};
use thanotopolis_tenant_auth::Role;

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
    /// Import the old backend's PostgreSQL database: organizations, users (their bcrypt
    /// passwords work, and become argon2id at first login), conversations with members,
    /// agents and participants, messages. A second run imports nothing twice.
    ImportPostgres(ImportPostgres),
}

#[derive(Args)]
struct ImportPostgres {
    /// The old database, e.g. postgres://user:password@host:5432/dbname (no TLS).
    #[arg(long, env = "THANOTOPOLIS_IMPORT_POSTGRES_URL")]
    url: String,
    /// Report what would be imported, writing nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct SetRole {
    /// The user's id.
    #[arg(long, conflicts_with_all = ["tenant", "email"], required_unless_present = "email")]
    user_id: Option<uuid::Uuid>,
    /// The user's organization (subdomain), with --email.
    #[arg(long, requires = "email")]
    tenant: Option<String>,
    /// The user's e-mail, with --tenant.
    #[arg(long, requires = "tenant")]
    email: Option<String>,
    /// The new role.
    #[arg(long)]
    role: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::ImportPostgres(args) => {
            let (client, connection) = tokio_postgres::connect(&args.url, tokio_postgres::NoTls)
                .await
                .context("cannot connect to the PostgreSQL database")?;
            let connection = tokio::spawn(connection);
            let stores = Stores::open(&cli.store.settings())
                .await
                .context("cannot open the store")?;
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
        Command::SetRole(args) => {
            let Some(role) = Role::parse(&args.role) else {
                bail!(
                    "unknown role {:?}: use user, org_admin, admin or super_admin",
                    args.role
                );
            };
            let target = match (args.user_id, args.tenant, args.email) {
                (Some(id), _, _) => UserRef::Id(id),
                (None, Some(tenant), Some(email)) => UserRef::Email {
                    subdomain: Subdomain::parse(&tenant).map_err(anyhow::Error::msg)?,
                    email: EmailAddress::parse(&email).map_err(anyhow::Error::msg)?,
                },
                _ => bail!("name the user with --user-id, or with --tenant and --email"),
            };
            let stores = Stores::open(&cli.store.settings())
                .await
                .context("cannot open the store")?;
            let user = operator::set_role(stores.main.as_ref(), &target, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({ "id": user.id, "email": user.email, "tenant_id": user.tenant_id, "role": user.role })
            );
        }
    }
    Ok(())
}
