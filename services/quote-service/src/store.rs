//! The policy in force, and reloading it from its file without a restart.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use crate::policy::{Override, Policy, PolicyError};

/// Where the policy comes from: a file (or the built-in policy) plus environment overrides.
#[derive(Clone, Debug, Default)]
pub struct PolicySource {
    /// The policy file; `None` for the built-in policy.
    pub path: Option<PathBuf>,
    /// Overrides applied on every load.
    pub overrides: Vec<Override>,
}

impl PolicySource {
    fn read(&self) -> Result<(Policy, Option<Vec<u8>>), PolicyError> {
        match &self.path {
            None => Ok((Policy::builtin(&self.overrides)?, None)),
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| PolicyError::Read(format!("{}: {e}", path.display())))?;
                let text = String::from_utf8(bytes.clone())
                    .map_err(|_| PolicyError::Toml(format!("{} is not UTF-8", path.display())))?;
                Ok((Policy::from_toml(&text, &self.overrides)?, Some(bytes)))
            }
        }
    }
}

/// A policy as loaded, with where and when it came from.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadedPolicy {
    /// Increases by one on every successful reload.
    pub version: u64,
    /// When it was loaded (seconds since the Unix epoch).
    pub loaded_at: u64,
    /// The file it came from, or `built-in`.
    pub source: String,
    /// Environment overrides applied (`fee.max_bps`, …).
    pub overrides: Vec<String>,
    /// The policy.
    pub policy: Policy,
}

/// The policy in force, shared by the request handlers and the reloader.
#[derive(Debug)]
pub struct PolicyStore {
    source: PolicySource,
    current: RwLock<Arc<LoadedPolicy>>,
    /// The file content last tried (good or bad), so a bad file is reported once, not every poll.
    last_seen: Mutex<Option<Vec<u8>>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl PolicyStore {
    /// Loads the policy; a policy that does not validate stops the service before it starts.
    pub fn load(source: PolicySource) -> Result<Self, PolicyError> {
        let (policy, bytes) = source.read()?;
        let loaded = Self::wrap(&source, policy, 1);
        Ok(Self { source, current: RwLock::new(Arc::new(loaded)), last_seen: Mutex::new(bytes) })
    }

    fn wrap(source: &PolicySource, policy: Policy, version: u64) -> LoadedPolicy {
        LoadedPolicy {
            version,
            loaded_at: now(),
            source: source.path.as_ref().map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
            overrides: source.overrides.iter().map(|o| o.path.join(".")).collect(),
            policy,
        }
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<LoadedPolicy> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the source. On success the new policy is in force; on failure the old one stays.
    pub fn reload(&self) -> Result<Arc<LoadedPolicy>, PolicyError> {
        let read = self.source.read();
        if let Some(bytes) = self.source.path.as_ref().and_then(|p| std::fs::read(p).ok()) {
            *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
        }
        let (policy, _) = read?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let loaded = Arc::new(Self::wrap(&self.source, policy, current.version + 1));
        *current = loaded.clone();
        Ok(loaded)
    }

    /// True when the file's content differs from the content last tried.
    fn file_changed(&self) -> bool {
        let Some(path) = &self.source.path else { return false };
        let Ok(bytes) = std::fs::read(path) else { return false };
        self.last_seen.lock().unwrap_or_else(|e| e.into_inner()).as_deref() != Some(bytes.as_slice())
    }
}

/// What a reload attempt came to, for the metrics.
pub trait ReloadObserver: Send + Sync + 'static {
    /// Called after each attempt.
    fn reloaded(&self, ok: bool);
}

/// Reloads the policy on SIGHUP and whenever its file changes (checked every `poll`), until the
/// task is dropped. A refused file is logged and the policy in force kept.
pub async fn watch(store: Arc<PolicyStore>, poll: Duration, observer: Arc<dyn ReloadObserver>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let trigger = tokio::select! {
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
            _ = ticker.tick() => {
                if !store.file_changed() { continue; }
                "file change"
            }
        };
        match store.reload() {
            Ok(loaded) => {
                tracing::info!(trigger, version = loaded.version, source = %loaded.source, "policy reloaded");
                observer.reloaded(true);
            }
            Err(error) => {
                tracing::error!(trigger, %error, "new policy refused; keeping the policy in force");
                observer.reloaded(false);
            }
        }
    }
}
