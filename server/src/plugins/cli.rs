//! `tessera plugin package` and `tessera plugin publish`: what a plugin author runs.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use sha2::Digest;

use super::manifest::Manifest;
use super::{Limits, host};

#[derive(Subcommand)]
pub enum PluginTask {
    /// Build a plugin crate for wasm32-wasip2 (release) and check it as the server will at
    /// publish: the manifest, the component's world, its size. Prints the files to publish.
    Package {
        /// The plugin's folder (holding Cargo.toml and tessera-plugin.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Check this component instead of building one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Publish a manifest and its component to a running server (platform admins).
    Publish {
        /// The server, e.g. http://localhost:8080.
        #[arg(long, env = "TESSERA_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A platform admin's session token (from POST /api/v1/auth/login).
        #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true)]
        token: String,
        /// tessera-plugin.toml
        manifest: PathBuf,
        /// The .wasm component.
        component: PathBuf,
    },
}

pub async fn run(task: PluginTask) -> anyhow::Result<()> {
    match task {
        PluginTask::Package { dir, component } => {
            let manifest_path = dir.join("tessera-plugin.toml");
            let text = std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("reading {}", manifest_path.display()))?;
            let manifest = parse(&text)?;
            let component = match component {
                Some(c) => c,
                None => build(&dir)?,
            };
            let bytes = std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
            let host = host::Host::new(Limits { concurrent_calls: 1, ..Default::default() })?;
            let kind = manifest.kind;
            let checked = tokio::task::spawn_blocking(move || host.check(kind, &bytes).map(|_| bytes)).await?;
            let bytes = checked.map_err(|e| anyhow::anyhow!("{}", e))?;
            println!("{} {} ({}) is ready to publish", manifest.id, manifest.version, manifest.kind);
            println!("  manifest:  {}", manifest_path.display());
            println!("  component: {} ({} bytes, sha256 {})", component.display(), bytes.len(), sha256(&bytes));
            println!(
                "publish with: tessera plugin publish --server <url> --token <token> {} {}",
                manifest_path.display(),
                component.display()
            );
            Ok(())
        }
        PluginTask::Publish { server, token, manifest, component } => {
            let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            parse(&text)?;
            let bytes = std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
            let (content_type, body) = publish_body(&text, &bytes);
            let url = format!("{}/api/v1/plugins", server.trim_end_matches('/'));
            let response = reqwest::Client::new()
                .post(&url)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("the server answered {status}: {text}");
            }
            println!("{text}");
            Ok(())
        }
    }
}

/// The body of `POST /api/v1/plugins`: multipart/form-data with the parts `manifest` and
/// `component`. Returns the content type (with its boundary) and the body.
pub fn publish_body(manifest: &str, component: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("tessera-{}", &sha256(component)[..24]);
    let mut body = Vec::with_capacity(component.len() + manifest.len() + 512);
    for (name, file, content_type, data) in [
        ("manifest", "tessera-plugin.toml", "application/toml", manifest.as_bytes()),
        ("component", "plugin.wasm", "application/wasm", component),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn parse(text: &str) -> anyhow::Result<Manifest> {
    Manifest::parse(text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        anyhow::anyhow!("the manifest is not valid:\n  {}", lines.join("\n  "))
    })
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `cargo build --release --target wasm32-wasip2` in `dir`; returns the component's path.
fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let meta = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .context("running cargo metadata")?;
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).context("reading cargo metadata")?;
    let target = meta["target_directory"].as_str().context("cargo metadata has no target_directory")?;
    let manifest_path = std::fs::canonicalize(dir.join("Cargo.toml"))?;
    let name = meta["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["manifest_path"].as_str().map(PathBuf::from).as_deref() == Some(manifest_path.as_path()))
        })
        .and_then(|p| p["name"].as_str())
        .context("no package in this folder")?;
    let file = PathBuf::from(target).join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    if !file.exists() {
        bail!("cargo built no component at {}", file.display());
    }
    Ok(file)
}
