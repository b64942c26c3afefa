//! Command-line arguments of the operator commands (`obctl apps`, `obctl keys`).

use clap::{Args, Subcommand, ValueEnum};

use crate::args::AwsArgs;

/// The stage to administer and where its AWS account is.
#[derive(Debug, Clone, Args)]
pub struct AdminTarget {
    /// Stage (a file in stacks/; deploy it first)
    #[arg(long, env = "OBCTL_STAGE")]
    pub stage: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AppsArgs {
    #[command(subcommand)]
    pub command: AppsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register a new app
    Create(AppCreateArgs),
    /// List every app of the stage
    List {
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Show one app
    Get {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        id: String,
    },
    /// Change an app's name, origins, domains, contact or state
    Update(AppUpdateArgs),
    /// Delete an app and everything it stores (refused while it has data, unless --force)
    Delete(AppDeleteArgs),
}

#[derive(Debug, Args)]
pub struct AppCreateArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// Display name
    #[arg(long)]
    pub name: String,
    /// App id (default: derived from the name)
    #[arg(long)]
    pub id: Option<String>,
    /// Browser origin allowed to call the API (repeatable)
    #[arg(long = "origin", value_name = "URL")]
    pub origins: Vec<String>,
    /// Contact e-mail of the app's owner
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
    /// Domain the app is served on, e.g. shop.example.com (repeatable; no scheme, port or path)
    #[arg(long = "domain", value_name = "D")]
    pub domains: Vec<String>,
    /// Succeed without changes when the app id already exists (prints the existing app)
    #[arg(long)]
    pub if_not_exists: bool,
}

#[derive(Debug, Args)]
pub struct AppUpdateArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    pub id: String,
    /// New display name
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the origins by these (repeatable)
    #[arg(long = "origin", value_name = "URL", conflicts_with = "clear_origins")]
    pub origins: Vec<String>,
    /// Remove every origin
    #[arg(long)]
    pub clear_origins: bool,
    /// Add a domain (repeatable)
    #[arg(long = "add-domain", value_name = "D")]
    pub add_domains: Vec<String>,
    /// Remove a domain (repeatable; one the app does not have is ignored)
    #[arg(long = "remove-domain", value_name = "D")]
    pub remove_domains: Vec<String>,
    /// Remove every domain (before any --add-domain)
    #[arg(long)]
    pub clear_domains: bool,
    /// New contact e-mail ("" removes it)
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
    /// Activate or suspend the app
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
}

#[derive(Debug, Args)]
pub struct AppDeleteArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    pub id: String,
    /// Delete even though the app still has users, keys, config, records or files
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation (needed without a terminal)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Active,
    Suspended,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a new API key (printed once)
    Create(KeyCreateArgs),
    /// List an app's keys (never the keys themselves)
    List {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
    },
    /// Revoke a key at once
    Revoke {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
        /// Key id (from `obctl keys list`)
        key_id: String,
    },
    /// Issue a replacement key; the old one stops working after the grace period
    Rotate {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
        /// Key id (from `obctl keys list`)
        key_id: String,
        /// How long the old key keeps working (e.g. 24h; default: stops at once)
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
        /// Print only the new key on standard output
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    #[arg(long)]
    pub app: String,
    /// A name to recognise the key by
    #[arg(long)]
    pub name: String,
    /// Scopes: auth, data:read, data:write, files:read, files:write, realtime,
    /// config:read, config:write, or `*` for all (default: all but config:write)
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub scopes: Vec<String>,
    /// Expiry: a duration from now (90d, 24h) or a date (2027-01-01)
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Print only the key on standard output
    #[arg(short, long)]
    pub quiet: bool,
    /// First revoke the app's active keys with the same --name (e.g. for `make dev`)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// The app and the user (id or e-mail) a user command acts on.
#[derive(Debug, Args)]
pub struct UserRef {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    #[arg(long)]
    pub app: String,
    /// User id or e-mail
    pub user: String,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List an app's users
    List {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
        /// Only the user with this e-mail
        #[arg(long)]
        email: Option<String>,
    },
    /// Make a user an admin of the app, or a plain user again
    SetRole {
        #[command(flatten)]
        user: UserRef,
        /// The role
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Stop a user logging in and end their sessions
    Disable {
        #[command(flatten)]
        user: UserRef,
    },
    /// Let a disabled user log in again
    Enable {
        #[command(flatten)]
        user: UserRef,
    },
    /// End every session of a user (they must log in again)
    RevokeSessions {
        #[command(flatten)]
        user: UserRef,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    User,
    Admin,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The app whose config a command reads or writes.
#[derive(Debug, Args)]
pub struct ConfigApp {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    #[arg(long)]
    pub app: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the config, or one key (e.g. featureFlags.search, uploads.maxBytes, settings.theme)
    Get {
        #[command(flatten)]
        app: ConfigApp,
        /// A system key or KEY.NAME inside it, or settings.PATH (dots descend)
        key: Option<String>,
    },
    /// Set keys: KEY=VALUE, VALUE is JSON where it parses (declare indexed
    /// fields with indexedFields.RESOURCE='["field"]'; the app's own values
    /// go under settings, e.g. settings.theme=dark)
    Set {
        #[command(flatten)]
        app: ConfigApp,
        /// KEY=VALUE pairs
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove keys (top-level fields return to their defaults)
    Unset {
        #[command(flatten)]
        app: ConfigApp,
        /// Keys to remove
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Replace the whole config by a YAML or JSON file
    Import {
        #[command(flatten)]
        app: ConfigApp,
        /// FILE.yaml, FILE.yml or FILE.json
        file: std::path::PathBuf,
    },
    /// Print the config as a file `config import` takes back
    Export {
        #[command(flatten)]
        app: ConfigApp,
        /// File format
        #[arg(long, value_enum, default_value_t = crate::args::TemplateFormat::Yaml)]
        format: crate::args::TemplateFormat,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    #[arg(long)]
    pub app: String,
    /// Only entries since a duration ago (1h, 7d) or a date (2027-01-01)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only entries whose actor contains this (e.g. operator:, user:ID, an ARN)
    #[arg(long)]
    pub actor: Option<String>,
    /// Only entries whose action starts with this (e.g. apikey., config.update)
    #[arg(long)]
    pub action: Option<String>,
    /// At most this many entries
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Then keep printing new entries as they come, oldest first (Ctrl-C stops)
    #[arg(long, short)]
    pub follow: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::args::{Cli, Command};

    #[test]
    fn definitions_are_consistent_and_parse() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "obctl",
            "keys",
            "create",
            "--stage",
            "local",
            "--app",
            "shop",
            "--name",
            "ci",
            "--scopes",
            "auth,config:read",
            "--expires",
            "90d",
            "-q",
        ]);
        assert!(matches!(cli.map(|c| c.command), Ok(Command::Keys(_))));
        let missing_stage = Cli::try_parse_from(["obctl", "apps", "list"]);
        assert!(missing_stage.is_err() || std::env::var_os("OBCTL_STAGE").is_some());
    }
}
